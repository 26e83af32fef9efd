"""Event ids never skip an undelivered event, in any id mode, whatever ends the stream.

Real broker, real gevent server, a real SSE reader; default options except the one under test.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
from kafka import TopicPartition

from tests.support.clients import SSEReader, payloads_of
from tests.support.kafka import KafkaHelper
from tests.support.private_broker import PrivateBroker


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


def test_timestamp_ids_resume_a_replay_that_began_with_a_reset(serve, kafka, make_topic):
    """Regression: a resume whose offset retention had deleted starts at the earliest offset
    (``event: reset``); its timestamp id said the server's current time, so a client cut
    during that replay lost the rest too."""
    topic = make_topic()
    hour_ago = int(time.time() * 1000) - 3_600_000
    for seq in range(8):
        kafka.produce(topic, [{"seq": seq}], timestamp_ms=hour_ago + 10 * seq)
    kafka.admin.delete_records({TopicPartition(topic, 0): 3})
    server = serve({"use_timestamp_for_id": True})
    gone = {"Last-Event-ID": json.dumps([{"topic": topic, "partition": 0, "offset": 1}])}
    with SSEReader(f"{server.url}/{topic}", headers=gone) as reader:
        reset = reader.read(1, types=("reset",))
        first = reader.read(2)
    assert json.loads(reset[0]["data"])["reason"] == "too_old"
    with SSEReader(f"{server.url}/{topic}", headers={"Last-Event-ID": first[-1]["id"]}) as reader:
        rest = reader.read(3, timeout_s=10)
    assert [m["seq"] for m in payloads_of(first + rest)] == list(range(3, 8))


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
        events = reader.read(8)
    after = int(time.time() * 1000)
    # Reading partition 1's record at setup neither loses nor repeats one of its events.
    got = sorted((m["_kafka"]["partition"], m["seq"]) for m in payloads_of(events))
    assert got == [(0, seq) for seq in range(5)] + [(1, seq) for seq in range(2, 5)]
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


# --- cursor ids: exact on the same cluster, by timestamp on another --------------------------


@pytest.fixture(scope="module")
def cluster_b(kafka_bootstrap: str) -> Iterator[KafkaHelper]:
    """A second Kafka cluster (its own kafka-local broker), like a mirror in another DC."""
    broker = PrivateBroker()
    broker.start()
    helper = KafkaHelper(broker.bootstrap)
    try:
        yield helper
    finally:
        helper.close()
        broker.remove()


def _cursor_server(serve, bootstrap: str | None = None):
    options: dict[str, object] = {"id_mode": "cursor"}
    if bootstrap is not None:
        options["kafka_config"] = {"bootstrap_servers": bootstrap}
    return serve(options)


def test_cursor_ids_resume_exactly_by_offset_on_the_same_cluster(serve, kafka, make_topic):
    """Cursor ids name the cluster and carry offset and timestamp per partition. On the same
    cluster the offset decides: a cut between events of one millisecond (which a timestamp
    id would skip) loses nothing, and no reset is announced."""
    topic = make_topic(partitions=2)
    hour_ago = int(time.time() * 1000) - 3_600_000
    kafka.produce(topic, [{"seq": seq} for seq in range(6)], partition=0, timestamp_ms=hour_ago)
    server = _cursor_server(serve)
    with SSEReader(f"{server.url}/{topic}", headers=_from_offset_zero(topic, 2)) as reader:
        first = reader.read(2)
    cursor = json.loads(first[-1]["id"])
    assert cursor == {
        "cluster": kafka.admin.describe_cluster()["cluster_id"],
        "positions": [[topic, 0, 2, hour_ago + 1], [topic, 1, 0, cursor["positions"][1][3]]],
    }
    with SSEReader(f"{server.url}/{topic}", headers={"Last-Event-ID": first[-1]["id"]}) as reader:
        rest = reader.read(4, types=("message", "reset"))
        assert "X-KafkaSSE-Reset" not in reader.response.headers
    assert [e["event"] for e in rest] == ["message"] * 4
    assert [m["seq"] for m in payloads_of(first + rest)] == list(range(6))
    assert json.loads(rest[-1]["id"])["positions"][0][2:] == [6, hour_ago + 1]


def test_cursor_ids_still_read_the_node_originals_id_forms(serve, kafka, make_topic):
    topic = make_topic()
    base = int(time.time() * 1000) - 60_000
    for seq in range(3):
        kafka.produce(topic, [{"seq": seq}], timestamp_ms=base + 10 * seq)
    server = _cursor_server(serve)
    for last_event_id, expected in (
        ([{"topic": topic, "partition": 0, "offset": 1}], [1, 2]),
        ([{"topic": topic, "partition": 0, "timestamp": base + 11}], [2]),
    ):
        headers = {"Last-Event-ID": json.dumps(last_event_id)}
        with SSEReader(f"{server.url}/{topic}", headers=headers) as reader:
            events = reader.read(len(expected))
        assert [m["seq"] for m in payloads_of(events)] == expected
        assert json.loads(events[-1]["id"])["positions"] == [[topic, 0, 3, base + 21]]


@pytest.mark.timeout(180)
def test_cursor_ids_resume_on_another_cluster_by_timestamp_and_say_so(
    serve, kafka, make_topic, cluster_b
):
    """The same events with the same timestamps on two clusters, at different offsets
    (cluster B holds older events first). Read part from A; resume on B with A's cursor:
    exactly the rest, after an ``event: reset`` (reason ``cluster``) for every partition.
    B's own cursor then resumes on B exactly by offset."""
    topic = make_topic(partitions=2)
    cluster_b.create_topic(topic, 2)
    hour_ago = int(time.time() * 1000) - 3_600_000
    cluster_b.produce(
        topic, [{"seq": -1 - n} for n in range(3)], partition=0, timestamp_ms=hour_ago - 1_000
    )
    for helper in (kafka, cluster_b):
        for seq in range(10):
            helper.produce(topic, [{"seq": seq}], partition=0, timestamp_ms=hour_ago + 10 * seq)
    server_a = _cursor_server(serve)
    server_b = _cursor_server(serve, cluster_b.bootstrap)

    with SSEReader(f"{server_a.url}/{topic}", headers=_from_offset_zero(topic, 2)) as reader:
        first = reader.read(4)
    cut = first[-1]["id"]
    assert json.loads(cut)["positions"][0] == [topic, 0, 4, hour_ago + 31]

    with SSEReader(f"{server_b.url}/{topic}", headers={"Last-Event-ID": cut}) as reader:
        assert reader.response.headers["X-KafkaSSE-Reset"] == f"{topic}/0:4->7,{topic}/1:0->0"
        resets = reader.read(2, types=("reset",))
        second = reader.read(3)
    assert [json.loads(e["data"]) for e in resets] == [
        {
            "topic": topic,
            "partition": 0,
            "requested_offset": 4,
            "served_offset": 7,
            "reason": "cluster",
        },
        {
            "topic": topic,
            "partition": 1,
            "requested_offset": 0,
            "served_offset": 0,
            "reason": "cluster",
        },
    ]
    b_cluster_id = cluster_b.admin.describe_cluster()["cluster_id"]
    assert b_cluster_id != kafka.admin.describe_cluster()["cluster_id"]
    assert json.loads(second[-1]["id"])["cluster"] == b_cluster_id

    with SSEReader(
        f"{server_b.url}/{topic}", headers={"Last-Event-ID": second[-1]["id"]}
    ) as reader:
        third = reader.read(3, types=("message", "reset"))
        assert "X-KafkaSSE-Reset" not in reader.response.headers
    assert [e["event"] for e in third] == ["message"] * 3
    assert [m["seq"] for m in payloads_of(first + second + third)] == list(range(10))
