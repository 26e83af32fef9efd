"""Fault paths of the default path: streams on the shared tail, every option at its default
unless it is the subject. Real broker, real gevent server, raw-socket clients.

What must hold whatever fails: the client gets a complete end it can resume from (``event:
error`` or ``retry:`` with the id), or is cut within a bound the options give; the hub lets
go of it; a resume loses and repeats nothing. Where a fault cannot be provoked from outside
on demand, the server injects it into itself (:mod:`tests.support.faults`).
"""

from __future__ import annotations

import json
import math
import selectors
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from kafka import KafkaProducer
from kafka.errors import TopicAlreadyExistsError

from kafkasse_wsgi import Options
from tests.support.apps import STUBBORN_CLEANUP_S
from tests.support.clients import SSEReader, payloads_of
from tests.support.kafka import KafkaHelper, unique_topic
from tests.support.lean_reader import DATA, dechunk, parse_events
from tests.support.private_broker import PrivateBroker, running_private_broker
from tests.support.servers import Server, broker_connections
from tests.test_reliability import _hub_bound_bytes, _rss_kb, _stream_bound_bytes
from tests.test_shared_tail import clients_on_hub, hub_of, wait_until

#: A small receive buffer for paused clients: the server's side then holds most of what a
#: paused client absorbs, and less ballast fills it.
PAUSED_RCVBUF = 4096
#: Bytes of each ballast event (one Kafka record each).
BALLAST_EVENT_BYTES = 64 * 1024


class RawStream:
    """A stream request on a raw socket that reads nothing until told: a client that stops
    reading. :meth:`read_to_end` then reads until the server ends or cuts the body."""

    def __init__(
        self, server: Server, path: str, last_event_id: str | None = None, paused: bool = True
    ) -> None:
        self.sock = socket.socket()
        if paused:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, PAUSED_RCVBUF)
        self.sock.settimeout(30)
        self.sock.connect(("127.0.0.1", server.port))
        resume = f"Last-Event-ID: {last_event_id}\r\n" if last_event_id else ""
        self.sock.sendall(
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Accept: text/event-stream\r\n{resume}\r\n".encode()
        )
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(4096)
            assert chunk, "closed before the response headers"
            head += chunk
        status, _, rest = head.partition(b"\r\n\r\n")
        assert status.split(b" ", 2)[1] == b"200", status
        self.body = bytearray(rest)
        #: The server ended the body (its last chunk arrived), rather than cutting it.
        self.complete = False
        #: The connection closed (ended or cut).
        self.closed = False

    def read_to_end(self, timeout_s: float, count: int | None = None) -> None:
        """Read until the body ends or is cut, ``count`` events arrived, or ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        seen = 0  # events, counted as in LeanReader (parsing each time would be quadratic)
        while time.monotonic() < deadline:
            self.sock.settimeout(max(0.05, min(1.0, deadline - time.monotonic())))
            try:
                chunk = self.sock.recv(1 << 18)
            except TimeoutError:
                continue
            except OSError:
                chunk = b""
            if not chunk:
                self.closed = True
                break
            # The bytes before it may hold the start of a "\ndata: " it ends.
            seen += (bytes(self.body[1 - len(DATA) :]) + chunk).count(DATA)
            self.body += chunk
            if self.body.endswith(b"\r\n0\r\n\r\n"):
                break  # the last chunk: the server ended the body (and keeps the connection)
            if count is not None and seen >= count and self.body.endswith(b"\n\n\r\n"):
                break  # the count, and the last of them whole (its chunk ends with it)
        self.complete = dechunk(bytes(self.body))[1]

    def events(self) -> list[dict[str, str]]:
        return parse_events(dechunk(bytes(self.body))[0])[0]

    def payloads(self) -> list[Any]:
        return [
            json.loads(e["data"])
            for e in self.events()
            if e.get("event", "message") == "message" and "data" in e
        ]

    def text(self) -> str:
        return dechunk(bytes(self.body))[0].decode(errors="replace")

    def close(self) -> None:
        self.sock.close()


def paused_client_absorbs() -> int:
    """What a server sends a paused client before the stream's source blocks: the server's
    socket send buffer at its largest (``tcp_wmem``), the client's small receive buffer,
    the stream's queue (``queue_bytes``) and a chunk in hand on each side of it."""
    wmem_max = int(Path("/proc/sys/net/ipv4/tcp_wmem").read_text().split()[2])
    options = Options()
    chunk = options.queue_bytes // options.queue_size
    return wmem_max + 2 * PAUSED_RCVBUF + options.queue_bytes + 2 * chunk


