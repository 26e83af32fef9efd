"""The resume and access contract over real HTTP (a gevent server, the real broker, default
options): the application's topics are the authority a ``Last-Event-ID`` works within, a
repeated ``since`` has one meaning, methods other than GET and HEAD get a proper 405, and
browsers on other origins get CORS answers."""

from __future__ import annotations

import json
import time

import pytest
import requests

from tests.support.clients import SSEReader, payloads_of

ORIGIN = "https://app.example"
OTHER_ORIGIN = "https://elsewhere.example"


def resume_point(*entries: tuple[str, int, int]) -> str:
    return json.dumps([{"topic": t, "partition": p, "offset": o} for t, p, o in entries])


def header_words(value: str | None) -> set[str]:
    return {word.strip().lower() for word in (value or "").split(",") if word.strip()}


# --- Last-Event-ID positions only what the application asked for -----------------------------


@pytest.mark.parametrize("mode", ["app", "function"])
def test_last_event_id_naming_another_topic_is_400_and_streams_nothing(
    serve, kafka, make_topic, mode
):
    """Regression: ``Last-Event-ID`` replaced the application's topics, so a stream of
    ``public`` streamed ``secret`` to anyone who named it in the header (the default
    allow-list admits every non-internal topic)."""
    public, secret = make_topic(), make_topic()
    kafka.produce(secret, [{"secret": True}])
    if mode == "app":
        server, url = serve(), None
        url = f"{server.url}/{public}"
    else:
        server = serve(mode="function", assignments=[public])
        url = f"{server.url}/"
    with requests.get(
        url, headers={"Last-Event-ID": resume_point((secret, 0, 0))}, stream=True, timeout=10
    ) as response:
        assert response.status_code == 400, f"{response.status_code}: streamed {secret}"
        assert response.headers["Content-Type"] == "application/json; charset=utf-8"
        body = response.json()
    assert body["name"] == "InvalidAssignmentError"
    assert secret in body["message"]


def test_last_event_id_naming_a_partition_outside_explicit_assignments_is_400(
    serve, kafka, make_topic
):
    """With partition assignments from the application, another partition of the same topic
    is outside the request too."""
    topic = make_topic(partitions=2)
    kafka.produce(topic, [{"n": 1}], partition=1)
    server = serve(mode="function", assignments=[{"topic": topic, "partition": 0}])
    with requests.get(
        f"{server.url}/",
        headers={"Last-Event-ID": resume_point((topic, 1, 0))},
        stream=True,
        timeout=10,
    ) as response:
        assert response.status_code == 400, response.status_code
        assert response.json()["name"] == "InvalidAssignmentError"


def test_partitions_the_last_event_id_does_not_name_start_as_without_it(serve, kafka, make_topic):
    """The id positions the partitions it names; every other requested partition starts
    where a request without an id would (here: the end, "latest")."""
    named, unnamed = make_topic(), make_topic()
    kafka.produce(named, [{"n": 0}, {"n": 1}])
    kafka.produce(unnamed, [{"n": "old"}])
    server = serve()
    with SSEReader(
        f"{server.url}/{named},{unnamed}",
        headers={"Last-Event-ID": resume_point((named, 0, 1))},
    ) as reader:
        assert reader.status == 200  # headers sent: every start position is fixed
        kafka.produce(unnamed, [{"n": "new"}])
        events = reader.read(2)
    got = {(e["_kafka"]["topic"], e["n"]) for e in payloads_of(events)}
    assert got == {(named, 1), (unnamed, "new")}


def test_empty_path_with_last_event_id_is_400_naming_the_path(serve, kafka, make_topic):
    """With :class:`KafkaSSE` the path names the topics; an id alone names none."""
    topic = make_topic()
    kafka.produce(topic, [{"n": 0}])
    server = serve()
    with requests.get(
        f"{server.url}/",
        headers={"Last-Event-ID": resume_point((topic, 0, 0))},
        stream=True,
        timeout=10,
    ) as response:
        assert response.status_code == 400, response.status_code
        body = response.json()
    assert body["name"] == "InvalidAssignmentError"
    assert "path" in body["message"]


def test_repeated_since_the_last_one_counts(serve, kafka, make_topic):
    topic = make_topic()
    now = int(time.time() * 1000)
    kafka.produce(topic, [{"n": 0}], timestamp_ms=now - 120_000)
    kafka.produce(topic, [{"n": 1}], timestamp_ms=now - 30_000)
    server = serve()
    with SSEReader(f"{server.url}/{topic}?since={now - 60_000}&since={now - 180_000}") as reader:
        events = reader.read(1)
    assert [e["n"] for e in payloads_of(events)] == [0]


