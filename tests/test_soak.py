"""Exact resume under churn: a real EventSource client whose connection is cut again and again.

The soak: a topic with 3 partitions, a producer writing numbered events (``seq`` per
partition) to partitions 0 and 1 all the time and to partition 2 only in rare bursts (it is
quiet for many connections in a row), and Node's ``eventsource`` (npm) reading the stream
through a chaos proxy (``tests/support/chaos_proxy.py``). Connections die two ways:

* the server side drops the socket: the proxy cuts the connection after a random number
  of bytes (often mid-event, sometimes mid-headers) or milliseconds, with a TCP reset or
  a FIN; the library reconnects by itself with its own ``Last-Event-ID``;
* the client aborts: ``es.close()`` after a random number of events or milliseconds, then
  a new ``EventSource`` resuming with the last id it received.

At least ``TEST_SOAK_CUTS`` cuts (default 200, half of each kind; set it to 1000 for the
long run), then the producer stops, the cuts stop, and the client must catch up. Per
partition the received ``seq`` list must be exactly ``0..produced-1``: no gap, no duplicate.

What ``use_timestamp_for_id`` guarantees
----------------------------------------

With ``use_timestamp_for_id=True`` an event's id holds, for each assigned partition,
``{"topic", "partition", "timestamp"}`` where ``timestamp`` is the largest timestamp of the
events the stream has delivered from that partition, plus 1 (it never moves back). A
partition that has delivered nothing yet holds a timestamp no later than its first
undelivered event: the requested one for a timestamp start, the timestamp of the record at
the start offset for an offset start (0 at the log start), or the server's wall-clock time
when the stream's setup began for a start at the end of the partition. A resume starts each
partition at the first offset whose timestamp is ``>=`` that value (Kafka's
offsets-for-times), or at its end if there is none.
Hence, tested below:

1. Per partition, when producer timestamps are strictly increasing: no gap and no
   duplicate, under the same churn as the offset ids (``test_soak_timestamp_ids``).
2. Never a duplicate, whatever the timestamps: every delivered event has a timestamp
   below the id, so none of them is at or after it.
3. Several events sharing one millisecond: a cut after the first of them skips the others
   on resume (``test_timestamp_ids_skip_the_rest_of_a_millisecond``).
4. A producer timestamp going backwards: the id does not move back, and a resume after it
   skips every not-yet-delivered event with a timestamp below the id
   (``test_timestamp_ids_skip_an_event_whose_timestamp_went_back``).
5. The first event of a partition that was quiet (at its end) in a stream started by offset
   or at the end: its timestamp must not be earlier than the time that stream started, else a resume
   before it was delivered skips it
   (``test_timestamp_ids_skip_a_late_event_older_than_the_stream_start``). With producer
   wall-clock timestamps this is a real window (producer-to-broker latency, clock skew);
   streams started from timestamp ids — as every resume in timestamp mode is — don't have it.
"""

from __future__ import annotations

import json
import os
import time
import urllib.request
from typing import Any

import pytest

from tests.support.chaos_proxy import ChaosProxy
from tests.support.node_client import node_client_available, records_of, start_node_client
from tests.support.node_soak import SoakClient
from tests.support.numbered import PARTITIONS, NumberedProducer, check_ids, describe_mismatch


@pytest.fixture(autouse=True)
def _node_client_required() -> None:
    """A missing client is a broken set-up, not a reason to pass quietly."""
    if not node_client_available():
        pytest.fail("node or its eventsource package is missing: run scripts/ci-deps")


SOAK_CUTS = int(os.environ.get("TEST_SOAK_CUTS", "200"))
#: Seconds the churn phase may last before the test fails for not reaching SOAK_CUTS.
CHURN_BUDGET_S = 60 * max(1, SOAK_CUTS / 200)
SOAK_TIMEOUT_S = int(CHURN_BUDGET_S + 60)
#: Independent streams of the one Node client, each checked on its own: more churn per second
#: (a stream's setup takes ~0.2 s, most of it in the Kafka client).
LANES = 4


def _greenlets(base_url: str) -> int:
    with urllib.request.urlopen(f"{base_url}/_debug", timeout=10) as response:
        return int(json.load(response)["greenlets"])


