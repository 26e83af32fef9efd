"""Event ids never skip an undelivered event, in any id mode, whatever ends the stream.

Real broker, real gevent server, a real SSE reader; default options except the one under test.
"""

from __future__ import annotations

import json
import time

from tests.support.clients import SSEReader, payloads_of


def _strict_json(text: str) -> object:
    """``JSON.parse`` as a browser does it: ``NaN`` and ``Infinity`` are errors."""

    def refuse(name: str) -> object:
        raise ValueError(f"{name} is not JSON")

    return json.loads(text, parse_constant=refuse)


def _from_offset_zero(topic: str, partitions: int = 1) -> dict[str, str]:
    return {
        "Last-Event-ID": json.dumps(
            [{"topic": topic, "partition": p, "offset": 0} for p in range(partitions)]
        )
    }


# --- use_timestamp_for_id: a replay ---------------------------------------------------------


def test_timestamp_ids_resume_a_replay_where_the_client_was_cut(serve, kafka, make_topic):
    """Regression: a stream replaying old events (started by offset) stamped its ids with the
    server's current time, so a client cut during the replay resumed at "now" and lost the
    rest. Two partitions, events an hour old; read 3, resume with the last id: exactly the
    rest, on both partitions (also the one that may have delivered nothing yet)."""
    topic = make_topic(partitions=2)
    hour_ago = int(time.time() * 1000) - 3_600_000
    for p, count in ((0, 10), (1, 5)):
        for seq in range(count):
            kafka.produce(
                topic, [{"p": p, "seq": seq}], partition=p, timestamp_ms=hour_ago + 10 * seq
            )
    server = serve({"use_timestamp_for_id": True})
    with SSEReader(f"{server.url}/{topic}", headers=_from_offset_zero(topic, 2)) as reader:
        first = reader.read(3)
    assert len(first) == 3
    with SSEReader(f"{server.url}/{topic}", headers={"Last-Event-ID": first[-1]["id"]}) as reader:
        rest = reader.read(12, timeout_s=10)
    seen = payloads_of(first) + payloads_of(rest)
    for p, count in ((0, 10), (1, 5)):
        assert [m["seq"] for m in seen if m["p"] == p] == list(range(count)), f"partition {p}"


def test_timestamp_ids_of_offset_starts_are_never_later_than_their_first_record(
    serve, kafka, make_topic, tmp_path
):
    """Before a partition delivers anything its timestamp id must not pass its first
    undelivered record: the log start gives 0, an offset inside the log its record's own
    timestamp (fetched at setup), the end offset the time the setup began."""
    topic = make_topic(partitions=3)
    hour_ago = int(time.time() * 1000) - 3_600_000
    for p in (0, 1):
        for seq in range(5):
            kafka.produce(topic, [{"seq": seq}], partition=p, timestamp_ms=hour_ago + 10 * seq)
    hooks = tmp_path / "hooks.jsonl"
    server = serve({"use_timestamp_for_id": True}, record_hooks=str(hooks))
    start = [
        {"topic": topic, "partition": p, "offset": offset} for p, offset in enumerate((0, 2, 0))
    ]
    before = int(time.time() * 1000)
    with SSEReader(f"{server.url}/{topic}", headers={"Last-Event-ID": json.dumps(start)}) as reader:
        reader.read(1)
    after = int(time.time() * 1000)
    assigned = next(
        json.loads(line)["detail"]
        for line in hooks.read_text().splitlines()
        if json.loads(line)["event"] == "assigned"
    )
    assert [a["timestamp"] for a in assigned[:2]] == [0, hour_ago + 20]
    assert before <= assigned[2]["timestamp"] <= after


# --- event: error carries the id of the last delivered event --------------------------------


def test_error_id_is_the_id_of_the_last_delivered_event(serve, kafka, make_topic):
    """Regression: a deserializer whose result has no JSON form (a circular structure) on
    event 3 of a batch lost events 0-2 (their batch was never queued) while the error's id
    said offset 3, so a resume skipped them too."""
    topic = make_topic()
    kafka.produce(topic, [{"n": n} for n in range(6)])
    server = serve({"deserializer": "circular_on_n3"})
    with SSEReader(f"{server.url}/{topic}", headers=_from_offset_zero(topic)) as reader:
        events = reader.read_until_end(timeout_s=20)
    assert [e["event"] for e in events] == ["message"] * 3 + ["error"]
    assert [m["n"] for m in payloads_of(events[:3])] == [0, 1, 2]
    assert events[-1]["id"] == events[2]["id"]
    assert json.loads(events[-1]["id"]) == [{"topic": topic, "partition": 0, "offset": 3}]


# --- NaN and Infinity never reach data: -------------------------------------------------------


def test_an_event_with_nan_or_infinity_is_skipped_and_the_stream_goes_on(
    serve, kafka, make_topic, tmp_path
):
    """Regression: a custom deserializer's NaN/Infinity went out as bare words in ``data:``,
    which is not JSON: a browser's ``JSON.parse`` throws on it. Such an event is skipped and
    logged like any undeserialisable message; the next event's id is past it."""
    topic = make_topic()
    kafka.produce(topic, [{"n": n} for n in range(4)])
    server = serve({"deserializer": "non_finite_on_n1_n2"})
    with SSEReader(f"{server.url}/{topic}", headers=_from_offset_zero(topic)) as reader:
        events = reader.read(2, timeout_s=10)
        raw = reader.raw
    assert [_strict_json(e["data"])["n"] for e in events] == [0, 3]  # type: ignore[index]
    assert b"NaN" not in raw and b"Infinity" not in raw
    assert json.loads(events[-1]["id"]) == [{"topic": topic, "partition": 0, "offset": 4}]
    assert (tmp_path / "server-0.log").read_text().count("skipping") == 2
