"""Deployment, proven: ``examples/deploy/nginx.conf`` itself (Debian's nginx, started here on
free ports) in front of real ``kafkasse-wsgi serve`` servers.

* Events pass nginx at once: the first byte before any event, and produce → client latency
  through nginx within ``LATENCY_MARGIN_S`` of the direct path, measured side by side; and a
  proxy that buffers (the header ignored, gzip on) is caught by the same measurement.
* Heartbeats pass and keep an idle stream open past ``proxy_read_timeout``.
* Per-client limits count the address nginx saw, not nginx's (``trusted_proxies=1``).
* Rolling restarts (SIGTERM, wait, start; each server in turn, twice) and a SIGKILL, while
  events flow: every client's per-partition sequence has no gap, no duplicate, no error.

The rolling restart's figures (reconnect time, events caught up) are in docs/deployment.md.
"""

from __future__ import annotations

import json
import os
import re
import selectors
import shutil
import signal
import socket
import statistics
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from kafkasse_wsgi._serve.cli import SHUTDOWN_GRACE_S
from tests.support.nginx import Nginx, nginx_available
from tests.support.node_client import node_client_available
from tests.support.node_fleet import Fleet
from tests.support.servers import ROOT, Server, free_port, spawn_server, start_gunicorn

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
PARTITIONS = 3
QUIET = 2  # the partition that speaks only at the start and at the end
RATE_EV_S = 200
FLEET_CLIENTS = 50
#: Through nginx, produce → client p99 may exceed the direct path's by this much.
LATENCY_MARGIN_S = 0.010


@pytest.fixture(autouse=True)
def _parts_required() -> None:
    """A missing part is a broken set-up, not a reason to pass quietly."""
    if not nginx_available():
        pytest.fail("nginx is missing: run scripts/ci-deps")
    if not node_client_available():
        pytest.fail("node or its eventsource package is missing: run scripts/ci-deps")


def start_server(
    bootstrap: str, log_path: Path, port: int | None = None, extra: list[str] | None = None
) -> Server:
    """``kafkasse-wsgi serve`` with default options (``extra`` flags aside)."""
    port = port or free_port()
    args = ["-m", "kafkasse_wsgi", "serve", "--port", str(port), "--bootstrap-servers", bootstrap]
    return spawn_server([*args, *(extra or [])], port, log_path, stop_with_parent=True)


