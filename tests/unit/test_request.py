"""_request.py: one environ → one StreamRequest, and a Last-Event-ID within what was asked."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from werkzeug.test import create_environ

from kafkasse_wsgi._assignments import Assignment
from kafkasse_wsgi._request import FROM_FIRST_RECORD, parse_request, resume_within, spell_out
from kafkasse_wsgi.errors import InvalidAssignmentError


def environ(path: str = "/a,b", query: str = "", **headers: str) -> dict[str, Any]:
    env = create_environ(path, "http://localhost/", query_string=query)
    env["REMOTE_ADDR"] = "10.0.0.9"
    for name, value in headers.items():
        env["HTTP_" + name.upper()] = value
    return env


def test_the_facts_of_a_plain_request() -> None:
    request = parse_request(environ(x_request_id="req-1"))
    assert request.method == "GET"
    assert request.path_topics == "a,b"
    assert request.since is None
    assert request.last_event_id is None
    assert request.wants_json is False
    assert request.request_id == "req-1"
    assert request.origin is None
    assert request.client_address == "10.0.0.9"


@pytest.mark.parametrize(
    ("query", "since"),
    [
        ("since=5", "5"),
        ("since=5&since=7", "7"),  # repeated: the last one counts
        ("since=5&since=", None),  # ... and an empty last one means none
        ("since=", None),
        ("x=1", None),
        ("since=2026-01-01T00%3A00%3A00%2B01%3A00", "2026-01-01T00:00:00+01:00"),
        ("since=%FF", "%FF"),  # not UTF-8: kept as sent, refused later as a bad time
    ],
)
def test_since_is_the_last_value_of_the_query(query: str, since: str | None) -> None:
    assert parse_request(environ(query=query)).since == since


@pytest.mark.parametrize(
    ("accept", "wants_json"),
    [
        ("", False),
        ("text/event-stream", False),
        ("application/json", True),
        ("APPLICATION/JSON", True),
        ("application/json;q=0.9", True),
        ("application/json, text/event-stream", False),  # a tie: SSE
        ("text/event-stream;q=0.5, application/json", True),  # preferred by quality
        ("application/json, text/event-stream;q=0", True),  # SSE refused
        ("*/*", False),
        ("text/html", False),
        ("application/jsonx", False),
        ("application/json\r\n", True),
    ],
)
def test_accept_is_negotiated_with_quality_values(accept: str, wants_json: bool) -> None:
    assert parse_request(environ(accept=accept)).wants_json is wants_json


@pytest.mark.parametrize("given", ["abc\n", "a" * 129, "a b", "", "\u00e9"])
def test_an_insane_request_id_is_replaced_by_a_uuid(given: str) -> None:
    request_id = parse_request(environ(x_request_id=given)).request_id
    assert str(uuid.UUID(request_id)) == request_id


@pytest.mark.parametrize(
    ("forwarded", "trusted", "client"),
    [
        ("1.1.1.1, 2.2.2.2", 0, "10.0.0.9"),  # not trusted: the connection's address
        ("1.1.1.1, 2.2.2.2", 1, "2.2.2.2"),  # what our one proxy saw
        ("6.6.6.6, 1.1.1.1, 2.2.2.2", 2, "1.1.1.1"),  # the spoofed left entry is ignored
        ("2.2.2.2", 2, "10.0.0.9"),  # fewer entries than proxies: not trustworthy
        ("", 1, "10.0.0.9"),
    ],
)
def test_client_address_follows_the_proxyfix_rule(forwarded: str, trusted: int, client: str):
    request = parse_request(environ(x_forwarded_for=forwarded), trusted_proxies=trusted)
    assert request.client_address == client


def test_last_event_id_origin_and_method_are_read_as_sent() -> None:
    env = environ(last_event_id='[{"topic": "a"}]', origin="https://app.example")
    env["REQUEST_METHOD"] = "get"
    request = parse_request(env)
    assert request.last_event_id == '[{"topic": "a"}]'
    assert request.origin == "https://app.example"
    assert request.method == "get"  # methods are case-sensitive: not GET
    assert parse_request(environ(last_event_id="")).last_event_id is None


# --- resume_within: the application's assignments are the authority ---------------------------


def test_the_id_positions_the_partitions_it_names_and_no_others() -> None:
    requested = [Assignment("a"), Assignment("b")]
    resumed = [Assignment("a", 1, offset=7)]
    assert resume_within(requested, resumed) == [
        Assignment("a", 1, offset=7),
        Assignment("a"),  # a's other partitions: as without an id
        Assignment("b"),
    ]


@pytest.mark.parametrize(
    "resumed",
    [
        [Assignment("secret", 0, offset=0)],
        [Assignment("a", 0, offset=0), Assignment("secret", 0, offset=0)],
        [Assignment("secret")],
    ],
)
def test_an_id_naming_another_topic_is_refused(resumed: list[Assignment]) -> None:
    with pytest.raises(InvalidAssignmentError, match="secret"):
        resume_within([Assignment("a")], resumed)


def test_with_partition_assignments_another_partition_is_outside() -> None:
    requested = [Assignment("a", 0, timestamp=5), Assignment("a", 1)]
    with pytest.raises(InvalidAssignmentError, match="a partition 2"):
        resume_within(requested, [Assignment("a", 2, offset=0)])
    assert resume_within(requested, [Assignment("a", 1, offset=3)]) == [
        Assignment("a", 0, timestamp=5),  # not named: keeps its own start
        Assignment("a", 1, offset=3),
    ]


def test_a_topic_name_alone_positions_nothing() -> None:
    assert resume_within([Assignment("a")], [Assignment("a")]) == [Assignment("a")]


def test_spell_out_replaces_a_whole_topic_beside_its_partitions_by_the_others() -> None:
    asked: list[str] = []

    def partitions_of(topic: str) -> list[int]:
        asked.append(topic)
        return [2, 0, 1]

    wanted = [Assignment("a", 1, offset=7), Assignment("a"), Assignment("b")]
    assert spell_out(wanted, partitions_of) == [
        Assignment("a", 1, offset=7),
        Assignment("a", 0, timestamp=FROM_FIRST_RECORD),  # added since the id was sent
        Assignment("a", 2, timestamp=FROM_FIRST_RECORD),
        Assignment("b"),
    ]
    assert asked == ["a"]  # Kafka is asked only about topics that need it


@pytest.mark.parametrize(
    ("peer", "forwarded", "client"),
    [
        ("10.0.0.9", "1.1.1.1, 2.2.2.2", "2.2.2.2"),  # the peer is a trusted proxy
        ("10.0.0.9", "1.1.1.1, 10.0.0.5", "1.1.1.1"),  # so is the next hop: skipped
        ("1.2.3.4", "1.1.1.1", "1.2.3.4"),  # the peer is no proxy of ours: its own address
        ("10.0.0.9", "", "10.0.0.9"),  # a trusted proxy that forwarded nothing
        ("::1", "2001:db8::7", "2001:db8::7"),  # a trusted address beside the range
    ],
)
def test_trusted_proxies_may_be_addresses_and_ranges(peer: str, forwarded: str, client: str):
    """X-Forwarded-For counts only when the connection comes from a listed proxy; the client
    is the rightmost entry that is not one (werkzeug's ProxyFix counts hops instead)."""
    from kafkasse_wsgi.options import Options

    trusted = Options(trusted_proxies="10.0.0.0/8, ::1").trusted_proxies
    request = environ(x_forwarded_for=forwarded)
    request["REMOTE_ADDR"] = peer
    assert parse_request(request, trusted_proxies=trusted).client_address == client


def test_per_client_limits_group_ipv6_clients_by_their_64() -> None:
    """An IPv6 client holds a /64 (or more): counted per address it had a limit per stream."""
    from kafkasse_wsgi._admission import admit
    from kafkasse_wsgi.errors import TooManyStreamsError
    from kafkasse_wsgi.options import Options

    options = Options(max_streams_per_client=2)
    tickets = [admit("2a00:1450:4001:81a::1", options), admit("2a00:1450:4001:81a::2", options)]
    try:
        with pytest.raises(TooManyStreamsError) as refused:
            admit("2a00:1450:4001:81a:ffff::3", options)
        assert refused.value.status == 429
        tickets.append(admit("2a00:1450:4001:81b::1", options))  # another /64
    finally:
        for ticket in tickets:
            ticket.release()