def produce_ballast(bootstrap: str, topic: str, count: int, first: int = 0) -> None:
    """``count`` numbered events of ``BALLAST_EVENT_BYTES`` each to partition 0."""
    pad = "x" * BALLAST_EVENT_BYTES
    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    try:
        for n in range(first, first + count):
            producer.send(topic, json.dumps({"seq": n, "pad": pad}).encode(), partition=0)
        producer.flush()
    finally:
        producer.close()


def seqs(payloads: list[Any]) -> list[int]:
    return [p["seq"] for p in payloads]


# --- 1. A Kafka error while a hub client detaches ---------------------------------------------


@pytest.mark.timeout(90)
def test_a_kafka_error_while_detaching_ends_the_stream_with_a_resumable_error(
    kafka, make_topic, serve
):
    """A hub client stops reading until the ring (``tail_ring_bytes``, default) forgot what
    it had not taken; it reads again and falls off the ring; opening its own consumer then
    fails with a Kafka error. It gets ``event: error`` with the id of the last event it
    received, its body ends, the hub lets go of it, and a resume from that id gets the rest
    once, with nothing lost."""
    topic = make_topic()
    server = serve({}, mode="server", faults=["detach_kafka_error"])
    options = Options()
    ballast = math.ceil(
        1.25 * (paused_client_absorbs() + options.tail_ring_bytes) / BALLAST_EVENT_BYTES
    )
    paused = RawStream(server, f"/{topic}")
    resumed: RawStream | None = None
    try:
        wait_until(lambda: clients_on_hub(server, topic) == 1, 10, "on the hub")
        produce_ballast(kafka.bootstrap, topic, ballast)
        wait_until(lambda: (hub_of(server, topic) or {}).get("lag") == 0, 30, "ballast read")
        paused.read_to_end(timeout_s=20)
        events = paused.events()
        errors = [e for e in events if e.get("event") == "error"]
        got = seqs(paused.payloads())
        assert paused.complete, f"not ended: {len(got)} events, then {paused.text()[-300:]!r}"
        assert len(errors) == 1 and events[-1] is errors[0], paused.text()[-500:]
        assert got == list(range(len(got))) and len(got) < ballast
        assert json.loads(errors[0]["id"]) == [{"topic": topic, "partition": 0, "offset": len(got)}]
        # Released: no client left (or, past its linger, the hub itself is gone).
        wait_until(lambda: not clients_on_hub(server, topic), 5, "released by the hub")
        resumed = RawStream(server, f"/{topic}", last_event_id=errors[0]["id"], paused=False)
        resumed.read_to_end(timeout_s=30, count=ballast - len(got))
        assert got + seqs(resumed.payloads()) == list(range(ballast))
    finally:
        paused.close()
        if resumed is not None:
            resumed.close()


# --- 2. Clean endings of a back-pressured stream ----------------------------------------------

#: The subject: a lifetime short enough to wait out, long enough for the ballast to fill the
#: paused client's socket and queue first.
LIFETIME_S = 5.0


def _back_pressured(
    kafka, make_topic, serve, **options: Any
) -> tuple[Server, str, RawStream, int, float]:
    """A server whose streams end after ``LIFETIME_S`` (unless ``options`` say otherwise),
    and a paused hub client of it whose socket and queue are full (its source waits to
    queue more) when that time comes; and when its stream had started, at the latest (its
    response's headers had come: its lifetime runs from before then)."""
    topic = make_topic()
    server = serve({"max_stream_lifetime_s": LIFETIME_S, **options}, mode="server")
    ballast = math.ceil(1.25 * paused_client_absorbs() / BALLAST_EVENT_BYTES)
    paused = RawStream(server, f"/{topic}")
    started = time.monotonic()
    wait_until(lambda: clients_on_hub(server, topic) == 1, 10, "on the hub")
    produce_ballast(kafka.bootstrap, topic, ballast)
    return server, topic, paused, ballast, started