@pytest.mark.parametrize("mode", ["app", "function"])
def test_since_in_the_url_starts_every_entry_point_at_that_time(serve, kafka, make_topic, mode):
    """Regression: ``kafka_sse()`` ignored ``?since=`` (only the framework helpers read it)
    while it honoured ``?filter=`` and ``?until=`` from the same URL. Every entry point now
    reads the same query parameters; an explicit ``at_timestamp`` wins over ``?since=``."""
    topic = make_topic()
    now = int(time.time() * 1000)
    kafka.produce(topic, [{"n": 0}], timestamp_ms=now - 120_000)
    kafka.produce(topic, [{"n": 1}], timestamp_ms=now - 30_000)
    if mode == "app":
        server, path = serve(), f"/{topic}"
    else:
        server, path = serve(mode="function", assignments=[topic]), "/"
    with SSEReader(f"{server.url}{path}?since={now - 60_000}") as reader:
        events = reader.read(1)
    assert [e["n"] for e in payloads_of(events)] == [1]


def test_at_timestamp_given_by_the_application_wins_over_since(serve, kafka, make_topic):
    topic = make_topic()
    now = int(time.time() * 1000)
    kafka.produce(topic, [{"n": 0}], timestamp_ms=now - 120_000)
    kafka.produce(topic, [{"n": 1}], timestamp_ms=now - 30_000)
    server = serve(mode="function", assignments=[topic], at_timestamp=now - 180_000)
    with SSEReader(f"{server.url}/?since={now - 60_000}") as reader:
        events = reader.read(1)
    assert [e["n"] for e in payloads_of(events)] == [0]


# --- HTTP methods --------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
def test_other_methods_get_405_with_allow_and_a_method_error(serve, make_topic, method):
    topic = make_topic()
    server = serve()
    response = requests.request(method, f"{server.url}/{topic}", timeout=10)
    assert response.status_code == 405
    assert {"get", "head"} <= header_words(response.headers.get("Allow"))
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    assert response.json()["name"] == "MethodNotAllowedError"


# --- CORS ----------------------------------------------------------------------------------


def test_cors_preflight_is_answered_for_a_listed_origin(serve, make_topic):
    topic = make_topic()
    server = serve({"cors_origins": [ORIGIN]})
    response = requests.options(
        f"{server.url}/{topic}",
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "last-event-id",
        },
        timeout=10,
    )
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert response.headers["Access-Control-Allow-Credentials"] == "true"
    assert {"get", "head"} <= header_words(response.headers["Access-Control-Allow-Methods"])
    assert "last-event-id" in header_words(response.headers["Access-Control-Allow-Headers"])
    assert "origin" in header_words(response.headers.get("Vary"))


def test_cors_headers_on_streams_and_on_errors_for_a_listed_origin(serve, make_topic):
    topic = make_topic()
    server = serve({"cors_origins": [ORIGIN]})
    with SSEReader(f"{server.url}/{topic}", headers={"Origin": ORIGIN}) as reader:
        assert reader.status == 200
        headers = reader.response.headers
    assert headers["Access-Control-Allow-Origin"] == ORIGIN
    assert headers["Access-Control-Allow-Credentials"] == "true"
    assert header_words(headers["Vary"]) >= {"accept", "origin"}
    assert "x-request-id" in header_words(headers["Access-Control-Expose-Headers"])
    refused = requests.get(f"{server.url}/{topic}-missing", headers={"Origin": ORIGIN}, timeout=10)
    assert refused.status_code == 404
    assert refused.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert header_words(refused.headers["Vary"]) >= {"accept", "origin"}


def test_cors_says_nothing_to_an_origin_not_listed(serve, make_topic):
    topic = make_topic()
    server = serve({"cors_origins": [ORIGIN]})
    preflight = requests.options(
        f"{server.url}/{topic}",
        headers={"Origin": OTHER_ORIGIN, "Access-Control-Request-Method": "GET"},
        timeout=10,
    )
    assert "Access-Control-Allow-Origin" not in preflight.headers
    with SSEReader(f"{server.url}/{topic}", headers={"Origin": OTHER_ORIGIN}) as reader:
        assert reader.status == 200
        assert "Access-Control-Allow-Origin" not in reader.response.headers
        assert "Access-Control-Allow-Credentials" not in reader.response.headers


def test_cors_any_origin_allows_every_origin_without_credentials(serve, make_topic):
    topic = make_topic()
    server = serve({"cors_origins": "*"})
    with SSEReader(f"{server.url}/{topic}", headers={"Origin": OTHER_ORIGIN}) as reader:
        assert reader.status == 200
        headers = reader.response.headers
    assert headers["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Allow-Credentials" not in headers


def test_kafka_sse_answers_a_preflight_instead_of_streaming(serve, make_topic):
    topic = make_topic()
    server = serve(mode="function", assignments=[topic], options={"cors_origins": [ORIGIN]})
    response = requests.options(
        f"{server.url}/",
        headers={"Origin": ORIGIN, "Access-Control-Request-Method": "GET"},
        timeout=10,
    )
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "last-event-id" in header_words(response.headers["Access-Control-Allow-Headers"])
