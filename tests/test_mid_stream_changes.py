"""The topic changes under a running stream: partitions are added, or data it has not read
yet is deleted (retention, ``delete_records``). Real broker, real server, real client.

Added partitions join the stream and its ids. Deleted data is told, always: an
``event: reset`` (or an ``event: error`` with the resume policy ``too_old="error"``), never
kafka-python's silent ``auto_offset_reset`` jump.
"""

from __future__ import annotations

import itertools
import json
import time
from typing import Any

import requests
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewPartitions

from kafkasse_wsgi._kafka_config import DEFAULT_FETCH_MAX_WAIT_MS, consumer_config
from kafkasse_wsgi.options import Options
from tests.support.clients import SSEReader, parse_sse, payloads_of

#: Far more than everything that can sit between the broker and a client that stopped
#: reading (kafka-python's prefetch of one partition, the stream's queue, socket buffers),
#: so the consumer's next fetch position is still in the data deleted below.
BACKLOG_EVENTS = 10_000
PAD = "x" * 2000


class PausedClient:
    """An SSE client that reads a little, stops reading, then reads the rest in one go.

    Keeps the raw chunks and parses once at the end (megabytes of events, read linearly).
    """

    def __init__(self, url: str, headers: dict[str, str]) -> None:
        self.response = requests.get(url, headers=headers, stream=True, timeout=30)
        assert self.response.status_code == 200, self.response.text
        self._chunks = self.response.iter_content(chunk_size=None)
        self.body: list[bytes] = []

    def read_until(self, *markers: bytes, timeout_s: float = 60) -> None:
        """Read until one of ``markers`` appears, the body ends or ``timeout_s`` passes."""
        deadline = time.monotonic() + timeout_s
        overlap = max(len(marker) for marker in markers)
        tail = b""
        for chunk in self._chunks:
            self.body.append(chunk)
            seen = tail + chunk
            if any(marker in seen for marker in markers) or time.monotonic() > deadline:
                break
            tail = seen[-overlap:]

    def events(self) -> list[dict[str, str]]:
        # As in the SSE spec, a block without data (the first frame's id) is no event.
        events = [e for e in parse_sse(b"".join(self.body)) if "data" in e]
        for event in events:
            event.setdefault("event", "message")
        return events

    def close(self) -> None:
        self.response.close()


def _stream_behind_a_deletion(
    serve: Any, kafka: Any, make_topic: Any, options: dict[str, Any]
) -> list[dict[str, str]]:
    """A client reads a few events of a backlog and stops reading; 10 more events arrive, the
    whole backlog before them is deleted (as retention would), the client reads on."""
    topic = make_topic()
    kafka.produce(topic, [{"n": n, "pad": PAD} for n in range(BACKLOG_EVENTS)])
    server = serve(options)
    start = json.dumps([{"topic": topic, "partition": 0, "offset": 0}])
    client = PausedClient(f"{server.url}/{topic}", {"Last-Event-ID": start})
    try:
        client.read_until(b'"n": 9,')
        kafka.produce(topic, [{"n": n} for n in range(BACKLOG_EVENTS, BACKLOG_EVENTS + 10)])
        kafka.admin.delete_records({TopicPartition(topic, 0): BACKLOG_EVENTS})
        # The last event, or the error that ends the stream.
        client.read_until(f'"n": {BACKLOG_EVENTS + 9},'.encode(), b"event: error")
    finally:
        client.close()
    return client.events()


def _jumps(events: list[dict[str, str]]) -> list[tuple[int, int]]:
    """Where the events' ``n`` skips ahead: (last before, first after)."""
    ns = [json.loads(e["data"])["n"] for e in events if e["event"] == "message"]
    return [(a, b) for a, b in itertools.pairwise(ns) if b != a + 1]


def _offset_in_id(event: dict[str, str]) -> int:
    [position] = json.loads(event["id"])
    return position["offset"]