@pytest.mark.timeout(60)
def test_a_back_pressured_stream_reaching_its_lifetime_ends_with_retry_not_cut(
    kafka, make_topic, serve
):
    """A hub client stops reading; its stream reaches ``max_stream_lifetime_s`` (the subject)
    while its queue is full. The client reads again (well within ``max_blocked_s``): it gets
    everything queued, then ``retry:`` and the end, not a cut connection; resuming from its
    last id loses and repeats nothing."""
    server, topic, paused, ballast, started = _back_pressured(kafka, make_topic, serve)
    resumed: RawStream | None = None
    try:
        # Past its lifetime counted from the stream's start (a server slow to start under
        # load must not have the client read before the end is queued).
        time.sleep(max(0.0, started + LIFETIME_S + 1 - time.monotonic()))
        paused.read_to_end(timeout_s=20)
        got = seqs(paused.payloads())
        text = paused.text()
        assert paused.complete, f"cut after {len(got)} events: {text[-200:]!r}"
        closing = text.rstrip("\n").split("\n\n")[-3:]  # retry:, the id of all sent, the end
        assert closing[0].startswith("retry: ") and closing[2] == ":end: limit", text[-300:]
        assert got == list(range(len(got))) and len(got) < ballast
        last_id = [e["id"] for e in paused.events() if "id" in e][-1]
        resumed = RawStream(server, f"/{topic}", last_event_id=last_id, paused=False)
        resumed.read_to_end(timeout_s=20, count=ballast - len(got))
        assert got + seqs(resumed.payloads()) == list(range(ballast))
    finally:
        paused.close()
        if resumed is not None:
            resumed.close()


#: The subjects of the next test: the client is cut ``max_blocked_s`` after it last took
#: data, which is more than the time from the queue filling up to the end of the lifetime
#: (its source would otherwise give up first, stalled) and less than the test may take.
CUT_LIFETIME_S = 3.0
CUT_MAX_BLOCKED_S = 5.0


@pytest.mark.timeout(60)
def test_a_back_pressured_stream_ended_while_its_client_never_reads_again_is_cut_in_time(
    kafka, make_topic, serve, tmp_path
):
    """As above, but the client does not read again: once the lifetime ended its source,
    the stream cuts it within ``max_blocked_s`` of the last data it took (its end waits for
    room meanwhile), and the hub lets go of it. What reached the client before the cut and
    a resume from the last id it got whole then hold every event once."""
    server, topic, paused, ballast, started = _back_pressured(
        kafka,
        make_topic,
        serve,
        max_stream_lifetime_s=CUT_LIFETIME_S,
        max_blocked_s=CUT_MAX_BLOCKED_S,
    )
    log = tmp_path / "server-0.log"
    try:
        bound = CUT_LIFETIME_S + CUT_MAX_BLOCKED_S + 3  # 3 s for the ballast to fill it
        wait_until(
            lambda: "stream ended (limit)" in log.read_text(),
            max(0.0, started + bound - time.monotonic()),
            "cut",
        )
        assert "client took no data" in log.read_text()
        wait_until(lambda: not clients_on_hub(server, topic), 5, "released by the hub")
        paused.read_to_end(timeout_s=20)  # what the kernel still held for it
        assert paused.closed and not paused.complete
        got = seqs(paused.payloads())
        assert got == list(range(len(got))) and len(got) < ballast
        last_id = [e["id"] for e in paused.events() if "id" in e][-1]
        resumed = RawStream(server, f"/{topic}", last_event_id=last_id, paused=False)
        try:
            resumed.read_to_end(timeout_s=20, count=ballast - len(got))
            assert got + seqs(resumed.payloads()) == list(range(ballast))
        finally:
            resumed.close()
    finally:
        paused.close()


# --- 3. A failure between the setup and the first byte ----------------------------------------


def debug_of(server: Server) -> dict[str, Any]:
    return dict(requests.get(f"{server.url}/_debug", timeout=10).json())