class RawStream:
    """A stream read from a plain socket, so the test sees when each byte arrives: the head,
    then the body with the chunked encoding removed, split into SSE lines with their times."""

    def __init__(
        self, port: int, path: str, headers: dict[str, str] | None = None, source: str = ""
    ) -> None:
        sock = socket.create_connection(("127.0.0.1", port), timeout=10, source_address=(source, 0))
        lines = [f"GET {path} HTTP/1.1", "Host: 127.0.0.1", "Accept: text/event-stream"]
        lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
        opened_at = time.monotonic()
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        self._setup(sock, opened_at)

    @classmethod
    def over(cls, sock: socket.socket, opened_at: float) -> RawStream:
        """The response to a request the caller sent on ``sock`` itself."""
        stream = cls.__new__(cls)
        stream._setup(sock, opened_at)
        return stream

    def _setup(self, sock: socket.socket, opened_at: float) -> None:
        self.sock = sock
        self.opened_at = opened_at
        self.status: int | None = None
        self.head = b""
        self.first_byte_at: float | None = None
        self.ended = False
        #: The body ended whole: its last chunk, or its Content-Length (not a cut mid-stream).
        self.clean_end = False
        self.lines: list[tuple[float, bytes]] = []
        self._raw = b""
        self._body = b""
        self._chunked = False
        self._length: int | None = None
        self._received = 0
        self._left = 0
        self._need_crlf = False

    def fileno(self) -> int:
        return self.sock.fileno()

    def receive(self) -> None:
        """Take what the socket has (call when it is readable)."""
        try:
            data = self.sock.recv(65536)
        except OSError:
            data = b""
        now = time.monotonic()
        if not data:
            self.ended = True
            return
        self._raw += data
        if self.status is None:
            end = self._raw.find(b"\r\n\r\n")
            if end < 0:
                return
            self.head, self._raw = self._raw[:end], self._raw[end + 4 :]
            self.status = int(self.head.split(b" ", 2)[1])
            self._chunked = b"transfer-encoding: chunked" in self.head.lower()
            length = re.search(rb"(?im)^content-length: *(\d+)", self.head)
            self._length = int(length[1]) if length else None
        before = len(self._body)
        self._decode()
        if len(self._body) > before and self.first_byte_at is None:
            self.first_byte_at = now
        *complete, self._body = self._body.split(b"\n")
        self.lines.extend((now, line) for line in complete)

    def _decode(self) -> None:
        if not self._chunked:
            self._received += len(self._raw)
            self._body, self._raw = self._body + self._raw, b""
            if self._length is not None and self._received >= self._length:
                self.ended = self.clean_end = True
            return
        while True:
            if self._need_crlf:
                if len(self._raw) < 2:
                    return
                self._raw, self._need_crlf = self._raw[2:], False
            if self._left == 0:
                end = self._raw.find(b"\r\n")
                if end < 0:
                    return
                size = int(self._raw[:end].split(b";")[0], 16)
                self._raw = self._raw[end + 2 :]
                if size == 0:
                    self.ended = self.clean_end = True
                    return
                self._left = size
            if not self._raw:
                return
            take = self._raw[: self._left]
            self._raw = self._raw[len(take) :]
            self._body += take
            self._left -= len(take)
            self._need_crlf = self._left == 0

    def read_for(self, seconds: float) -> None:
        read_all([self], seconds)

    def data(self) -> list[tuple[float, Any]]:
        """``(arrival, payload)`` of every event so far."""
        return [(at, json.loads(line[6:])) for at, line in self.lines if line.startswith(b"data: ")]

    def comments(self) -> int:
        return sum(1 for _, line in self.lines if line.startswith(b":"))

    def close(self) -> None:
        self.sock.close()


def read_all(streams: list[RawStream], seconds: float, until: Any = None) -> None:
    """Read every stream as bytes arrive, for ``seconds`` or until ``until()`` holds."""
    deadline = time.monotonic() + seconds
    with selectors.DefaultSelector() as selector:
        for stream in streams:
            selector.register(stream, selectors.EVENT_READ)
        while (left := deadline - time.monotonic()) > 0 and not (until and until()):
            for key, _ in selector.select(min(left, 0.05)):
                stream = key.fileobj
                stream.receive()  # type: ignore[union-attr]
                if stream.ended:  # type: ignore[union-attr]
                    selector.unregister(stream)
            if not selector.get_map():
                return


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


# --- events pass at once --------------------------------------------------------------------

#: Events of the latency comparison, one every 20 ms (as in docs/performance.md (e)).
LATENCY_EVENTS = 300
LATENCY_INTERVAL_S = 0.02


