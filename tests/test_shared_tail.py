"""The shared live tail (issue 10), proven with a real broker, real servers, real clients.

Streams at the head of a topic share one consumer per topic per process (a hub, with a ring
of recent events); a stream that resumes reads through a consumer of its own until it has
caught up, then hands off to the hub; a hub client that falls off the ring goes back to a
consumer of its own. What must hold, whatever happens around a handoff:

* churn: clients cut again and again while they hand off lose and repeat nothing;
* a paused hub client does not hold the others up, and gets everything once it reads again
  (how little it costs their latency, p99 < 50 ms, is measured by ``scripts/bench --only k``,
  where a loaded test machine does not make it flaky);
* a broker restart under a hub: its clients continue exactly, or past
  ``broker_outage_timeout_s`` end with ``event: error`` and an id they resume with;
* a hub without clients is gone (consumer, connections, greenlets) after ``tail_linger_s``,
  and the broker never hears of a consumer group;
* clients at the head cost no broker connection; ``shared_tail=False`` restores one
  consumer per stream.

Every test checks, through ``/_tail``, the metrics or the server's log, that the mechanism
it is about really ran: a churn test that passes without a single handoff proves nothing.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import random
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from kafka import KafkaProducer

from kafkasse_wsgi import Options
from kafkasse_wsgi._kafka_config import consumer_config
from kafkasse_wsgi._stopping import STOP_TIMEOUT_S
from tests.support.chaos_proxy import ChaosProxy
from tests.support.clients import SSEReader, parse_block, payloads_of
from tests.support.kafka import KafkaHelper, unique_topic
from tests.support.lean_reader import LeanReader
from tests.support.numbered import PARTITIONS, NumberedProducer, check_ids, describe_mismatch
from tests.support.private_broker import PrivateBroker
from tests.support.servers import ROOT, Server, broker_connections, start_cli

# --- Looking at the server ------------------------------------------------------------------


def hubs_of(server: Server) -> list[dict[str, Any]]:
    """The server's hubs as ``GET /_tail`` describes them."""
    response = requests.get(f"{server.url}/_tail", timeout=10)
    assert response.status_code == 200, response.text
    return list(response.json()["hubs"])


def hub_of(server: Server, topic: str) -> dict[str, Any] | None:
    return next((hub for hub in hubs_of(server) if hub["topic"] == topic), None)


def clients_on_hub(server: Server, topic: str) -> int | None:
    hub = hub_of(server, topic)
    return None if hub is None else int(hub["clients"])


def greenlets_of(server: Server) -> int:
    return int(requests.get(f"{server.url}/_debug", timeout=10).json()["greenlets"])


def metric(server: Server, name: str) -> float:
    """One unlabelled sample of ``/metrics`` (0 when it is not there yet)."""
    for line in requests.get(f"{server.url}/metrics", timeout=10).text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return 0.0


def log_records(path: Path) -> list[dict[str, Any]]:
    """The JSON lines of a server log (anything else it printed is left out)."""
    records = []
    for line in path.read_text().splitlines():
        with contextlib.suppress(ValueError):
            record = json.loads(line)
            if isinstance(record, dict):
                records.append(record)
    return records


