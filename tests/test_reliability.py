"""Reliability: resumes that can't be honoured, limits and admission, stream lifetime, slow
clients, graceful shutdown under gunicorn. Real broker, real servers, real clients."""

from __future__ import annotations

import json
import math
import os
import signal
import socket
import statistics
import threading
import time

import pytest
import requests
from kafka import TopicPartition

from kafkasse_wsgi import Options
from kafkasse_wsgi._kafka_config import consumer_config
from tests.support.apps import SLEEPY_HOOK_S
from tests.support.clients import SSEReader, payloads_of
from tests.support.servers import ROOT, broker_connections, free_port, start_gunicorn


def start_at(topic: str, partitions: int, offset: int = 0) -> str:
    return json.dumps(
        [{"topic": topic, "partition": p, "offset": offset} for p in range(partitions)]
    )


def stuck_client(port: int, target: str, last_event_id: str) -> socket.socket:
    """A client that asks for a stream and never reads it (a 4 KB receive buffer)."""
    stalled = socket.create_connection(("127.0.0.1", port))
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stalled.sendall(
        f"GET {target} HTTP/1.1\r\nHost: x\r\nLast-Event-ID: {last_event_id}\r\n\r\n".encode()
    )
    return stalled


# --- Resume that can't be honoured is said, not hidden --------------------------------------


def test_resume_below_the_log_start_starts_at_earliest_and_says_so(serve, kafka, make_topic):
    topic = make_topic()
    kafka.produce(topic, [{"n": i} for i in range(10)])
    kafka.admin.delete_records({TopicPartition(topic, 0): 6})  # as retention would
    server = serve({"heartbeat_interval_s": 0.5})
    with SSEReader(
        f"{server.url}/{topic}", headers={"Last-Event-ID": start_at(topic, 1, 2)}
    ) as reader:
        resets = reader.read(1, types=("reset",))
        events = reader.read(4)
        header = reader.response.headers["X-KafkaSSE-Reset"]
    notice = json.loads(resets[0]["data"])
    assert notice == {
        "topic": topic,
        "partition": 0,
        "requested_offset": 2,
        "served_offset": 6,
        "reason": "too_old",
    }
    assert header == f"{topic}/0:2->6"
    assert [e["n"] for e in payloads_of(events)] == [6, 7, 8, 9]


def test_resume_past_the_end_starts_at_the_end_and_says_so(serve, kafka, make_topic):
    topic = make_topic()
    kafka.produce(topic, [{"n": i} for i in range(3)])
    server = serve({"heartbeat_interval_s": 0.5})
    with SSEReader(
        f"{server.url}/{topic}", headers={"Last-Event-ID": start_at(topic, 1, 500)}
    ) as reader:
        resets = reader.read(1, types=("reset",))
        kafka.produce(topic, [{"n": 3}])
        events = reader.read(1)
    assert json.loads(resets[0]["data"])["reason"] == "too_new"
    assert json.loads(resets[0]["data"])["served_offset"] == 3
    assert [e["n"] for e in payloads_of(events)] == [3]


def test_resume_policy_error_refuses_with_410(serve, kafka, make_topic):
    topic = make_topic()
    kafka.produce(topic, [{"n": 0}])
    server = serve({"resume_policy": {"too_new": "error"}})
    response = requests.get(
        f"{server.url}/{topic}", headers={"Last-Event-ID": start_at(topic, 1, 99)}, timeout=10
    )
    assert response.status_code == 410
    assert response.json()["name"] == "OffsetOutOfRangeError"
    assert response.json()["available_offsets"] == [0, 1]


# --- Limits and admission ---------------------------------------------------------------------


def test_process_stream_limit_answers_503_with_retry_after(serve, make_topic):
    topic = make_topic()
    server = serve({"max_streams": 2, "heartbeat_interval_s": 0.5})
    readers = [SSEReader(f"{server.url}/{topic}") for _ in range(2)]
    try:
        refused = requests.get(f"{server.url}/{topic}", timeout=10)
        assert refused.status_code == 503
        assert refused.headers["Retry-After"] == "5"
        assert refused.json()["name"] == "TooManyStreamsError"
    finally:
        for reader in readers:
            reader.close()
    # Places come back when streams end (noticed at the next heartbeat).
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        with SSEReader(f"{server.url}/{topic}") as again:
            if again.status == 200:
                break
        time.sleep(0.2)
    assert again.status == 200


