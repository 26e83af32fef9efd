"""``/healthz?kafka=`` of ``kafkasse-wsgi serve`` reads its query as every stream parameter is
read (werkzeug's parsing; a repeated parameter: the last counts, and an empty one is none)."""

from __future__ import annotations

import json

import pytest

from kafkasse_wsgi._serve.server import StreamServer


class Brokers:
    """Stands in for the Kafka health check: counts the times it is asked."""

    def __init__(self) -> None:
        self.asked = 0

    def unavailable(self) -> str | None:
        self.asked += 1
        return None


def health(query: str) -> tuple[dict, int]:
    server = StreamServer()
    brokers = Brokers()
    server.__dict__["_kafka_health"] = brokers  # the cached_property, without a broker
    environ = {"PATH_INFO": "/healthz", "REQUEST_METHOD": "GET", "QUERY_STRING": query}
    body = server(environ, lambda status, headers: None)
    return json.loads(b"".join(body)), brokers.asked


@pytest.mark.parametrize(
    ("query", "asks_kafka"),
    [
        ("", False),
        ("kafka=1", True),
        ("kafka=yes", True),
        ("k%61fka=true", True),  # an encoded name is the same name
        ("kafka=0", False),
        ("kafka=", False),
        ("kafka=0&kafka=1", True),  # the last one counts
        ("kafka=1&kafka=0", False),
        ("kafka=1&kafka=", False),  # an empty last one is none, as for ?since=
    ],
)
def test_healthz_asks_kafka_as_its_last_kafka_parameter_says(query, asks_kafka):
    answer, asked = health(query)
    assert answer["status"] == "ok"
    assert asked == int(asks_kafka)
    assert ("kafka" in answer) is asks_kafka