@pytest.mark.serial  # p99 within 10 ms of the direct path: other tests' load would blur it
def test_nginx_passes_the_first_byte_and_every_event_at_once(
    kafka, make_topic, kafka_bootstrap, tmp_path
):
    topic = make_topic()
    server = start_server(kafka_bootstrap, tmp_path / "server.log")
    try:
        with Nginx(tmp_path / "nginx", [server.port]) as nginx:
            direct = RawStream(server.port, f"/{topic}")
            proxied = RawStream(nginx.port, f"/{topic}", {"X-Request-ID": "deploy-test-1"})
            streams = [direct, proxied]
            # The preamble comes before any event exists and long before the first heartbeat
            # (15 s): a proxy holding small writes back would not pass it (see the next test).
            read_all(streams, 5, until=lambda: all(s.first_byte_at for s in streams))
            assert proxied.status == 200 and direct.status == 200
            # The client's request id reached the server (which answers with the one it used).
            assert b"\r\nX-Request-ID: deploy-test-1" in proxied.head, proxied.head
            assert proxied.first_byte_at is not None, proxied.head
            first_byte_s = {
                "direct": round(direct.first_byte_at - direct.opened_at, 4),  # type: ignore[operator]
                "nginx": round(proxied.first_byte_at - proxied.opened_at, 4),
            }
            assert first_byte_s["nginx"] < 1.0, first_byte_s

            sent: dict[int, float] = {}
            for number in range(LATENCY_EVENTS):
                sent[number] = time.monotonic()
                kafka.producer.send(topic, json.dumps({"i": number}).encode(), partition=0)
                read_all(streams, LATENCY_INTERVAL_S)
            read_all(
                streams, 10, until=lambda: all(len(s.data()) >= LATENCY_EVENTS for s in streams)
            )
            direct.close()
            proxied.close()
    finally:
        server.stop()
    latencies = {}
    for name, stream in (("direct", direct), ("nginx", proxied)):
        received = stream.data()
        assert [payload["i"] for _, payload in received] == list(range(LATENCY_EVENTS)), name
        latencies[name] = [at - sent[payload["i"]] for at, payload in received]
    figures = {
        "first_byte_s": first_byte_s,
        **{
            f"{name}_ms": {
                "p50": round(statistics.median(values) * 1000, 2),
                "p99": round(percentile(values, 0.99) * 1000, 2),
                "first_event": round(values[0] * 1000, 2),
            }
            for name, values in latencies.items()
        },
    }
    print("\nnginx latency figures: " + json.dumps(figures))
    p99 = {name: percentile(values, 0.99) for name, values in latencies.items()}
    assert p99["nginx"] <= p99["direct"] + LATENCY_MARGIN_S, figures


def test_a_buffering_proxy_holds_events_back(kafka, make_topic, kafka_bootstrap, tmp_path):
    """What the example's settings prevent, and what the test above would catch: nginx with
    buffering on (our ``X-Accel-Buffering: no`` ignored, as a proxy that does not know it
    would) and gzip for event streams passes neither the preamble nor an event."""
    topic = make_topic()
    server = start_server(kafka_bootstrap, tmp_path / "server.log")
    buffering = {
        "proxy_buffering": "on; proxy_ignore_headers X-Accel-Buffering",
        "gzip": "on; gzip_types text/event-stream",
    }
    try:
        with Nginx(tmp_path / "nginx", [server.port], buffering) as nginx:
            # Browsers send Accept-Encoding: gzip.
            proxied = RawStream(nginx.port, f"/{topic}", {"Accept-Encoding": "gzip"})
            proxied.read_for(1)
            kafka.produce(topic, [{"i": 0}, {"i": 1}])
            proxied.read_for(2)
            proxied.close()
    finally:
        server.stop()
    assert proxied.first_byte_at is None, "buffering did not hold anything back"


# --- heartbeats -----------------------------------------------------------------------------

#: The subject here is the heartbeat against nginx's proxy_read_timeout, so both are scaled
#: down from the defaults (15 s and 60 s) to keep the test short, in the same proportion.
READ_TIMEOUT_S = 3