def test_per_client_limit_answers_429_and_trusts_forwarded_for_only_when_told(serve, make_topic):
    topic = make_topic()
    server = serve({"max_streams_per_client": 1, "heartbeat_interval_s": 0.5})
    first = SSEReader(f"{server.url}/{topic}", headers={"X-Forwarded-For": "10.0.0.1"})
    try:
        # Not trusted: a made-up X-Forwarded-For does not make this another client.
        second = requests.get(
            f"{server.url}/{topic}", headers={"X-Forwarded-For": "10.0.0.2"}, timeout=10
        )
        assert second.status_code == 429
        assert second.headers["Retry-After"] == "5"
    finally:
        first.close()

    proxied = serve(
        {"max_streams_per_client": 1, "trusted_proxies": 1, "heartbeat_interval_s": 0.5}
    )
    readers = [
        SSEReader(f"{proxied.url}/{topic}", headers={"X-Forwarded-For": "spoofed, 10.0.0.1"}),
        SSEReader(f"{proxied.url}/{topic}", headers={"X-Forwarded-For": "10.0.0.2"}),
    ]
    try:
        assert [r.status for r in readers] == [200, 200]
        again = requests.get(
            f"{proxied.url}/{topic}", headers={"X-Forwarded-For": "10.0.0.1"}, timeout=10
        )
        assert again.status_code == 429
    finally:
        for reader in readers:
            reader.close()


def test_request_size_limits_are_400(serve, kafka, make_topic):
    topic = make_topic(partitions=3)
    server = serve({"max_topics": 2, "max_partitions": 2, "max_last_event_id_bytes": 200})
    too_many_topics = requests.get(f"{server.url}/{topic},a,b", timeout=10)
    assert (
        too_many_topics.status_code == 400
        and "too many topics" in too_many_topics.json()["message"]
    )
    too_many_partitions = requests.get(f"{server.url}/{topic}", timeout=10)
    assert too_many_partitions.status_code == 400
    assert "too many partitions" in too_many_partitions.json()["message"]
    long_id = json.dumps([{"topic": topic, "partition": 0, "offset": 10**15}] * 5)
    too_long = requests.get(f"{server.url}/{topic}", headers={"Last-Event-ID": long_id}, timeout=10)
    assert too_long.status_code == 400 and "too long" in too_long.json()["message"]


# --- Lifetime -----------------------------------------------------------------------------


def test_stream_lifetime_ends_cleanly_with_a_retry_hint_and_resume_loses_nothing(
    serve, kafka, make_topic
):
    topic = make_topic()
    server = serve(
        {
            "max_stream_lifetime_s": 1.0,
            "lifetime_jitter": 0.5,
            "reconnect_spread_ms": 300,
            "heartbeat_interval_s": 0.3,
        }
    )
    stop = threading.Event()

    def feed() -> None:
        n = 0
        while not stop.is_set():
            kafka.produce(topic, [{"n": n}])
            n += 1
            time.sleep(0.02)

    producer = threading.Thread(target=feed, daemon=True)
    producer.start()
    received: list[int] = []
    last_id = start_at(topic, 1)
    ends = 0
    try:
        deadline = time.monotonic() + 6
        while time.monotonic() < deadline:
            began = time.monotonic()
            with SSEReader(f"{server.url}/{topic}", headers={"Last-Event-ID": last_id}) as reader:
                events = reader.read_until_end(timeout_s=5)
                assert b"retry: " in reader.raw and b":end: limit" in reader.raw
            assert time.monotonic() - began < 2.5
            ends += 1
            messages = [e for e in events if e.get("event") == "message"]
            received += [json.loads(e["data"])["n"] for e in messages]
            if messages:
                last_id = messages[-1]["id"]
    finally:
        stop.set()
        producer.join(5)
    assert ends >= 3
    assert received == list(range(len(received))) and len(received) > 50


# --- Slow clients ---------------------------------------------------------------------------