@pytest.mark.parametrize("fault", ["stream_setup_fails", "start_response_fails"])
def test_a_failure_after_the_setup_before_the_first_byte_leaks_nothing(
    kafka, make_topic, serve, fault
):
    """Building the response fails (a bug), or the server's ``start_response`` raises, once
    a stream is admitted and set up: at the head (attached to the hub) and resuming (its own
    consumer as well). The client gets a 500, and the stream holds nothing any more: no
    admission place, no consumer, no place on the hub."""
    topic = make_topic()
    kafka.produce(topic, [{"seq": n} for n in range(3)])
    server = serve({}, mode="server", faults=[fault])
    head = requests.get(f"{server.url}/{topic}", timeout=15)
    resume = requests.get(
        f"{server.url}/{topic}",
        headers={"Last-Event-ID": json.dumps([{"topic": topic, "partition": 0, "offset": 1}])},
        timeout=15,
    )
    assert (head.status_code, resume.status_code) == (500, 500), (head.text, resume.text)
    debug = debug_of(server)
    assert (debug["admitted"], debug["private_consumers"]) == (0, 0), debug
    assert not clients_on_hub(server, topic)
    if fault == "stream_setup_fails":  # a 500 as any failed setup: JSON, no stack trace
        assert head.json()["name"] == "KafkaSSEError", head.text


# --- 4. A consumer closed while its greenlet still runs ---------------------------------------

#: The subject: the hub closes this soon after its last client left (default 10 s).
QUICK_LINGER_S = 1.0


@pytest.mark.timeout(60)
def test_a_hub_closes_its_consumer_only_once_its_greenlet_is_gone(
    kafka, make_topic, serve, tmp_path, broker_port
):
    """A hub's deserializer holds its greenlet past the kill (``STOP_TIMEOUT_S``) when the
    hub closes after its linger: the consumer stays open for it until it is done, the
    greenlet then ends without touching a closed consumer, and the consumer's connections
    are gone after that."""
    topic = make_topic()
    server = serve(
        {"deserializer": "stubborn_deserializer", "tail_linger_s": QUICK_LINGER_S}, mode="server"
    )
    stop = threading.Event()

    def produce() -> None:  # faster than the deserializer: it is always busy
        n = 0
        while not stop.is_set():
            kafka.produce(topic, [{"seq": n}])
            n += 1
            time.sleep(0.1)

    producer = threading.Thread(target=produce, daemon=True)
    try:
        with SSEReader(f"{server.url}/{topic}", timeout_s=30) as reader:
            wait_until(lambda: clients_on_hub(server, topic) == 1, 10, "on the hub")
            producer.start()
            assert len(reader.read(1, timeout_s=15)) == 1
        wait_until(lambda: hub_of(server, topic) is None, QUICK_LINGER_S + 10, "hub closed")
        # The kill waited STOP_TIMEOUT_S, the deserializer needs STUBBORN_CLEANUP_S.
        time.sleep(STUBBORN_CLEANUP_S + 1)
    finally:
        stop.set()
    log = (tmp_path / "server-0.log").read_text()
    assert "outlived its kill" in log  # the subject happened: the kill did not end it
    assert "unexpected error in the hub" not in log, log[-2000:]
    assert "Kafka error while streaming" not in log, log[-2000:]
    wait_until(lambda: broker_connections(server.pid, broker_port) == 0, 5, "consumer closed")


# --- 5. A missing topic at the head -----------------------------------------------------------


def test_a_missing_topic_at_the_head_costs_one_consumer_at_most(kafka, make_topic, serve):
    """A stream at the head of a topic that does not exist, alone or beside one whose hub
    is open, is a 404 as on a consumer of its own, for the cost of one consumer at most:
    the hub's look at the cluster's topics answers it."""
    topic = make_topic()
    server = serve({}, mode="server")
    with SSEReader(f"{server.url}/{topic}", timeout_s=15) as reader:
        assert reader.status == 200
        for path in (f"{topic},no-such-topic-{topic}", f"no-such-topic-{topic}"):
            before = debug_of(server)["consumers_opened"]
            response = requests.get(f"{server.url}/{path}", timeout=15)
            assert response.status_code == 404, response.text
            assert response.json()["name"] == "TopicNotAvailableError", response.text
            assert debug_of(server)["consumers_opened"] - before <= 1, path


# --- 6. A resume inside the ring --------------------------------------------------------------