def test_heartbeats_pass_and_keep_an_idle_stream_open(kafka, make_topic, kafka_bootstrap, tmp_path):
    topic = make_topic()
    timeout = {"proxy_read_timeout": f"{READ_TIMEOUT_S}s"}
    kept = start_server(kafka_bootstrap, tmp_path / "kept.log", extra=["--heartbeat", "0.75"])
    # A heartbeat longer than the proxy's read timeout: nginx ends the idle stream.
    cut = start_server(kafka_bootstrap, tmp_path / "cut.log", extra=["--heartbeat", "10"])
    try:
        with (
            Nginx(tmp_path / "nginx-kept", [kept.port], timeout) as kept_nginx,
            Nginx(tmp_path / "nginx-cut", [cut.port], timeout) as cut_nginx,
        ):
            idle = RawStream(kept_nginx.port, f"/{topic}")
            starved = RawStream(cut_nginx.port, f"/{topic}")
            read_all([idle, starved], 2 * READ_TIMEOUT_S)
            assert idle.status == 200 and not idle.ended
            # No id from the client: nginx's $request_id (32 hex digits; ours would be a UUID).
            assert re.search(rb"\r\nX-Request-ID: [0-9a-f]{32}(\r|$)", idle.head), idle.head
            # Idle for twice the read timeout: at least one heartbeat per 0.75 s came through.
            assert idle.comments() >= 2 * READ_TIMEOUT_S / 0.75 - 1, idle.lines
            kafka.produce(topic, [{"after": "idle"}])
            read_all([idle], 5, until=lambda: bool(idle.data()))
            assert idle.data()[0][1]["after"] == "idle"
            idle.close()
            assert starved.ended, "nginx kept a stream open past proxy_read_timeout"
            assert "upstream timed out" in cut_nginx.error_log()
            starved.close()
    finally:
        kept.stop()
        cut.stop()


# --- the real client address ----------------------------------------------------------------

PER_CLIENT_LIMIT = 2


def _limited_server(bootstrap: str, trusted_proxies: int, log_path: Path) -> Server:
    """examples/deploy/wsgi.py under gunicorn with examples/gunicorn.conf.py (its shutdown
    hook ends the streams on SIGTERM), limited to PER_CLIENT_LIMIT streams a client."""
    env = {
        "KAFKASSE_BOOTSTRAP_SERVERS": bootstrap,
        "KAFKASSE_TRUSTED_PROXIES": str(trusted_proxies),
        "KAFKASSE_MAX_STREAMS_PER_CLIENT": str(PER_CLIENT_LIMIT),
    }
    examples = ROOT / "examples"
    args = ["-c", str(examples / "gunicorn.conf.py"), "--chdir", str(examples / "deploy")]
    return start_gunicorn("wsgi:application", extra_args=args, env=env, log_path=log_path)


def _open(port: int, path: str, source: str, headers: dict[str, str] | None = None) -> RawStream:
    stream = RawStream(port, path, headers, source=source)
    read_all([stream], 10, until=lambda: stream.status is not None)
    return stream


def test_clients_behind_nginx_are_limited_by_their_own_address(
    make_topic, kafka_bootstrap, tmp_path
):
    topic = make_topic()
    # Two clients on two loopback addresses; nginx reaches the servers from 127.0.0.1.
    alice, bob = "127.0.0.1", "127.0.0.2"
    opened: list[RawStream] = []
    trusting = _limited_server(kafka_bootstrap, 1, tmp_path / "trusting.log")
    naive = _limited_server(kafka_bootstrap, 0, tmp_path / "naive.log")
    try:
        with (
            Nginx(tmp_path / "nginx-trusting", [trusting.port]) as front,
            Nginx(tmp_path / "nginx-naive", [naive.port]) as naive_front,
        ):
            for port, statuses in ((front.port, []), (naive_front.port, [])):
                for _ in range(PER_CLIENT_LIMIT):
                    opened.append(_open(port, f"/{topic}", alice))
                    statuses.append(opened[-1].status)
                assert statuses == [200] * PER_CLIENT_LIMIT
            # trusted_proxies=1: alice is at her limit, a spoofed X-Forwarded-For does not
            # help her, and bob is counted on his own.
            over = _open(front.port, f"/{topic}", alice)
            spoofed = _open(front.port, f"/{topic}", alice, {"X-Forwarded-For": "203.0.113.7"})
            other = _open(front.port, f"/{topic}", bob)
            # Without it, every client is nginx's address: bob is refused for alice's streams.
            naive_other = _open(naive_front.port, f"/{topic}", bob)
            opened += [over, spoofed, other, naive_other]
            assert (over.status, spoofed.status, other.status) == (429, 429, 200)
            assert naive_other.status == 429
            for stream in opened:
                stream.close()
    finally:
        trusting.stop()
        naive.stop()