def test_a_client_that_takes_no_data_is_let_go_after_max_blocked_s(
    serve, kafka, make_topic, broker_port, tmp_path
):
    topic = make_topic()
    kafka.produce(topic, [{"n": i, "pad": "x" * 2000} for i in range(4000)])
    # Consumers of their own, whose connections show when a stream ends (a shared tail's
    # stay tail_linger_s for the next client).
    server = serve(
        {
            "max_blocked_s": 1.5,
            "batch_size": 100,
            "queue_size": 1,
            "heartbeat_interval_s": 0.5,
            "shared_tail": False,
        }
    )
    stalled = stuck_client(server.port, f"/{topic}", start_at(topic, 1))
    try:
        time.sleep(0.5)
        assert broker_connections(server.pid, broker_port) >= 1
        # Another client meanwhile is served as usual.
        with SSEReader(
            f"{server.url}/{topic}", headers={"Last-Event-ID": start_at(topic, 1, 3990)}
        ) as other:
            assert len(other.read(10, timeout_s=5)) == 10
        deadline = time.monotonic() + 10
        while broker_connections(server.pid, broker_port) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert broker_connections(server.pid, broker_port) == 0
    finally:
        stalled.close()
    log = (tmp_path / "server-0.log").read_text()
    assert "client took no data" in log and '"end_cause": "limit"' in log


#: More than the loopback socket buffers absorb (the server's send buffer grows to 4 MB at
#: most here, the client's receive buffer is 4 KB), so the client's writer gets stuck.
STUCK_BYTES = 8 * 1024 * 1024
STUCK_RECORD = 8 * 1024


@pytest.mark.parametrize("ending", ["error", "replay_done"])
def test_a_stream_whose_source_ended_while_its_client_takes_nothing_ends_within_max_blocked_s(
    serve, kafka, make_topic, broker_port, tmp_path, ending
):
    """The source queues its end (a failing filterer, or a replay done) while the client is
    stuck: no put waits, so only the stream can see that nobody takes what is queued."""
    topic = make_topic()
    count = STUCK_BYTES // STUCK_RECORD
    # exploding_filter raises on n == 2: the last record only.
    values = [{"n": 10, "pad": "x" * STUCK_RECORD} for _ in range(count - 1)] + [{"n": 2}]
    kafka.produce(topic, values)
    # A queue that holds all of it (the subject: the end goes in, nothing waits to be queued).
    options = {"max_blocked_s": 1.5, "queue_size": 1000, "queue_bytes": 4 * STUCK_BYTES}
    query = ""
    if ending == "error":
        options["filterer"] = "exploding_filter"
    else:
        query = f"?limit={count - 1}"
    server = serve(options)
    stalled = stuck_client(server.port, f"/{topic}{query}", start_at(topic, 1))
    try:
        deadline = time.monotonic() + 10
        while "stream ended" not in (tmp_path / "server-0.log").read_text():
            assert time.monotonic() < deadline, "the stream still waits on its stuck client"
            time.sleep(0.1)
        assert broker_connections(server.pid, broker_port) == 0
    finally:
        stalled.close()
    log = (tmp_path / "server-0.log").read_text()
    assert "client took no data" in log and '"end_cause": "limit"' in log


# --- Fairness: a user hook that blocks slows only its own stream ----------------------------


def test_hooks_blocking_cooperatively_in_three_streams_do_not_stall_another_stream(
    serve, kafka, make_topic
):
    """While three streams block in their hooks (30 s from now on), a plain stream of the same
    worker gets every event, in order, and its p99 stays under one hook's block: a hook that
    blocked the worker would hold it up for that long, over and over. How little they cost
    its latency (p99 < 50 ms) is a figure of ``scripts/bench --only k``: on a loaded test
    machine a bound that tight is flaky."""
    hooked_topic = make_topic()
    plain_topic = make_topic()
    # 60 messages: each hooked stream spends 30 s in its hooks (0.5 s a message) from now on.
    kafka.produce(hooked_topic, [{"n": i} for i in range(60)])
    server = serve(
        mounts={
            "/sleepy-deserializer": {"deserializer": "sleepy_deserializer"},
            "/sleepy-filter": {"filterer": "sleepy_filter"},
        }
    )
    start = {"Last-Event-ID": start_at(hooked_topic, 1)}
    hooked = [
        SSEReader(f"{server.url}/sleepy-deserializer/{hooked_topic}", headers=start),
        SSEReader(f"{server.url}/sleepy-deserializer/{hooked_topic}", headers=start),
        SSEReader(f"{server.url}/sleepy-filter/{hooked_topic}", headers=start),
    ]
    plain = SSEReader(f"{server.url}/{plain_topic}")  # no hooks, at the end of its partition
    count, rate = 200, 20.0

    def produce() -> None:
        for n in range(count):
            kafka.produce(plain_topic, [{"n": n}])
            time.sleep(1 / rate)

    latencies_ms: list[float] = []
    received: list[int] = []
    try:
        assert plain.wait_comments(1) >= 1  # ":ok": set up
        time.sleep(1)  # the hooked streams are in their hooks
        producer = threading.Thread(target=produce, daemon=True)
        producer.start()
        while len(latencies_ms) < count:
            events = plain.read(1, timeout_s=10)
            assert events, f"the plain stream stalled after {len(latencies_ms)} events"
            received_ms = time.time() * 1000
            latencies_ms += [received_ms - m["_kafka"]["timestamp"] for m in payloads_of(events)]
            received += [m["n"] for m in payloads_of(events)]
        producer.join(10)
    finally:
        plain.close()
        for reader in hooked:
            reader.close()
    p99 = sorted(latencies_ms)[math.ceil(0.99 * count) - 1]
    print(
        f"\nplain stream beside 3 blocking hooks: p50 {statistics.median(latencies_ms):.1f} ms, "
        f"p99 {p99:.1f} ms"
    )
    assert received == list(range(count))
    assert p99 < SLEEPY_HOOK_S * 1000