def test_a_resume_inside_the_ring_reads_from_it_without_a_consumer_of_its_own(
    kafka, make_topic, serve
):
    """A client resumes from an id whose every next offset the hub's ring still holds (a
    reconnect after a moment away): it starts on the hub at once, opening no consumer, and
    gets every event after its id once."""
    topic = make_topic(partitions=2)
    server = serve({}, mode="server")
    with SSEReader(f"{server.url}/{topic}", timeout_s=20) as head:
        wait_until(lambda: clients_on_hub(server, topic) == 1, 10, "on the hub")
        for p in range(2):
            kafka.produce(topic, [{"seq": n} for n in range(10)], partition=p)
        assert len(head.read(20)) == 20
        before = debug_of(server)["consumers_opened"]
        last_id = json.dumps(
            [
                {"topic": topic, "partition": 0, "offset": 4},
                {"topic": topic, "partition": 1, "offset": 7},
            ]
        )
        with SSEReader(
            f"{server.url}/{topic}", headers={"Last-Event-ID": last_id}, timeout_s=20
        ) as resumed:
            got = resumed.read(6 + 3)
            for p in range(2):
                kafka.produce(topic, [{"seq": n} for n in range(10, 12)], partition=p)
            got += resumed.read(4)
            assert clients_on_hub(server, topic) == 2
        opened = debug_of(server)["consumers_opened"] - before
    by_partition: dict[int, list[int]] = {0: [], 1: []}
    for event in got:
        by_partition[json.loads(event["data"])["_kafka"]["partition"]].append(
            json.loads(event["data"])["seq"]
        )
    assert by_partition == {0: list(range(4, 12)), 1: list(range(7, 12))}
    assert opened == 0


# --- End to end: a client that stops reading --------------------------------------------------


@pytest.mark.timeout(90)
def test_a_hub_client_that_stops_reading_costs_bounded_memory_and_loses_nothing(
    kafka, make_topic, serve
):
    """Default options. One hub client stops reading while more than the ring holds
    (``tail_ring_bytes``) flows; another reads along. The worker's memory stays within what
    the options bound (two streams and the hub), the reader gets every event as it comes,
    and the paused client, reading again, detaches to a consumer of its own at its exact
    position, catches up and gets every event once."""
    topic = make_topic()
    server = serve({}, mode="server")
    ballast = math.ceil(
        1.25 * (paused_client_absorbs() + Options().tail_ring_bytes) / BALLAST_EVENT_BYTES
    )
    paused = RawStream(server, f"/{topic}")
    reader = RawStream(server, f"/{topic}", paused=False)
    baseline = peak = _rss_kb(server.pid)
    sampling = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not sampling.is_set():
            peak = max(peak, _rss_kb(server.pid))
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    try:
        wait_until(lambda: clients_on_hub(server, topic) == 2, 10, "both on the hub")
        sampler.start()
        producer = threading.Thread(
            target=produce_ballast, args=(kafka.bootstrap, topic, ballast), daemon=True
        )
        producer.start()
        reader.read_to_end(timeout_s=40, count=ballast)
        producer.join(30)
        wait_until(lambda: (hub_of(server, topic) or {}).get("lag") == 0, 30, "all read")
        paused.read_to_end(timeout_s=40, count=ballast)
    finally:
        sampling.set()
        paused.close()
        reader.close()
    assert seqs(reader.payloads()) == list(range(ballast)), "the reader missed events"
    assert seqs(paused.payloads()) == list(range(ballast)), "the paused client missed events"
    hub = hub_of(server, topic)
    assert hub is not None and hub["detaches"] == {"slow": 1}, hub
    growth = (peak - baseline) * 1024
    bound = 2 * _stream_bound_bytes() + _hub_bound_bytes()
    print(f"\nserver RSS +{growth / 2**20:.1f} MB (bound {bound / 2**20:.0f} MB)")
    assert growth <= bound, "the server buffered more than its byte bounds allow"


# --- End to end: the hub's consumer fails -----------------------------------------------------