# --- restarts -------------------------------------------------------------------------------


def test_a_stream_asked_for_while_the_server_stops_ends_at_once(
    make_topic, kafka_bootstrap, tmp_path
):
    """A proxy keeps idle connections to the server and sends the next request on one of them:
    after SIGTERM, such a request must not start a stream that is cut (or answered 500, if
    its setup is under way) when the server kills its last handlers a second later. It gets
    a stream that ends at once with a retry hint, on a connection that closes, so the client
    reconnects elsewhere from its last id."""
    topic = make_topic()
    server = start_server(kafka_bootstrap, tmp_path / "server.log")
    kept = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    try:
        kept.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        answer = b""
        while not answer.endswith(b"}"):  # the whole JSON body; the connection stays open
            answer += kept.recv(65536)
        assert answer.startswith(b"HTTP/1.1 200"), answer
        server.process.send_signal(signal.SIGTERM)
        time.sleep(0.1)
        asked_at = time.monotonic()
        request = f"GET /{topic} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n"
        kept.sendall(request.encode())
        late = RawStream.over(kept, asked_at)
        read_all([late], 5, until=lambda: late.ended)
        ended_after_s = time.monotonic() - asked_at
        assert late.status == 200, late.head
        assert late.ended and late.clean_end, late.lines
        assert ended_after_s < SHUTDOWN_GRACE_S, ended_after_s
        assert any(line.startswith(b"retry: ") for _, line in late.lines), late.lines
        assert b"connection: close" in late.head.lower(), late.head
        assert server.process.wait(10) == 0
    finally:
        kept.close()
        server.stop()


class PacedProducer(threading.Thread):
    """``{"p": partition, "seq": n}`` events (``seq`` = offset) at RATE_EV_S, split over
    the partitions other than QUIET, which gets events only through :meth:`send`."""

    def __init__(self, kafka: Any, topic: str) -> None:
        super().__init__(name="paced-producer", daemon=True)
        self.kafka = kafka
        self.topic = topic
        self.produced = dict.fromkeys(range(PARTITIONS), 0)
        self.error: BaseException | None = None
        self._stop_event = threading.Event()

    def send(self, partitions: dict[int, int]) -> None:
        futures = []
        for partition, count in partitions.items():
            for seq in range(self.produced[partition], self.produced[partition] + count):
                value = json.dumps({"p": partition, "seq": seq}).encode()
                futures.append(
                    (
                        partition,
                        seq,
                        self.kafka.producer.send(self.topic, value, partition=partition),
                    )
                )
        self.kafka.producer.flush()
        for partition, seq, future in futures:
            assert future.get(timeout=10).offset == seq, (partition, seq)
        for partition, count in partitions.items():
            self.produced[partition] += count

    def run(self) -> None:
        tick = 0.05
        busy = [p for p in range(PARTITIONS) if p != QUIET]
        per_tick = {p: round(RATE_EV_S * tick / len(busy)) for p in busy}
        next_tick = time.monotonic()
        try:
            while not self._stop_event.is_set():
                self.send(per_tick)
                next_tick += tick
                self._stop_event.wait(max(0.0, next_tick - time.monotonic()))
        except BaseException as error:  # reported by the test
            self.error = error

    def stop(self) -> None:
        self._stop_event.set()
        self.join(30)
        assert self.error is None, repr(self.error)


