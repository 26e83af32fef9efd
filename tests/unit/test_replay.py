"""Where a bounded replay ends (pure), and how the request's bounds are read."""

from __future__ import annotations

import datetime

import pytest
from werkzeug.test import create_environ

from kafkasse_wsgi._assignments import StartPosition
from kafkasse_wsgi._replay import END_LIMIT, END_UNTIL, ReplayBounds, ReplayEnd
from kafkasse_wsgi._request import MAX_LIMIT, parse_limit, parse_request, parse_until
from kafkasse_wsgi.errors import InvalidFilterError, InvalidReplayBoundsError

UNTIL = 1_000_000


def starts(*offsets):
    return [StartPosition("t", p, offset, "offset") for p, offset in enumerate(offsets)]


def test_a_record_at_or_after_until_ends_its_partition_and_is_refused():
    replay = ReplayEnd(ReplayBounds(until=UNTIL), starts(0, 0), {("t", 0): 5, ("t", 1): None})
    assert replay.admits("t", 0, 3, UNTIL - 10)
    assert not replay.admits("t", 1, 0, UNTIL)  # its timestamp reached until: partition 1 ends
    assert not replay.finished
    assert replay.admits("t", 0, 4, UNTIL - 5)  # the last one before the stop offset ...
    assert replay.finished and replay.cause == END_UNTIL  # ... ends the replay at once
    assert not replay.admits("t", 0, 5, UNTIL - 1)


def test_a_quiet_partition_without_a_stop_is_unresolved_until_given_its_end():
    replay = ReplayEnd(ReplayBounds(until=UNTIL), starts(7, 3), {("t", 0): 7, ("t", 1): None})
    assert replay.unresolved == [("t", 1)]  # partition 0 is at its stop: nothing to read
    assert replay.until_passed(now_ms=UNTIL) and not replay.until_passed(now_ms=UNTIL - 1)
    replay.set_stop("t", 1, 3)  # its end offset, once until has passed
    assert replay.finished


def test_every_partition_past_until_at_the_start_is_finished_before_streaming():
    replay = ReplayEnd(ReplayBounds(until=UNTIL), starts(4, 9), {("t", 0): 4, ("t", 1): 2})
    assert replay.finished


def test_a_partition_added_while_streaming_keeps_the_replay_open_until_done():
    replay = ReplayEnd(ReplayBounds(until=UNTIL), starts(2), {("t", 0): 2})
    assert replay.finished  # nothing to read ...
    replay = ReplayEnd(ReplayBounds(until=UNTIL), starts(0), {("t", 0): 2})
    replay.add(StartPosition("t", 1, 0, "added", timestamp=0))
    assert replay.admits("t", 0, 0, 1) and replay.admits("t", 0, 1, 2)
    assert not replay.finished  # ... but the added partition has no stop yet
    assert replay.unresolved == [("t", 1)]
    replay.set_stop("t", 1, 0)
    assert replay.finished


def test_limit_counts_delivered_events():
    replay = ReplayEnd(ReplayBounds(limit=2), starts(0))
    assert replay.admits("t", 0, 0, 1)
    assert not replay.delivered()
    assert replay.delivered()
    assert replay.cause == END_LIMIT
    assert replay.unresolved == []


def test_no_bounds_is_falsy():
    assert not ReplayBounds()
    assert ReplayBounds(limit=1) and ReplayBounds(until=0)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("filter=a&until=5&limit=3", ("a", "5", "3")),
        ("filter=a&filter=b", ("b", None, None)),  # the last one counts, as for since
        ("filter=&until=&limit=", (None, None, None)),
        ("", (None, None, None)),
    ],
)
def test_request_reads_filter_until_and_limit(query, expected):
    request = parse_request(create_environ(f"/t?{query}"))
    assert (request.filter, request.until, request.limit) == expected


def test_until_reads_like_since():
    assert parse_until("1795730038371") == 1795730038371
    eleven = datetime.datetime(2026, 11, 26, 11, tzinfo=datetime.timezone.utc)
    assert parse_until("2026-11-26T11:00:00Z") == int(eleven.timestamp()) * 1000
    with pytest.raises(InvalidReplayBoundsError, match="until must be") as raised:
        parse_until("soon")
    assert isinstance(raised.value, InvalidFilterError)  # what callers caught before
    assert raised.value.status == 400
    assert raised.value.to_dict()["name"] == "InvalidFilterError"  # what clients match


@pytest.mark.parametrize("text", ["0", "-1", "1.5", "x", " 1", str(MAX_LIMIT + 1), "9" * 30])
def test_limit_must_be_a_positive_integer(text):
    with pytest.raises(InvalidReplayBoundsError, match="limit must be"):
        parse_limit(text)


def test_limit_bounds():
    assert parse_limit("1") == 1
    assert parse_limit(str(MAX_LIMIT)) == MAX_LIMIT