def test_data_deleted_before_the_stream_read_it_is_told_with_a_reset_event(
    serve, kafka, make_topic
):
    """Regression: kafka-python's auto_offset_reset moved the consumer past the deleted data
    and the client got the events after it as if nothing was missing."""
    last = BACKLOG_EVENTS + 9
    events = _stream_behind_a_deletion(serve, kafka, make_topic, {})
    kinds = [e["event"] for e in events]
    assert kinds.count("reset") == 1, f"jumps told by no reset: {_jumps(events)}"
    at = kinds.index("reset")
    before = [json.loads(e["data"])["n"] for e in events[:at]]
    after = [json.loads(e["data"])["n"] for e in events[at + 1 :]]
    # Everything up to the gap, the reset, then everything after it: nothing else is missing.
    assert before == list(range(len(before))) and len(before) < BACKLOG_EVENTS
    assert after == list(range(BACKLOG_EVENTS, last + 1))
    notice = json.loads(events[at]["data"])
    assert notice == {
        "topic": notice["topic"],
        "partition": 0,
        "requested_offset": len(before),
        "served_offset": BACKLOG_EVENTS,
        "reason": "too_old",
    }
    # The reset's id already names the moved position: a resume from it continues after it.
    assert _offset_in_id(events[at]) == BACKLOG_EVENTS
    assert _offset_in_id(events[-1]) == last + 1


def test_data_deleted_before_the_stream_read_it_ends_the_stream_when_the_policy_says_error(
    serve, kafka, make_topic
):
    """Regression: with ``resume_policy={"too_old": "error"}`` the stream jumped silently too."""
    events = _stream_behind_a_deletion(
        serve, kafka, make_topic, {"resume_policy": {"too_old": "error"}}
    )
    kinds = [e["event"] for e in events]
    assert kinds[-1] == "error", f"no error; jumps told by nothing: {_jumps(events)}"
    assert set(kinds[:-1]) == {"message"}
    delivered = [json.loads(e["data"])["n"] for e in events[:-1]]
    assert delivered == list(range(len(delivered))) and len(delivered) < BACKLOG_EVENTS
    error = json.loads(events[-1]["data"])
    assert error["name"] == "OffsetOutOfRangeError"
    assert error["requested_offset"] == len(delivered)
    assert error["available_offsets"] == [BACKLOG_EVENTS, BACKLOG_EVENTS + 10]
    # The id still points at the first event the client did not get.
    assert _offset_in_id(events[-1]) == len(delivered)


# --- Partitions added while streaming --------------------------------------------------------


#: The issue's promise: added partitions are streamed within 30 s, with default settings.
PROMISE_S = 30


def _metadata_max_age_ms() -> int:
    """How often a stream's consumer refreshes metadata, with default settings."""
    config = consumer_config({}, "test")
    return config.get("metadata_max_age_ms", KafkaConsumer.DEFAULT_CONFIG["metadata_max_age_ms"])


#: Worst case for an added partition to reach a client with default settings: the stream's
#: next metadata refresh, the poll that is waiting when it lands, the fetch already in flight
#: to the broker; plus time for the offset look-ups on busy test machines.
ADDED_PARTITION_BOUND_S = (
    _metadata_max_age_ms() + Options.DEFAULT_IDLE_DELAY_MS + DEFAULT_FETCH_MAX_WAIT_MS
) / 1000 + 3


def _grow_and_produce(kafka: Any, topic: str, partitions: int) -> float:
    """Add partitions up to ``partitions``, produce ``{"p": partition}`` to each new one."""
    before = len(kafka.admin.describe_topics([topic])[0]["partitions"])
    began = time.monotonic()
    kafka.admin.create_partitions({topic: NewPartitions(total_count=partitions)})
    kafka.wait_for_topic(topic, partitions)
    _produce(kafka, topic, [{"p": partition} for partition in range(before, partitions)])
    return began