class Cluster:
    """Two ``kafkasse-wsgi serve`` servers behind the example's nginx."""

    def __init__(self, bootstrap: str, directory: Path, servers: int = 2) -> None:
        self.bootstrap = bootstrap
        self.directory = directory
        self.ports = [free_port() for _ in range(servers)]
        self.generation = [0] * servers
        self.servers = [self._start(index) for index in range(servers)]
        self.nginx = Nginx(directory / "nginx", self.ports).start()

    def _start(self, index: int) -> Server:
        log = self.directory / f"server-{index}-{self.generation[index]}.log"
        self.generation[index] += 1
        return start_server(self.bootstrap, log, port=self.ports[index])

    def restart(self, index: int) -> dict[str, float]:
        """SIGTERM, wait for the exit, start again on the same port."""
        began = time.monotonic()
        assert self.servers[index].stop(signal.SIGTERM) == 0
        stopped = time.monotonic()
        self.servers[index] = self._start(index)
        return {"stop_s": stopped - began, "start_s": time.monotonic() - stopped}

    def kill(self, index: int) -> None:
        self.servers[index].stop(signal.SIGKILL)

    def wait_ready(self, index: int) -> None:
        """Until a restarted server answers (nginx then sends it streams at once)."""
        requests.get(f"{self.servers[index].url}/healthz", timeout=5).raise_for_status()

    def proxy_errors(self) -> list[str]:
        """5xx answers nginx gave (a client that got one gives up: EventSource does)."""
        return [line for line in self.nginx.access_log().splitlines() if '" 50' in line]

    def close(self) -> None:
        self.nginx.stop()
        for server in self.servers:
            server.stop()


def start_id(topic: str) -> str:
    return json.dumps([{"topic": topic, "partition": p, "offset": 0} for p in range(PARTITIONS)])