# --- Graceful shutdown under gunicorn -------------------------------------------------------


def test_sigterm_to_gunicorn_ends_every_stream_cleanly_and_clients_resume_elsewhere(
    kafka, make_topic, kafka_bootstrap, tmp_path
):
    topic = make_topic(partitions=2)
    for p in range(2):
        kafka.produce(topic, [{"p": p, "seq": i} for i in range(30)], partition=p)
    config = json.dumps(
        {
            "options": {
                "kafka_config": {"bootstrap_servers": kafka_bootstrap},
                "heartbeat_interval_s": 0.5,
                "batch_size": 5,
                "queue_size": 1,
                "reconnect_spread_ms": 100,
            }
        }
    )
    env = {"TEST_APP_CONFIG": config}
    conf = [
        "-c",
        str(ROOT / "tests" / "support" / "gunicorn_test_conf.py"),
        "--graceful-timeout",
        "20",
    ]
    port = free_port()
    server = start_gunicorn(
        "tests.support.gunicorn_app:app",
        workers=2,
        extra_args=conf,
        env=env,
        log_path=tmp_path / "gunicorn.log",
        port=port,
    )
    readers = [
        SSEReader(f"{server.url}/{topic}", headers={"Last-Event-ID": start_at(topic, 2)})
        for _ in range(4)
    ]
    seen = [[] for _ in readers]
    last_ids = [start_at(topic, 2)] * len(readers)
    try:
        for i, reader in enumerate(readers):
            events = reader.read(10)
            seen[i] += payloads_of(events)
            last_ids[i] = events[-1]["id"]
        began = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        for i, reader in enumerate(readers):
            rest = [e for e in reader.read_until_end(timeout_s=15) if e.get("event") == "message"]
            seen[i] += payloads_of(rest)
            if rest:
                last_ids[i] = rest[-1]["id"]
            assert reader.ended and b"retry: " in reader.raw and b":end: shutdown" in reader.raw
        assert server.process.wait(15) == 0
        took = time.monotonic() - began
        assert took < 10, f"streams should end at once, not after graceful_timeout ({took:.1f}s)"
    finally:
        for reader in readers:
            reader.close()
        server.stop()
    # The clients resume on a new server and miss nothing.
    for p in range(2):
        kafka.produce(topic, [{"p": p, "seq": i} for i in range(30, 35)], partition=p)
    server = start_gunicorn(
        "tests.support.gunicorn_app:app", workers=1, extra_args=conf, env=env, port=port
    )
    try:
        for i in range(len(readers)):
            with SSEReader(
                f"{server.url}/{topic}", headers={"Last-Event-ID": last_ids[i]}
            ) as reader:
                remaining = 70 - len(seen[i])
                seen[i] += payloads_of(reader.read(remaining))
            per_partition = {p: [m["seq"] for m in seen[i] if m["p"] == p] for p in range(2)}
            assert per_partition == {0: list(range(35)), 1: list(range(35))}
    finally:
        server.stop()
    log = (tmp_path / "gunicorn.log").read_text()
    assert "ended" in log and "open streams" in log


# --- The slow client: paused while a many-partition topic flows --------------------------------

#: Partitions of the slow-client topic. Every event's id lists all of them (~95 bytes each),
#: so an event is ~20 KB on the wire: a queue bounded only in batches would hold megabytes.
SLOW_PARTITIONS = 200