@pytest.mark.timeout(60)
def test_hub_clients_end_resumably_when_the_hubs_consumer_fails(kafka, make_topic, serve):
    """The hub's consumer fails with a Kafka error mid-stream. Each of its clients gets what
    it had, then ``event: error`` with the id of the last event it got; resuming with it
    (through a consumer of its own, then the new hub) loses and repeats nothing."""
    topic = make_topic(partitions=2)
    server = serve({}, mode="server", faults=["hub_poll_fails"])
    readers = [SSEReader(f"{server.url}/{topic}", timeout_s=30) for _ in range(3)]
    resumed: list[SSEReader] = []
    try:
        wait_until(lambda: clients_on_hub(server, topic) == 3, 10, "on the hub")
        for p in range(2):
            kafka.produce(topic, [{"seq": n} for n in range(5)], partition=p)
        seen = [payloads_of(reader.read(10)) for reader in readers]
        kafka.produce(topic, [{"seq": 5, "hub_fault": True}], partition=0)
        ends = [reader.read_until_end(timeout_s=15) for reader in readers]
        for reader, events in zip(readers, ends, strict=True):
            assert reader.ended and [e["event"] for e in events] == ["error"], events
            error = json.loads(events[0]["data"])
            # Said as what it is: a Kafka error, not an internal one.
            assert error["name"] == "KafkaStreamError", error
            assert error["message"] == "Kafka error while streaming: KafkaConnectionError", error
        error_ids = {events[0]["id"] for events in ends}
        assert [json.loads(i) for i in error_ids] == [
            [{"topic": topic, "partition": p, "offset": 5} for p in range(2)]
        ]
        resumed = [
            SSEReader(f"{server.url}/{topic}", headers={"Last-Event-ID": i}, timeout_s=30)
            for i in [ends[0][0]["id"]] * len(readers)
        ]
        kafka.produce(topic, [{"seq": 5}, {"seq": 6}], partition=1)
        kafka.produce(topic, [{"seq": 6}], partition=0)
        for events, reader in zip(seen, resumed, strict=True):
            events += payloads_of(reader.read(4))
    finally:
        for reader in [*readers, *resumed]:
            reader.close()
    for events in seen:
        by_partition = {
            p: [e["seq"] for e in events if e["_kafka"]["partition"] == p] for p in (0, 1)
        }
        assert by_partition == {0: list(range(7)), 1: list(range(7))}


# --- End to end: the log truncated under the hub ----------------------------------------------


def _recreate(kafka, topic: str, timeout_s: float = 15) -> None:
    """Delete ``topic`` and create it again, empty: its log now ends before the offsets
    read from it (as after a truncation)."""
    kafka.delete_topics([topic])
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            kafka.create_topic(topic, 1)
            return
        except TopicAlreadyExistsError:  # deletion is asynchronous
            assert time.monotonic() < deadline, f"{topic} still exists"
            time.sleep(0.2)


@pytest.mark.timeout(60)
def test_hub_clients_end_resumably_when_the_log_is_truncated_under_the_head(
    kafka, make_topic, serve
):
    """The topic's log goes back under the hub (deleted and created again: its next
    offset is now past the end, ``OffsetOutOfRange``). Its clients get ``event: error``
    with the id of the last event they got, and the hub is gone; resuming with that id
    reads through a consumer of its own: ``event: reset`` says where it serves from (the
    resume policy, default ``too_new: latest``), then the new log's events."""
    topic = make_topic()
    server = serve({}, mode="server")
    readers = [SSEReader(f"{server.url}/{topic}", timeout_s=30) for _ in range(2)]
    resumed: SSEReader | None = None
    try:
        wait_until(lambda: clients_on_hub(server, topic) == 2, 10, "on the hub")
        kafka.produce(topic, [{"seq": n} for n in range(5)])
        for reader in readers:
            assert [e["seq"] for e in payloads_of(reader.read(5))] == list(range(5))
        _recreate(kafka, topic)
        for reader in readers:
            events = reader.read_until_end(timeout_s=15)
            assert reader.ended and [e["event"] for e in events] == ["error"], events
            assert json.loads(events[0]["data"])["name"] == "KafkaStreamError", events
            assert json.loads(events[0]["id"]) == [{"topic": topic, "partition": 0, "offset": 5}]
        wait_until(lambda: hub_of(server, topic) is None, 5, "the hub gone")
        resumed = SSEReader(
            f"{server.url}/{topic}", headers={"Last-Event-ID": events[0]["id"]}, timeout_s=30
        )
        assert resumed.status == 200
        reset = resumed.read(1, types=("reset",))
        assert [json.loads(e["data"])["requested_offset"] for e in reset] == [5], reset
        assert json.loads(reset[0]["data"])["served_offset"] == 0
        kafka.produce(topic, [{"seq": "new"}])
        assert [e["seq"] for e in payloads_of(resumed.read(1))] == ["new"]
    finally:
        for reader in [*readers, *([resumed] if resumed else [])]:
            reader.close()