def check_fleet(fleet: Fleet, produced: dict[int, int]) -> list[dict[str, Any]]:
    lanes = fleet.lanes()
    assert not fleet.bad and not fleet.server_errors, (fleet.bad[:5], fleet.server_errors[:5])
    for number, lane in enumerate(lanes):
        assert (lane["gaps"], lane["dups"], lane["serverErrors"], lane["closed"]) == (0, 0, 0, 0), (
            number,
            lane,
        )
        assert lane["n"] == sum(produced.values()), (number, lane, produced)
    assert not fleet.bad_lines, fleet.bad_lines[:3]
    return lanes


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_rolling_restart_through_nginx_loses_nothing(
    kafka, make_topic, kafka_bootstrap, tmp_path, artifacts_dir
):
    from playwright.sync_api import sync_playwright

    if not os.path.exists(CHROMIUM):
        pytest.fail("Debian's chromium is not installed: run scripts/ci-deps")
    topic = make_topic(partitions=PARTITIONS)
    producer = PacedProducer(kafka, topic)
    producer.send({QUIET: 3})
    cluster = Cluster(kafka_bootstrap, tmp_path)
    fleet = Fleet(f"{cluster.nginx.url}/{topic}", start_id(topic), FLEET_CLIENTS)
    restarts = []
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            page = browser.new_page()
            page.goto(f"{cluster.nginx.url}/?topics={topic}")
            page.wait_for_function("window.kafkasseDemo.opens >= 1", timeout=15_000)
            fleet.all_open()
            producer.start()
            fleet.wait(lambda lanes: all(lane["n"] >= 200 for lane in lanes), 30, "streaming")
            page.wait_for_function("window.kafkasseDemo.received >= 100", timeout=20_000)
            for _ in range(2):
                for index in range(2):
                    before = [lane["n"] for lane in fleet.lanes()]
                    restarts.append(cluster.restart(index))
                    cluster.wait_ready(index)
                    # Every client streams again (a second of events) before the next stop.
                    fleet.wait(
                        lambda lanes, before=before: all(
                            lane["open"] and lane["n"] >= n + RATE_EV_S
                            for lane, n in zip(lanes, before, strict=False)
                        ),
                        30,
                        "streaming again",
                    )
            producer.stop()
            producer.send({QUIET: 3})
            fleet.caught_up(producer.produced)
            last = {f"{topic}/{p}": n - 1 for p, n in producer.produced.items()}
            page.wait_for_function(
                "last => Object.entries(last)"
                ".every(([k, v]) => window.kafkasseDemo.lastOffset[k] === v)",
                arg=last,
                timeout=30_000,
            )
            time.sleep(0.5)  # anything more (a duplicate) would arrive now
            page_state = page.evaluate(
                "({received: kafkasseDemo.received, reconnects: kafkasseDemo.reconnects,"
                " gaps: kafkasseDemo.gaps, duplicates: kafkasseDemo.duplicates,"
                " serverErrors: kafkasseDemo.log})"
            )
            page.screenshot(path=str(artifacts_dir / "deploy-rolling-restart.png"))
            browser.close()
        lanes = check_fleet(fleet, producer.produced)
        proxy_errors = cluster.proxy_errors()
    finally:
        producer.stop()
        stderr = fleet.stop()
        cluster.close()
    away = [resume["ms"] for resume in fleet.resumes]
    caught_up = [resume["caughtUp"] for resume in fleet.resumes]
    figures = {
        "clients": FLEET_CLIENTS,
        "rate_ev_s": RATE_EV_S,
        "produced": producer.produced,
        "restarts": len(restarts),
        "server_stop_s_max": round(max(r["stop_s"] for r in restarts), 2),
        "server_start_s_max": round(max(r["start_s"] for r in restarts), 2),
        "reconnects": len(away),
        "reconnect_ms": {
            "p50": percentile(away, 0.5),
            "p99": percentile(away, 0.99),
            "max": max(away),
        },
        "caught_up_events": {
            "p50": percentile(caught_up, 0.5),
            "p99": percentile(caught_up, 0.99),
            "max": max(caught_up),
        },
        "reconnects_per_client_min": min(lane["opens"] for lane in lanes) - 1,
        "page": page_state,
    }
    print("\nrolling restart figures: " + json.dumps(figures))
    assert not proxy_errors, proxy_errors[:5]
    # Every restart moves the clients of the server it stops, and each round stops both:
    # every client was moved at least once a round (it may land on a restarted server again).
    assert figures["reconnects_per_client_min"] >= 2, (figures, stderr[-2000:])
    assert page_state["gaps"] == 0 and page_state["duplicates"] == 0, page_state
    assert page_state["serverErrors"] == [] and page_state["reconnects"] >= 2, page_state


@pytest.mark.slow
def test_killed_server_clients_resume_exactly_on_the_other(
    kafka, make_topic, kafka_bootstrap, tmp_path
):
    topic = make_topic(partitions=PARTITIONS)
    producer = PacedProducer(kafka, topic)
    producer.send({QUIET: 3})
    cluster = Cluster(kafka_bootstrap, tmp_path)
    clients = 10
    fleet = Fleet(f"{cluster.nginx.url}/{topic}", start_id(topic), clients)
    try:
        fleet.all_open()
        producer.start()
        fleet.wait(lambda lanes: all(lane["n"] >= 100 for lane in lanes), 30, "streaming")
        cluster.kill(0)
        fleet.wait(lambda lanes: any(lane["connErrors"] for lane in lanes), 10, "cut off")
        fleet.all_open()
        producer.stop()
        producer.send({QUIET: 3})
        fleet.caught_up(producer.produced)
        time.sleep(0.5)
        lanes = check_fleet(fleet, producer.produced)
        proxy_errors = cluster.proxy_errors()
    finally:
        producer.stop()
        fleet.stop()
        cluster.close()
    moved = [lane for lane in lanes if lane["opens"] > 1]
    print(f"\nhard kill: {len(moved)} of {clients} clients moved; resumes {fleet.resumes}")
    assert 0 < len(moved) < clients, lanes
    assert not proxy_errors, proxy_errors[:5]