def _soak(
    kafka: Any, make_topic: Any, serve: Any, use_timestamp: bool, seed: int
) -> dict[str, Any]:
    began = time.monotonic()
    topic = make_topic(partitions=PARTITIONS)
    server = serve(
        options={
            "heartbeat_interval_s": 0.5,
            "retry_ms": 30,
            "batch_size": 7,
            "queue_size": 1,
            "use_timestamp_for_id": use_timestamp,
        }
    )
    key = "timestamp" if use_timestamp else "offset"
    start_id = json.dumps(
        [{"topic": topic, "partition": p, key: 0} for p in range(PARTITIONS)],
        separators=(",", ":"),
    )
    idle_greenlets = _greenlets(server.url)
    producer = NumberedProducer(kafka, topic, seed, timestamps=use_timestamp)
    half = SOAK_CUTS // 2
    with ChaosProxy(
        server.port, seed=seed, max_bytes=12000, min_ms=10, max_ms=500, early_ratio=0.05
    ) as proxy:
        client = SoakClient(
            f"{proxy.url}/{topic}",
            start_id,
            seed=seed,
            max_events_per_life=40,
            min_ms=10,
            max_ms=500,
            partitions=PARTITIONS,
            lanes=LANES,
        )
        stderr = ""
        try:
            producer.start()
            churn_began = time.monotonic()
            deadline = churn_began + CHURN_BUDGET_S
            while time.monotonic() < deadline and producer.error is None:
                # The quiet partition must also have spoken once under churn.
                enough = proxy.stats.snapshot()["cuts"] >= half and client.aborts >= half
                if enough and producer.produced[2] > 0:
                    break
                assert client.process.poll() is None, "the node client died"
                time.sleep(0.2)
            churn_s = time.monotonic() - churn_began
            producer.stop()
            assert producer.error is None, repr(producer.error)
            proxy.enabled = False
            client.calm()
            produced = dict(producer.produced)
            catch_up = time.monotonic() + 30
            finished = {p: n - 1 for p, n in produced.items()}
            while time.monotonic() < catch_up:
                if all(last == finished for last in client.last_seqs().values()):
                    break
                time.sleep(0.1)
            time.sleep(0.5)  # anything more (a duplicate) would arrive now
        finally:
            stderr = client.stop()
        stats = proxy.stats.snapshot()
    # Every stream the churn killed has ended on the server too.
    settle = time.monotonic() + 15
    while (greenlets := _greenlets(server.url)) > idle_greenlets and time.monotonic() < settle:
        time.sleep(0.2)

    figures = {
        "mode": key,
        "seed": seed,
        "proxy_cuts": stats["cuts"],
        "proxy_cuts_mid_bytes": stats["cuts_mid_bytes"],
        "proxy_cuts_reset": stats["cuts_reset"],
        "proxy_cuts_before_response": stats["cuts_early"],
        "client_aborts": client.aborts,
        "client_abort_reasons": dict(client.abort_reasons),
        "opens": client.counts["open"],
        "late_events_after_close": client.counts["late"],
        "errors": dict(client.errors.most_common(5)),
        "produced": produced,
        "lanes": LANES,
        "events_checked": client.events(),
        "server_greenlets_idle_after": [idle_greenlets, greenlets],
        "churn_s": round(churn_s, 1),
        "total_s": round(time.monotonic() - began, 1),
    }
    print("\nsoak figures: " + json.dumps(figures))
    assert not client.bad_lines, client.bad_lines[:5]
    for lane, received in client.received.items():
        for partition in range(PARTITIONS):
            seqs = [item[0] for item in received[partition]]
            expected = list(range(produced[partition]))
            if seqs != expected:
                pytest.fail(
                    f"lane {lane} partition {partition}: "
                    f"{describe_mismatch(seqs, expected, received[partition])}"
                    f"\nfigures: {figures}\nclient stderr: {stderr[-2000:]}"
                )
        check_ids(topic, received, key)
    assert greenlets <= idle_greenlets, f"streams left running on the server: {figures}"
    assert stats["cuts"] >= half, figures
    assert client.aborts >= half, figures
    assert produced[2] > 3 and produced[0] > 100 and produced[1] > 100, figures
    return figures


@pytest.mark.slow
@pytest.mark.timeout(SOAK_TIMEOUT_S)
def test_soak_offset_ids(kafka, make_topic, serve):
    _soak(kafka, make_topic, serve, use_timestamp=False, seed=int(time.time()) % 100_000)


@pytest.mark.slow
@pytest.mark.timeout(SOAK_TIMEOUT_S)
def test_soak_timestamp_ids(kafka, make_topic, serve):
    _soak(kafka, make_topic, serve, use_timestamp=True, seed=int(time.time()) % 100_000 + 1)