# --- End to end: a broker outage under many hub clients ---------------------------------------

#: Hub clients through the outage (the issue asks for 500 on a worker; this many keep the
#: test quick here, with the same path for each).
OUTAGE_CLIENTS = 200


class _Many:
    """Many stream requests at the head, read together on one selector: each counts the
    events it got (``\\ndata: ``) and keeps its body."""

    def __init__(self, server: Server, path: str, count: int) -> None:
        self.streams = [RawStream(server, path, paused=False) for _ in range(count)]
        self.seen = [0] * count
        self.selector = selectors.DefaultSelector()
        for i, stream in enumerate(self.streams):
            stream.sock.setblocking(False)
            self.selector.register(stream.sock, selectors.EVENT_READ, i)

    def read(self, events_each: int, timeout_s: float) -> None:
        """Until every stream has ``events_each`` events in all (or the deadline)."""
        deadline = time.monotonic() + timeout_s
        while min(self.seen) < events_each and time.monotonic() < deadline:
            for key, _ in self.selector.select(timeout=0.5):
                stream = self.streams[key.data]
                try:
                    chunk = stream.sock.recv(1 << 16)
                except BlockingIOError:
                    continue
                if not chunk:
                    stream.closed = True
                    self.selector.unregister(stream.sock)
                    continue
                self.seen[key.data] += (bytes(stream.body[1 - len(DATA) :]) + chunk).count(DATA)
                stream.body += chunk

    def close(self) -> None:
        self.selector.close()
        for stream in self.streams:
            stream.close()


@pytest.fixture(scope="module")
def outage_broker(kafka_bootstrap) -> Iterator[PrivateBroker]:
    with running_private_broker() as broker:
        yield broker


@pytest.mark.timeout(120)
def test_many_hub_clients_ride_out_a_broker_outage_and_continue_exactly(outage_broker, serve):
    """A broker restart (a few seconds) under ``OUTAGE_CLIENTS`` clients of one hub, with
    default options (``broker_outage_timeout_s`` 60): none ends, none detaches, and every
    one gets every event of before and after once."""
    broker = outage_broker
    helper = KafkaHelper(broker.bootstrap)
    topic = unique_topic("tail-outage")
    helper.create_topic(topic, 2)
    server = serve({"kafka_config": {"bootstrap_servers": broker.bootstrap}}, mode="server")
    many = _Many(server, f"/{topic}", OUTAGE_CLIENTS)
    try:
        wait_until(lambda: clients_on_hub(server, topic) == OUTAGE_CLIENTS, 20, "on the hub")
        for p in range(2):
            helper.produce(topic, [{"seq": n} for n in range(3)], partition=p)
        helper.close()
        many.read(6, timeout_s=20)
        assert min(many.seen) == 6, sorted(many.seen)[:5]
        broker.stop()
        broker.start(keep_data=True)
        helper = KafkaHelper(broker.bootstrap)
        for p in range(2):
            helper.produce(topic, [{"seq": n} for n in range(3, 6)], partition=p)
        helper.close()
        many.read(12, timeout_s=60)
        hub = hub_of(server, topic)
    finally:
        many.close()
    assert not any(stream.closed for stream in many.streams), "a hub client was cut"
    for stream in many.streams:
        by_partition: dict[int, list[int]] = {p: [] for p in range(2)}
        for payload in stream.payloads():
            by_partition[payload["_kafka"]["partition"]].append(payload["seq"])
        assert by_partition == {0: list(range(6)), 1: list(range(6))}
    assert hub is not None and hub["clients"] == OUTAGE_CLIENTS, hub
    assert hub["detaches"] == {} and hub["handoffs"] == 0, hub