def _rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def _stream_bound_bytes() -> int:
    """What one stream may hold, from the options the server runs with (the defaults).

    Its queue (``queue_bytes``); a batch is at most a ``queue_size``-th of that, and one is
    being formatted (its parts, their joined text, the encoded chunk), one waits to be queued
    and one is being written: five such shares. In kafka-python, one parsed fetch response
    and one arriving: ``fetch_max_bytes`` each, passed by at most one partition's
    ``max_partition_fetch_bytes``.
    """
    options = Options()
    kafka = consumer_config(options.kafka_config, "bound")
    batch = options.queue_bytes / options.queue_size
    fetch = kafka["fetch_max_bytes"] + kafka["max_partition_fetch_bytes"]
    return int(options.queue_bytes + 5 * batch + 2 * fetch)


def _hub_bound_bytes() -> int:
    """What a topic's hub may hold with the default options: its ring (which counts the
    events it formatted for its clients too) and its consumer's fetches, as a stream's."""
    kafka = consumer_config(Options().kafka_config, "bound")
    fetch = kafka["fetch_max_bytes"] + kafka["max_partition_fetch_bytes"]
    return Options().tail_ring_bytes + 2 * fetch


class _LeanReader:
    """Reads only the ``data:`` lines of an SSE body: these bodies are too big to keep."""

    def __init__(self, url: str) -> None:
        self.response = requests.get(url, stream=True, timeout=30)
        self._lines = self.response.iter_lines(chunk_size=1 << 16)
        self.bytes = 0
        assert next(self._lines) == b":ok"  # set up: its positions are fixed from here on

    def payloads(self, count: int) -> list[dict]:
        got: list[dict] = []
        for line in self._lines:
            self.bytes += len(line) + 1
            if line.startswith(b"data: "):
                got.append(json.loads(line[6:]))
                if len(got) == count:
                    break
        return got

    def close(self) -> None:
        self.response.close()


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_slow_client_paused_on_200_partitions_holds_bounded_bytes_and_gets_everything(
    serve, kafka, make_topic
):
    pause_s = float(os.environ.get("TEST_SLOW_PAUSE_S", "20"))
    per_partition = int(os.environ.get("TEST_SLOW_EVENTS_PER_PARTITION", "15"))
    total = SLOW_PARTITIONS * per_partition
    topic = make_topic(partitions=SLOW_PARTITIONS)
    server = serve()  # default options: they are what is bounded
    slow = _LeanReader(f"{server.url}/{topic}")  # both start at the end of every partition
    fast = _LeanReader(f"{server.url}/{topic}")
    baseline = _rss_kb(server.pid)
    peak = baseline
    sampling = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not sampling.is_set():
            peak = max(peak, _rss_kb(server.pid))
            time.sleep(0.02)

    def produce() -> None:
        for seq in range(per_partition):
            for partition in range(SLOW_PARTITIONS):
                kafka.producer.send(
                    topic,
                    json.dumps({"p": partition, "seq": seq, "pad": "y" * 250}).encode(),
                    partition=partition,
                )
        kafka.producer.flush()

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    began = time.monotonic()
    producer = threading.Thread(target=produce, daemon=True)
    producer.start()
    try:
        fast_seen = fast.payloads(total)
        producer.join(60)
        time.sleep(max(0.0, pause_s - (time.monotonic() - began)))
        slow_seen = slow.payloads(total)
        wire_mb = slow.bytes / 2**20
    finally:
        sampling.set()
        sampler.join(5)
        slow.close()
        fast.close()
    for seen in (fast_seen, slow_seen):
        per_partition_seqs = {p: [] for p in range(SLOW_PARTITIONS)}
        for event in seen:
            per_partition_seqs[event["p"]].append(event["seq"])
        assert per_partition_seqs == {
            p: list(range(per_partition)) for p in range(SLOW_PARTITIONS)
        }, "a client missed or repeated events"
    growth = (peak - baseline) * 1024
    # The slow stream and the fast one, and the topic's shared tail (both start at the head).
    bound = 2 * _stream_bound_bytes() + _hub_bound_bytes()
    print(
        f"\nserver RSS baseline {baseline / 1024:.1f} MB, peak {peak / 1024:.1f} MB "
        f"(+{growth / 2**20:.1f} MB; bound {bound / 2**20:.0f} MB; "
        f"{total} events, {wire_mb:.0f} MB to each client)"
    )
    assert growth <= bound, "the server buffered more than its byte bounds allow"