# --- use_timestamp_for_id: the documented edges, deterministically --------------------------


def _timestamp_server(serve: Any) -> Any:
    return serve(
        options={"heartbeat_interval_s": 0.5, "retry_ms": 50, "use_timestamp_for_id": True}
    )


def _read(url: str, count: int, last_event_id: str) -> list[dict[str, Any]]:
    """The first ``count`` messages a fresh EventSource receives from ``last_event_id``."""
    client = start_node_client(url, count, 10_000, last_event_id=last_event_id)
    try:
        records = records_of(client, timeout_s=20)
    finally:
        client.kill()
    return [r for r in records if r["type"] == "message"]


def _seqs(messages: list[dict[str, Any]]) -> list[int]:
    return [json.loads(m["data"])["seq"] for m in messages]


def test_timestamp_ids_skip_the_rest_of_a_millisecond(kafka, make_topic, serve):
    topic = make_topic(partitions=1)
    base = int(time.time() * 1000) - 60_000
    kafka.produce(topic, [{"seq": i} for i in range(3)], partition=0, timestamp_ms=base)
    kafka.produce(topic, [{"seq": 3}], partition=0, timestamp_ms=base + 7)
    url = f"{_timestamp_server(serve).url}/{topic}"
    start = json.dumps([{"topic": topic, "partition": 0, "timestamp": 0}])

    everything = _read(url, 4, start)
    assert _seqs(everything) == [0, 1, 2, 3], "one stream, no cut: every event"
    assert [json.loads(m["id"])[0]["timestamp"] for m in everything] == [
        base + 1,
        base + 1,
        base + 1,
        base + 8,
    ]

    first = _read(url, 1, start)
    assert _seqs(first) == [0]
    resumed = _read(url, 1, first[0]["id"])
    # The cut fell between events of the same millisecond: seq 1 and 2 are skipped.
    assert _seqs(resumed) == [3]


def test_timestamp_ids_skip_an_event_whose_timestamp_went_back(kafka, make_topic, serve):
    topic = make_topic(partitions=1)
    base = int(time.time() * 1000) - 60_000
    for seq, ts in enumerate([base, base + 20, base + 10, base + 30]):
        kafka.produce(topic, [{"seq": seq}], partition=0, timestamp_ms=ts)
    url = f"{_timestamp_server(serve).url}/{topic}"
    start = json.dumps([{"topic": topic, "partition": 0, "timestamp": 0}])

    everything = _read(url, 4, start)
    assert _seqs(everything) == [0, 1, 2, 3], "one stream, no cut: every event, in offset order"
    # The id never moves back: after seq 2 (ts base+10) it still says base+21.
    assert [json.loads(m["id"])[0]["timestamp"] for m in everything] == [
        base + 1,
        base + 21,
        base + 21,
        base + 31,
    ]

    first_two = _read(url, 2, start)
    assert _seqs(first_two) == [0, 1]
    resumed = _read(url, 1, first_two[-1]["id"])
    # Resumed at the first timestamp >= base+21: seq 2 (base+10, not delivered) is skipped.
    assert _seqs(resumed) == [3]
    # Never a duplicate: resuming after seq 2 gives seq 3 again, not seq 2 or 1.
    assert _seqs(_read(url, 1, everything[2]["id"])) == [3]


def test_timestamp_ids_skip_a_late_event_older_than_the_stream_start(kafka, make_topic, serve):
    topic = make_topic(partitions=2)
    kafka.produce(topic, [{"seq": 0}], partition=0)
    url = f"{_timestamp_server(serve).url}/{topic}"
    # Started by offset: partition 1, empty, gets the stream's start time as its id.
    start = json.dumps([{"topic": topic, "partition": p, "offset": 0} for p in range(2)])
    before_stream = int(time.time() * 1000)
    first = _read(url, 1, start)
    assert _seqs(first) == [0]
    stream_start = json.loads(first[0]["id"])[1]["timestamp"]
    assert stream_start >= before_stream
    # An event whose timestamp is older than that start arrives after the cut (a producer
    # whose clock is behind, or one whose send took longer than the stream's setup).
    kafka.produce(topic, [{"seq": 0}], partition=1, timestamp_ms=stream_start - 500)
    kafka.produce(topic, [{"seq": 1}], partition=1, timestamp_ms=stream_start + 500)
    resumed = _read(url, 1, first[0]["id"])
    assert [json.loads(m["data"])["seq"] for m in resumed] == [1]