def _produce(kafka: Any, topic: str, values: list[dict[str, int]]) -> None:
    """Produce each value to its partition ``p`` with a new producer: the session's would
    refuse partitions its metadata doesn't know yet."""
    producer = KafkaProducer(bootstrap_servers=kafka.bootstrap, acks="all")
    try:
        for value in values:
            producer.send(topic, json.dumps(value).encode(), partition=value["p"]).get(10)
    finally:
        producer.close()


def _read_within(reader: SSEReader, count: int, began: float) -> list[dict[str, str]]:
    """``count`` events, which must all have come within the bound."""
    # A read returns at the latest one heartbeat after its deadline (default settings).
    events = reader.read(count, timeout_s=min(ADDED_PARTITION_BOUND_S, PROMISE_S))
    elapsed = time.monotonic() - began
    assert len(events) == count, f"got {payloads_of(events)} in {elapsed:.1f}s"
    assert elapsed <= ADDED_PARTITION_BOUND_S
    print(f"\nadded partitions streamed after {elapsed:.1f}s")
    return events


def test_partitions_added_while_streaming_are_streamed_and_named_in_ids(serve, kafka, make_topic):
    """Regression: a stream read only the partitions its topic had when it started; events
    in partitions added later never reached it, and its ids did not name them."""
    topic = make_topic(partitions=1)
    server = serve()
    url = f"{server.url}/{topic}"
    # Heartbeats come every 15 s: the socket must wait longer than that.
    with SSEReader(url, timeout_s=60) as reader:
        reader.wait_comments(1)  # ":ok": assigned at the end of partition 0
        kafka.produce(topic, [{"p": 0}], partition=0)
        assert payloads_of(reader.read(1))[0]["p"] == 0
        began = _grow_and_produce(kafka, topic, 3)
        events = _read_within(reader, 2, began)
    assert sorted(e["p"] for e in payloads_of(events)) == [1, 2]
    last_id = events[-1]["id"]
    assert sorted((p["partition"], p["offset"]) for p in json.loads(last_id)) == [
        (0, 1),
        (1, 1),
        (2, 1),
    ]

    # A resume with that id continues every partition exactly, and keeps watching the topic.
    _produce(kafka, topic, [{"p": 0, "n": 1}, {"p": 2, "n": 1}])
    with SSEReader(url, headers={"Last-Event-ID": last_id}, timeout_s=60) as resumed:
        got = payloads_of(resumed.read(2))
        assert sorted((e["p"], e["_kafka"]["offset"]) for e in got) == [(0, 1), (2, 1)]
        began = _grow_and_produce(kafka, topic, 4)
        [event] = _read_within(resumed, 1, began)
    assert payloads_of([event])[0]["p"] == 3
    assert len(json.loads(event["id"])) == 4
    assert ADDED_PARTITION_BOUND_S <= PROMISE_S


def test_a_partition_added_while_the_client_was_away_is_read_from_its_first_offset(
    serve, kafka, make_topic
):
    """Regression: a resume started a partition its id did not name at the end ("latest"), as
    a request without an id would. Our ids name every partition of the stream, so such a
    partition of a topic the id does name was added while the client was away: what it
    received meanwhile was lost."""
    topic = make_topic(partitions=1)
    server = serve()
    url = f"{server.url}/{topic}"
    kafka.produce(topic, [{"p": 0, "n": 0}], partition=0)
    with SSEReader(f"{url}?since=0") as reader:
        [first] = reader.read(1)
    assert [p["partition"] for p in json.loads(first["id"])] == [0]

    # Away: the topic grows and its new partition receives an event.
    _grow_and_produce(kafka, topic, 2)
    _produce(kafka, topic, [{"p": 0, "n": 1}])
    with SSEReader(url, headers={"Last-Event-ID": first["id"]}) as resumed:
        events = resumed.read(2)
    got = sorted((e["_kafka"]["partition"], e["_kafka"]["offset"]) for e in payloads_of(events))
    assert got == [(0, 1), (1, 0)]