def wait_until(condition: Callable[[], Any], timeout_s: float, what: str) -> Any:
    """``condition()``'s first truthy value, polled every 50 ms."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"not {what} within {timeout_s}s")
        time.sleep(0.05)


def start_id(topic: str, offsets: dict[int, int]) -> str:
    return json.dumps(
        [{"topic": topic, "partition": p, "offset": o} for p, o in sorted(offsets.items())],
        separators=(",", ":"),
    )


def seqs_by_partition(payloads: list[dict[str, Any]]) -> dict[int, list[int]]:
    seqs: dict[int, list[int]] = {}
    for payload in payloads:
        seqs.setdefault(payload["_kafka"]["partition"], []).append(payload["seq"])
    return seqs


# --- 1. Churn across handoffs -----------------------------------------------------------------

#: Connections the chaos proxy cuts in a run (the issue asks for at least 200 per CI run).
TAIL_CUTS = int(os.environ.get("TEST_TAIL_CUTS", "200"))
CHURN_BUDGET_S = 45 * max(1, TAIL_CUTS / 200)
#: Clients of the churn, each a thread making one request after the other.
CHURN_LANES = 8
#: Events per busy partition written before the hub opens: its ring starts after them, so
#: a resume among them reads through its own consumer before it hands off.
HISTORY = 100
#: Events the quiet partition holds before the hub opens.
QUIET_HISTORY = 5
#: How often a request starts a new chain at a random point instead of resuming its own.
NEW_CHAIN_RATIO = 0.5
#: A read this long without a byte ends a request on the client's side (the producer
#: writes every 60 ms at most: only a caught-up client, at the end, waits this long).
LANE_READ_TIMEOUT_S = 2.0


class _Chain:
    """Requests of one lane that resume each other: from ``start`` (offsets per partition),
    each with the last id the one before received. Records ``(seq, offset, timestamp, id)``
    per partition, as :func:`~tests.support.numbered.check_ids` reads them."""

    def __init__(self, topic: str, start: dict[int, int]) -> None:
        self.start = start
        self.last_id = start_id(topic, start)
        self.received: dict[int, list[tuple[int, int, int, str]]] = {
            p: [] for p in range(PARTITIONS)
        }

    def next_seqs(self) -> dict[int, int]:
        return {p: self.start[p] + len(items) for p, items in self.received.items()}


class _Lane(threading.Thread):
    """One client of the churn: requests one after the other through the chaos proxy, each
    with its own ``X-Request-ID`` (so the server's log of it can be matched), resuming its
    chain's last id or, at random, starting a new chain at ``pick_start()``. SSE is parsed
    as a browser does: a block counts once its blank line arrived; an id without data still
    moves the last id on."""

    def __init__(
        self,
        number: int,
        url: str,
        topic: str,
        pick_start: Callable[[], dict[int, int]],
        seed: int,
        stop: threading.Event,
        done: Callable[[_Chain], bool],
    ) -> None:
        super().__init__(name=f"churn-lane-{number}", daemon=True)
        self.number = number
        self.url = url
        self.topic = topic
        self.pick_start = pick_start
        self.random = random.Random(seed * 100 + number)
        self.stop = stop
        self.done = done
        self.chains = [_Chain(topic, pick_start())]
        #: Events received on each request, by X-Request-ID.
        self.per_request: dict[str, int] = {}
        self.statuses: list[int] = []
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            requests_made = 0
            while not (self.stop.is_set() and self.done(self.chains[-1])):
                if not self.stop.is_set() and self.random.random() < NEW_CHAIN_RATIO:
                    self.chains.append(_Chain(self.topic, self.pick_start()))
                rid = f"lane{self.number}-{requests_made}"
                requests_made += 1
                self._request(self.chains[-1], rid)
        except BaseException as exc:  # reported by the test
            self.error = exc

    def _request(self, chain: _Chain, rid: str) -> None:
        self.per_request[rid] = 0
        headers = {"Last-Event-ID": chain.last_id, "X-Request-ID": rid}
        try:
            with requests.get(
                self.url, headers=headers, stream=True, timeout=(5, LANE_READ_TIMEOUT_S)
            ) as response:
                if response.status_code != 200:
                    self.statuses.append(response.status_code)
                    time.sleep(0.1)
                    return
                buffer = b""
                for chunk in response.iter_content(chunk_size=None):
                    *blocks, buffer = (buffer + chunk).split(b"\n\n")
                    for block in blocks:
                        self._take(chain, rid, block)
                    if self.stop.is_set() and self.done(chain):
                        return
        except (requests.RequestException, OSError):
            pass  # cut: resume

    def _take(self, chain: _Chain, rid: str, block: bytes) -> None:
        fields = parse_block(block.decode())
        if "id" in fields:
            chain.last_id = fields["id"]
        if "data" not in fields:
            return
        assert fields.get("event", "message") == "message", fields
        data = json.loads(fields["data"])
        meta = data["_kafka"]
        chain.received[data["p"]].append(
            (data["seq"], meta["offset"], meta["timestamp"], fields["id"])
        )
        self.per_request[rid] += 1


# Alone: beside other tests' load the requests hand off a third as often (31-37 handoffs of
# ~210 requests, against 74-105 alone), and the cuts' spread over the phases, which this
# test must show to mean anything, thins below a tenth.
@pytest.mark.serial
@pytest.mark.timeout(int(CHURN_BUDGET_S + 70))
def test_churn_across_handoffs_loses_and_repeats_nothing(
    kafka, make_topic, serve, broker_port, tmp_path
):
    """Clients read a 3-partition topic (partition 2 quiet) through the chaos proxy while a
    producer writes, each request resuming with a ``Last-Event-ID``: its chain's own (inside
    the hub's ring: it starts on the hub), or a random point among the events written before
    the hub opened (behind the ring's start: it reads through its own consumer, then hands
    off mid-stream). The proxy cuts every connection at a random byte or moment: in the
    setup, inside what the request's own consumer sent, at the handoff, after it. Per
    partition, every chain must receive each event once, in order, and the last chain of
    each client everything to the end. The server's log says, per request, how many events
    came before its handoff; the client, how many it received: where each cut fell."""
    seed = int(time.time()) % 100_000
    topic = make_topic(partitions=PARTITIONS)
    server = serve(mode="server")
    producer = NumberedProducer(kafka, topic, seed, timestamps=False)
    for partition, count in {0: HISTORY, 1: HISTORY, 2: QUIET_HISTORY}.items():
        producer.send(partition, count)
    # A client at the head opens the hub: its ring starts after the history. It reads
    # everything from there, on the hub throughout.
    anchor = SSEReader(f"{server.url}/{topic}", timeout_s=60)
    wait_until(lambda: clients_on_hub(server, topic) == 1, 10, "on the hub")
    producer.send(2, 1)
    anchor_seen = payloads_of(anchor.read(1))
    hub_connections = broker_connections(server.pid, broker_port)  # the hub has fetched
    quiet_before = producer.produced[2]
    picker = random.Random(seed)
    picker_lock = threading.Lock()

    def pick_start() -> dict[int, int]:
        with picker_lock:
            return {
                0: picker.randint(0, HISTORY),
                1: picker.randint(0, HISTORY),
                2: picker.randint(0, QUIET_HISTORY),
            }

    stop = threading.Event()
    produced: dict[int, int] = {}

    def caught_up(chain: _Chain) -> bool:
        return bool(produced) and chain.next_seqs() == produced

    with ChaosProxy(
        server.port, seed=seed, max_bytes=150_000, min_ms=10, max_ms=400, early_ratio=0.05
    ) as proxy:
        lanes = [
            _Lane(n, f"{proxy.url}/{topic}", topic, pick_start, seed, stop, caught_up)
            for n in range(CHURN_LANES)
        ]
        try:
            producer.start()
            for lane in lanes:
                lane.start()
            churn_began = time.monotonic()
            deadline = churn_began + CHURN_BUDGET_S
            while time.monotonic() < deadline and producer.error is None:
                quiet_spoke = producer.produced[2] > quiet_before  # under churn too
                if proxy.stats.snapshot()["cuts"] >= TAIL_CUTS and quiet_spoke:
                    break
                time.sleep(0.2)
            churn_s = time.monotonic() - churn_began
            producer.stop()
            assert producer.error is None, repr(producer.error)
            proxy.enabled = False
            produced.update(producer.produced)
            stop.set()
            for lane in lanes:
                lane.join(30)
        finally:
            stop.set()
        stats = proxy.stats.snapshot()
    try:
        anchor_seen += payloads_of(
            anchor.read(sum(produced.values()) - 2 * HISTORY - QUIET_HISTORY - 1, timeout_s=30)
        )
        # Every request has ended, and with it every consumer of its own: the hub's remain.
        wait_until(
            lambda: broker_connections(server.pid, broker_port) == hub_connections,
            15,
            f"back to the hub's {hub_connections} broker connection(s)",
        )
    finally:
        anchor.close()
    hub = hub_of(server, topic)
    assert hub is not None
    records = log_records(tmp_path / "server-0.log")
    # Per request: how many events it sent from its own consumer before its handoff.
    handoff_prefix = f"handed off to the shared tail of {topic} after "
    private_events = {
        r["request_id"]: int(r["message"][len(handoff_prefix) :].split()[0])
        for r in records
        if r["message"].startswith(handoff_prefix)
    }
    # A resume whose every next offset was still in the ring starts on the hub: no handoff,
    # as if it handed off before its first event.
    started_on_hub = {
        r["request_id"] for r in records if r["message"] == f"stream on the shared tail of {topic}"
    } - set(private_events)
    ended = {r.get("request_id") for r in records if r["message"].startswith("stream ended")}
    per_request = {rid: n for lane in lanes for rid, n in lane.per_request.items()}
    # Where each cut fell, from what the client received on that request.
    cut_at = {
        "setup_or_own_consumer": len(ended - set(private_events) - started_on_hub - {None}),
        "inside_own": 0,
        "at_handoff": 0,
        "after_handoff": 0,
    }
    on_hub_after = {**dict.fromkeys(started_on_hub, 0), **private_events}
    for rid, sent_privately in on_hub_after.items():
        received = per_request.get(rid)
        if received is None or rid not in ended:
            continue
        if received < sent_privately:
            cut_at["inside_own"] += 1
        elif received == sent_privately:
            cut_at["at_handoff"] += 1
        else:
            cut_at["after_handoff"] += 1
    figures = {
        "seed": seed,
        "proxy_cuts": stats["cuts"],
        "proxy_cuts_before_response": stats["cuts_early"],
        "requests": len(per_request),
        "chains": sum(len(lane.chains) for lane in lanes),
        "produced": produced,
        "events_checked": sum(per_request.values()),
        "hub_handoffs": hub["handoffs"],
        "handoffs_after_private_events": sum(1 for n in private_events.values() if n),
        "started_in_the_ring": len(started_on_hub & set(per_request)),
        "hub_detaches": hub["detaches"],
        "metric_handoffs": metric(server, "kafkasse_tail_handoffs_total"),
        "cuts": cut_at,
        "churn_s": round(churn_s, 1),
    }
    print("\nshared-tail churn: " + json.dumps(figures))
    for lane in lanes:
        assert lane.error is None, repr(lane.error)
        assert not lane.is_alive(), f"lane {lane.number} did not catch up: {figures}"
        for n, chain in enumerate(lane.chains):
            for partition in range(PARTITIONS):
                seqs = [item[0] for item in chain.received[partition]]
                first = chain.start[partition]
                last = produced[partition] if chain is lane.chains[-1] else first + len(seqs)
                expected = list(range(first, last))
                if seqs != expected:
                    pytest.fail(
                        f"lane {lane.number} chain {n} partition {partition}: "
                        f"{describe_mismatch(seqs, expected, chain.received[partition])}"
                        f"\nfigures: {figures}"
                    )
            check_ids(topic, chain.received, "offset")
    anchor_seqs = seqs_by_partition(anchor_seen)
    history = {0: HISTORY, 1: HISTORY, 2: QUIET_HISTORY}
    assert {p: anchor_seqs.get(p, []) for p in range(PARTITIONS)} == {
        p: list(range(history[p], n)) for p, n in produced.items()
    }, "the client on the hub throughout missed or repeated events"
    assert stats["cuts"] >= TAIL_CUTS, figures
    assert produced[2] > quiet_before + 3 and min(produced[0], produced[1]) > HISTORY + 100, figures
    # The handoffs really happened, mid-stream too, and the cuts fell on every side of them.
    assert hub["handoffs"] == len(private_events) == figures["metric_handoffs"], figures
    assert figures["handoffs_after_private_events"] >= TAIL_CUTS // 10, figures
    assert cut_at["inside_own"] >= TAIL_CUTS // 10, figures
    assert cut_at["at_handoff"] >= 1, figures
    assert cut_at["after_handoff"] >= TAIL_CUTS // 10, figures


# --- 1b. Catching up to the hub beside quiet partitions -----------------------------------------

#: Events behind the tail on one partition, the others quiet: several fetch responses' worth
#: (``fetch_max_bytes``, 1 MB) to catch up before the handoff.
BACKLOG = 12_000


@pytest.mark.serial  # the whole catch-up within one fetch_max_wait_ms: no load beside it
@pytest.mark.timeout(60)
def test_a_resume_catches_up_one_busy_partition_beside_quiet_ones_without_waiting(
    kafka, make_topic, serve
):
    """A resume far behind on one partition of a topic whose other partitions are quiet (as
    on most topics some are) reads through its own consumer until it can hand off: it must
    never sit waiting while its records are in Kafka. Its consumer asks for every partition
    it has no records buffered for: a poll that leaves records of the busy one buffered
    (fewer records per poll than a fetch brings) sends a fetch for the quiet ones only,
    which the broker holds ``fetch_max_wait_ms``, and the busy one waits behind it. The
    whole catch-up must take less than one such wait. (The hub polls the same way, since
    its batches are a pump's: a burst it falls behind on waits the same.)"""
    topic = make_topic(partitions=3)
    values = [json.dumps({"seq": i, "pad": "y" * 250}).encode() for i in range(BACKLOG)]
    for value in values:
        kafka.producer.send(topic, value, partition=0)
    kafka.producer.flush()
    server = serve(mode="server")
    reader = LeanReader(
        f"{server.url}/{topic}",
        BACKLOG,
        timeout_s=60,
        last_event_id=start_id(topic, dict.fromkeys(range(3), 0)),
    )
    try:
        reader.go()
        got = reader.result()
    finally:
        reader.close()
    wait_s = consumer_config(Options().kafka_config, "bound")["fetch_max_wait_ms"] / 1000
    print(f"\n{BACKLOG} events behind on 1 of 3 partitions caught up in {reader.took_s:.1f} s")
    assert seqs_by_partition(got["payloads"]) == {0: list(range(BACKLOG))}
    assert hub_of(server, topic) is not None and hub_of(server, topic)["handoffs"] == 1
    assert reader.took_s is not None and reader.took_s < wait_s


# --- 2. A paused hub client -------------------------------------------------------------------

#: Hub clients that keep reading while one is paused.
READERS = 100
#: Numbered ticks to partitions 0 and 1, at this rate (events/s), for this long.
TICK_RATE = 50
TICK_S = 6
#: The subject: a ring this small (in events) that the paused client falls off it in seconds.
RING_EVENTS = 200
#: Bytes of each event of the ballast (partition 2) that fills the paused client's buffers.
BALLAST_EVENT_BYTES = 8 * 1024
TICK_FILTER = "kind == 'tick'"


def _bytes_a_paused_client_absorbs() -> int:
    """What the server sends a client that reads nothing before the client's source blocks:
    the server's socket send buffer at its largest (``tcp_wmem``), the client's receive
    buffer (``tcp_rmem``, not grown: nothing reads it), the stream's queue (``queue_bytes``)
    and a chunk in hand on each side of it. An upper bound: the kernel counts overhead too."""
    wmem_max = int(Path("/proc/sys/net/ipv4/tcp_wmem").read_text().split()[2])
    rmem_default = int(Path("/proc/sys/net/ipv4/tcp_rmem").read_text().split()[1])
    options = Options()
    chunk = options.queue_bytes // options.queue_size
    return wmem_max + rmem_default + options.queue_bytes + 2 * chunk


def _run_load_client(spec: dict[str, Any]) -> subprocess.Popen:
    """The benchmark's load client (raw sockets, one greenlet per stream, its own process):
    many streams read without the test process being the limit."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.Popen(
        [sys.executable, "-m", "scripts.bench_lib.client", json.dumps(spec)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.timeout(120)
def test_a_paused_hub_client_falls_off_the_ring_while_100_others_get_every_tick(
    kafka, make_topic, serve, tmp_path
):
    """One hub client stops reading its socket; 100 others read. The hub never waits for
    it: its ring (``tail_ring_events``, the subject, small so this takes seconds, not
    minutes) forgets what the paused client has not taken. While numbered ticks flow to the
    others, the paused client reads again: it detaches to a consumer of its own at its exact
    position (or, past ``max_private_consumers``, ends resumably and resumes), catches up,
    hands off again, and gets every event once. Meanwhile every other client gets every
    tick. (Their latency beside it, p99 < 50 ms with default options, is a figure of
    ``scripts/bench --only k``: on a loaded test machine a latency bound is flaky.)

    The ballast that fills the paused client's socket and queue (megabytes) is written and
    read by the hub before the ticks start: how long Kafka and loopback take to move it is
    not the subject. It goes to partition 2, and the others filter it out (``?filter=kind
    == 'tick'``, evaluated on the hub's decoded events), so they do not read 100 times those
    megabytes either.
    """
    topic = make_topic(partitions=3)
    server = serve({"tail_ring_events": RING_EVENTS}, mode="server")
    ticks = TICK_RATE * TICK_S
    ballast = math.ceil(
        1.25 * (_bytes_a_paused_client_absorbs() / BALLAST_EVENT_BYTES + RING_EVENTS)
    )
    wanted = {0: ticks // 2, 1: ticks // 2, 2: ballast}
    # At the head: on the hub; it reads nothing until told.
    paused = LeanReader(f"{server.url}/{topic}", sum(wanted.values()), timeout_s=60)
    wait_until(lambda: clients_on_hub(server, topic) == 1, 10, "on the hub")
    load = _run_load_client(
        {
            "host": "127.0.0.1",
            "port": server.port,
            "paths": [f"/{topic}?filter={urllib.parse.quote(TICK_FILTER)}"],
            "clients": READERS,
            "latency": True,
            # Until a client has every tick, then a moment for the others to get theirs.
            "expect": ticks,
            "drain_s": 2,
            "duration_s": 90,
            "timeout_s": 90,
        }
    )

    def produce_ticks() -> None:
        began = time.monotonic()
        futures = []
        for n in range(ticks):
            time.sleep(max(0.0, began + n / TICK_RATE - time.monotonic()))
            value = {"kind": "tick", "seq": n // 2, "bench_ts": int(time.time() * 1e6)}
            encoded = json.dumps(value, separators=(",", ":")).encode()
            futures.append(kafka.producer.send(topic, encoded, partition=n % 2))
        kafka.producer.flush()
        for future in futures:
            future.get(timeout=10)

    try:
        assert load.stdout is not None and load.stderr is not None
        assert load.stdout.readline().strip() == "READY", load.stderr.read()
        wait_until(lambda: clients_on_hub(server, topic) == READERS + 1, 20, "all on the hub")
        producer = KafkaProducer(bootstrap_servers=kafka.bootstrap, linger_ms=5)
        try:
            pad = "x" * BALLAST_EVENT_BYTES
            for n in range(ballast):
                value = {"kind": "ballast", "seq": n, "pad": pad}
                producer.send(topic, json.dumps(value).encode(), partition=2)
            producer.flush()
        finally:
            producer.close()
        # The hub has read it all: its ring now starts far past the paused client.
        try:
            wait_until(lambda: (hub_of(server, topic) or {}).get("lag") == 0, 20, "ballast read")
        except AssertionError as exc:
            raise AssertionError(f"{exc}: {hub_of(server, topic)}") from None
        assert (hub_of(server, topic) or {})["ring_events"] <= RING_EVENTS
        tick_thread = threading.Thread(target=produce_ticks, name="ticks", daemon=True)
        tick_thread.start()
        time.sleep(1)
        paused.go()  # it reads again, while the ticks go on
        tick_thread.join(TICK_S + 10)
        out, _ = load.communicate(timeout=60)
        got = paused.result()
    finally:
        paused.close()
        if load.poll() is None:
            load.kill()
            load.wait(5)
    result = json.loads(out.strip().splitlines()[-1])
    hub = hub_of(server, topic)
    assert hub is not None
    records = log_records(tmp_path / "server-0.log")
    detached_logs = [r for r in records if r["message"].startswith("detached from the shared")]
    latency = result["latency_ms"]
    print(
        f"\n{READERS} hub clients beside a paused one: p50 {latency['p50']:.1f} ms, "
        f"p99 {latency['p99']:.1f} ms, max {latency['max']:.1f} ms over {latency['n']} "
        f"deliveries; ballast {ballast} x {BALLAST_EVENT_BYTES} B; hub {json.dumps(hub)}; "
        f"paused client resumed {got['resumes']} times"
    )
    assert not got["errors"], got["errors"]
    assert seqs_by_partition(got["payloads"]) == {p: list(range(n)) for p, n in wanted.items()}, (
        "the paused client missed or repeated events"
    )
    # It fell off the ring (the only one to), and came back to the hub once it caught up.
    assert sum(hub["detaches"].values()) == 1, hub
    if hub["detaches"].get("slow"):
        assert len(detached_logs) == 1 and got["resumes"] == 0
    else:  # past max_private_consumers: it ended resumably, and resumed
        assert got["resumes"] >= 1
    assert hub["handoffs"] >= 1, hub
    # Every other client got every tick, in time.
    assert result["errors"] == 0, result["error_samples"]
    assert result["total_events"] == READERS * ticks, result
    assert latency["n"] == READERS * ticks


# --- 3. A broker restart under a hub ----------------------------------------------------------

#: The subject of the second server: an outage it does not ride out.
SHORT_OUTAGE_TIMEOUT_S = 3.0


@pytest.fixture(scope="module")
def private_broker(kafka_bootstrap) -> Iterator[PrivateBroker]:
    broker = PrivateBroker()
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.mark.timeout(150)
def test_hub_clients_ride_out_a_broker_restart_or_end_resumably_past_the_outage_timeout(
    private_broker, serve, tmp_path
):
    """One restart of a broker of this module's own, under two servers' hubs: with default
    options (``broker_outage_timeout_s`` 60) the hub clients continue exactly after it; with
    ``broker_outage_timeout_s=3`` (the subject) they end with ``event: error`` and an id,
    and resuming with that id once the broker is back loses and repeats nothing."""
    broker = private_broker
    helper = KafkaHelper(broker.bootstrap)
    topic = unique_topic("hub-restart")
    helper.create_topic(topic, 2)
    kafka_config = {"bootstrap_servers": broker.bootstrap}
    riding = serve({"kafka_config": kafka_config}, mode="server")
    short = serve(
        {"kafka_config": kafka_config, "broker_outage_timeout_s": SHORT_OUTAGE_TIMEOUT_S},
        mode="server",
    )
    url = f"/{topic}"
    riders = [SSEReader(riding.url + url, timeout_s=90) for _ in range(3)]
    enders = [SSEReader(short.url + url, timeout_s=90) for _ in range(2)]
    resumed: SSEReader | None = None
    try:
        wait_until(lambda: clients_on_hub(riding, topic) == 3, 10, "riders on the hub")
        wait_until(lambda: clients_on_hub(short, topic) == 2, 10, "enders on the hub")
        for p in range(2):
            helper.produce(topic, [{"seq": i} for i in range(5)], partition=p)
        helper.close()
        seen = [payloads_of(reader.read(10)) for reader in riders]
        for reader in enders:
            assert len(reader.read(10)) == 10
        broker.stop()
        # The short server's hub gives up after its timeout (and one poll at most).
        ends = [reader.read_until_end(timeout_s=SHORT_OUTAGE_TIMEOUT_S + 20) for reader in enders]
        broker.start(keep_data=True)
        helper = KafkaHelper(broker.bootstrap)
        for p in range(2):
            helper.produce(topic, [{"seq": i} for i in range(5, 8)], partition=p)
        helper.close()
        for reader, events in zip(riders, seen, strict=True):
            events += payloads_of(reader.read(6, timeout_s=60))
            assert not reader.ended, "a hub client must ride out the restart"
        error_ids = []
        for reader, events in zip(enders, ends, strict=True):
            assert reader.ended
            assert [e["event"] for e in events] == ["error"], events
            error = json.loads(events[0]["data"])
            assert error["name"] == "KafkaUnavailableError", error
            error_ids.append(events[0]["id"])
        assert {json.dumps(json.loads(i)) for i in error_ids} == {
            json.dumps(json.loads(start_id(topic, {0: 5, 1: 5})))
        }
        resumed = SSEReader(short.url + url, headers={"Last-Event-ID": error_ids[0]}, timeout_s=60)
        after = payloads_of(resumed.read(6, timeout_s=60))
        riding_hub = hub_of(riding, topic)
    finally:
        for reader in [*riders, *enders, *([resumed] if resumed else [])]:
            reader.close()
    for events in seen:
        assert seqs_by_partition(events) == {0: list(range(8)), 1: list(range(8))}
    assert seqs_by_partition(after) == {0: [5, 6, 7], 1: [5, 6, 7]}
    # The riders stayed on the one hub they started on.
    assert riding_hub is not None and riding_hub["clients"] == 3
    assert riding_hub["detaches"] == {} and riding_hub["handoffs"] == 0
    opened = [
        r
        for r in log_records(tmp_path / "server-0.log")
        if r["message"].startswith(f"hub opened for topic {topic}")
    ]
    assert len(opened) == 1


# --- 4. Linger and cleanup --------------------------------------------------------------------

#: The subject: a linger short enough to wait out in a test.
LINGER_S = 2.0


def _groups_naming(kafka: KafkaHelper, topic: str) -> list[str]:
    """Consumer groups the broker knows that hold offsets of ``topic`` or a member whose
    client id names it."""
    found = []
    for group in kafka.consumer_groups():
        offsets = kafka.admin.list_consumer_group_offsets(group)
        described = kafka.admin.describe_consumer_groups([group])
        members = [m.client_id for d in described for m in d.members]
        if any(tp.topic == topic for tp in offsets) or any(topic in m for m in members):
            found.append(group)
    return found


@pytest.mark.timeout(60)
def test_a_hub_is_gone_within_its_linger_after_its_last_client_left(
    kafka, make_topic, serve, broker_port, tmp_path
):
    """``tail_linger_s`` (the subject) after its last client left, a hub's consumer, its
    broker connections and its greenlets are gone; not before. Closing kills its polling
    greenlet, bounded by ``STOP_TIMEOUT_S``: that is the margin. The broker never lists a
    consumer group for it (it only assigns)."""
    topic = make_topic(partitions=2)
    server = serve({"tail_linger_s": LINGER_S}, mode="server")
    idle_greenlets = greenlets_of(server)
    assert broker_connections(server.pid, broker_port) == 0
    with SSEReader(f"{server.url}/{topic}") as reader:
        kafka.produce(topic, [{"seq": 0}], partition=1)
        assert [m["seq"] for m in payloads_of(reader.read(1))] == [0]
        assert clients_on_hub(server, topic) == 1
        assert broker_connections(server.pid, broker_port) >= 1
        assert greenlets_of(server) > idle_greenlets
        assert metric(server, "kafkasse_tail_hubs_open") == 1
        assert _groups_naming(kafka, topic) == []
    left_at = time.monotonic()
    wait_until(lambda: clients_on_hub(server, topic) == 0, 5, "the client gone from the hub")
    # Lingering: still there (and still connected) half the linger later.
    time.sleep(max(0.0, left_at + LINGER_S / 2 - time.monotonic()))
    assert clients_on_hub(server, topic) == 0, "the hub closed before its linger"
    assert broker_connections(server.pid, broker_port) >= 1
    wait_until(lambda: hub_of(server, topic) is None, LINGER_S + STOP_TIMEOUT_S, "hub closed")
    closed_after_s = time.monotonic() - left_at
    gone_by = left_at + LINGER_S + STOP_TIMEOUT_S
    wait_until(
        lambda: broker_connections(server.pid, broker_port) == 0,
        max(0.1, gone_by - time.monotonic()),
        "the hub's broker connections closed",
    )
    assert greenlets_of(server) <= idle_greenlets
    assert metric(server, "kafkasse_tail_hubs_open") == 0
    assert metric(server, "kafkasse_tail_clients") == 0
    assert _groups_naming(kafka, topic) == []
    print(f"\nhub closed {closed_after_s:.2f} s after its last client left (linger {LINGER_S} s)")
    assert closed_after_s >= LINGER_S / 2
    closing = [
        r
        for r in log_records(tmp_path / "server-0.log")
        if r["message"].startswith(f"hub for topic {topic} closed after")
    ]
    assert len(closing) == 1


# --- 5, 6. Broker connections -----------------------------------------------------------------

#: Clients at the head of one topic in the connection tests.
CLIENTS_AT_HEAD = 30


def _all_read(readers: list[SSEReader], count: int) -> list[list[dict[str, Any]]]:
    return [payloads_of(reader.read(count, timeout_s=20)) for reader in readers]


@pytest.mark.timeout(60)
def test_clients_at_the_head_hold_no_broker_connection_of_their_own(
    kafka, make_topic, serve, broker_port
):
    """With default options, the server's connections to the broker are the hub's, with
    one client at the head of a topic as with many."""
    topic = make_topic(partitions=3)
    server = serve(mode="server")
    url = f"{server.url}/{topic}"
    readers = [SSEReader(url)]
    try:
        wait_until(lambda: clients_on_hub(server, topic) == 1, 10, "on the hub")
        for p in range(3):
            kafka.produce(topic, [{"seq": 0}], partition=p)
        assert len(_all_read(readers, 3)[0]) == 3  # the hub has fetched from every leader
        hub_connections = broker_connections(server.pid, broker_port)
        readers += [SSEReader(url) for _ in range(CLIENTS_AT_HEAD - 1)]
        wait_until(lambda: clients_on_hub(server, topic) == CLIENTS_AT_HEAD, 10, "all on it")
        for p in range(3):
            kafka.produce(topic, [{"seq": 1}], partition=p)
        received = _all_read(readers, 3)
        connections = broker_connections(server.pid, broker_port)
        hub = hub_of(server, topic)
    finally:
        for reader in readers:
            reader.close()
    assert [sorted(seqs_by_partition(r).items()) for r in received[1:]] == [
        [(0, [1]), (1, [1]), (2, [1])]
    ] * (CLIENTS_AT_HEAD - 1)
    print(f"\n{CLIENTS_AT_HEAD} clients at the head: {connections} broker connections")
    assert hub_connections >= 1
    assert connections == hub_connections
    assert hub is not None and hub["handoffs"] == 0


def test_no_shared_tail_gives_every_stream_a_consumer_of_its_own(
    kafka, make_topic, kafka_bootstrap, broker_port, tmp_path
):
    """``--no-shared-tail``: no hub, and the broker connections grow with the streams."""
    topic = make_topic()
    server = start_cli(
        ["--bootstrap-servers", kafka_bootstrap, "--no-shared-tail"],
        log_path=tmp_path / "cli.log",
    )
    readers: list[SSEReader] = []
    try:
        counts = []
        for n in range(1, 5):
            readers.append(SSEReader(f"{server.url}/{topic}"))
            counts.append(
                wait_until(
                    lambda n=n: (c := broker_connections(server.pid, broker_port)) >= n and c,
                    10,
                    f"{n} streams connected",
                )
            )
        kafka.produce(topic, [{"seq": 0}])
        assert [len(events) for events in _all_read(readers, 1)] == [1] * 4
        hubs = hubs_of(server)
    finally:
        for reader in readers:
            reader.close()
        server.stop()
    print(f"\nbroker connections with 1..4 streams and --no-shared-tail: {counts}")
    assert hubs == []
    assert counts == sorted(counts) and counts[-1] > counts[0]


@pytest.mark.parametrize(
    "built_once", [False, True], ids=["mapping-per-call", "options-built-once"]
)
def test_kafka_sse_options_made_per_request_with_a_deserializer_read_through_their_own_consumer(
    kafka, make_topic, built_once
):
    """The hub runs one deserializer for all its clients: a ``kafka_sse()`` call whose options
    mapping brings its own is taken as request-specific; an ``Options`` built once shares."""
    from werkzeug.test import create_environ

    from kafkasse_wsgi import kafka_sse
    from kafkasse_wsgi._tail.registry import close_all_hubs, describe_hubs

    topic = make_topic()
    settings = {"kafka_config": {"bootstrap_servers": kafka.bootstrap}, "deserializer": _tagged}
    options = Options.from_any(settings) if built_once else settings
    statuses: list[str] = []
    body = kafka_sse(
        create_environ(f"/{topic}", "http://localhost/"),
        lambda status, headers: statuses.append(status),
        [topic],
        options,
    )
    try:
        assert statuses == ["200 OK"]
        assert next(iter(body)).startswith(b":ok")
        hubs = [hub["topic"] for hub in describe_hubs() if hub["clients"]]
        assert hubs == ([topic] if built_once else [])
    finally:
        body.close()  # type: ignore[attr-defined]
        close_all_hubs()


def _tagged(kafka_message):
    kafka_message.message = {"tagged": True}
    return kafka_message
