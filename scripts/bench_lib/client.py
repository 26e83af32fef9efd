"""The load client: many SSE streams over raw sockets, one greenlet each, in its own process.

Run as ``python -m scripts.bench_lib.client '<json spec>'``. It counts events by counting
``\\ndata: `` (the bench messages are single-line JSON) without parsing the stream, so one
core reads far more events per second than the server under test can produce; ``--only``
includes a client-only run against a static server that proves it.

Spec keys: ``host``, ``port``, ``paths`` (one per stream, cycled), ``clients``,
``last_event_id`` (optional), ``expect`` (stop a stream after this many events; 0 = never),
``duration_s`` (window length once every stream is ready), ``warmup_s``, ``latency``
(parse ``"bench_ts":<µs>`` of each event), ``latency_every`` (only every k-th stream
measures latency: the parse costs the client, and a sample is enough),
``connect_concurrency``, ``sequential`` (one stream at a time, each to its end: for
time-to-first-byte), ``drain_s``, ``timeout_s``. SIGUSR1 ends the window at once (the
orchestrator's way to end it when the producer is done: ``procs.ClientFleet.stop``).

Protocol on stdout: ``READY`` once every stream has its response headers, then one JSON line.
"""

from gevent import monkey

monkey.patch_all()

import json  # noqa: E402
import re  # noqa: E402
import resource  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import gevent  # noqa: E402
from gevent.lock import Semaphore  # noqa: E402

DATA = b"\ndata: "
CARRY = len(DATA) - 1
ERROR = b"event: error"
TS = re.compile(rb'"bench_ts":(\d+)')
RECV = 256 * 1024


class Stream:
    __slots__ = (
        "count",
        "done",
        "error",
        "latencies",
        "max_gap",
        "status",
        "t_first_byte",
        "t_first_event",
        "t_headers",
        "t_last",
        "t_start",
    )

    def __init__(self) -> None:
        self.count = 0
        self.done = False
        self.error = None
        self.latencies: list[float] = []
        self.max_gap = 0.0
        self.status = 0
        self.t_start = self.t_first_byte = self.t_headers = None
        self.t_first_event = self.t_last = None


def run_stream(
    st: Stream, spec: dict, path: str, gate: Semaphore, ready_count: list, latency: bool
) -> None:
    headers = [
        f"GET {path} HTTP/1.1",
        f"Host: {spec['host']}:{spec['port']}",
        "Accept: text/event-stream",
        "Cache-Control: no-cache",
    ]
    if spec.get("last_event_id"):
        headers.append(f"Last-Event-ID: {spec['last_event_id']}")
    request = ("\r\n".join(headers) + "\r\n\r\n").encode()
    expect = int(spec.get("expect") or 0)
    sock = None
    sequential = bool(spec.get("sequential"))
    gate.acquire()
    held = True
    try:
        st.t_start = time.perf_counter()
        sock = socket.create_connection((spec["host"], spec["port"]), timeout=None)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        sock.sendall(request)
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = sock.recv(RECV)
            if not chunk:
                raise ConnectionError("closed before headers")
            if st.t_first_byte is None:
                st.t_first_byte = time.perf_counter()
            buf += chunk
        head, _, body = buf.partition(b"\r\n\r\n")
        st.t_headers = time.perf_counter()
        st.status = int(head.split(b" ", 2)[1])
        if not sequential:
            gate.release()
            held = False
        ready_count[0] += 1
        if st.status != 200:
            st.error = f"HTTP {st.status}: {body[:200]!r}"
            return
        chunk, carry = body, b""
        pending = b""  # latency mode: the incomplete last event
        now = st.t_headers
        while True:
            data = carry + chunk
            n = data.count(DATA)
            if n:
                if st.t_first_event is None:
                    st.t_first_event = now
                elif now - st.t_last > st.max_gap:
                    st.max_gap = now - st.t_last
                st.t_last = now
                st.count += n
            if latency:
                whole = pending + chunk
                cut = whole.rfind(b"\n\n") + 2
                if cut >= 2:
                    wall_us = time.time() * 1e6
                    st.latencies.extend(
                        (wall_us - int(m)) / 1000.0 for m in TS.findall(whole, 0, cut)
                    )
                    pending = whole[cut:]
                else:
                    pending = whole
            if ERROR in data:
                st.error = "event: error " + data[data.find(ERROR) :][:300].decode(errors="replace")
                return
            if expect and st.count >= expect:
                st.done = True
                return
            carry = data[-CARRY:]
            # recv() returns without switching while data is waiting: without this a fast
            # server would let one stream starve the others and the measuring loop.
            gevent.sleep(0)
            chunk = sock.recv(RECV)
            now = time.perf_counter()
            if not chunk:
                st.error = "server closed the stream"
                return
    except gevent.GreenletExit:
        raise
    except Exception as exc:
        st.error = f"{type(exc).__name__}: {exc}"
    finally:
        if sock is not None:
            sock.close()
        if held:
            # Sequential probes measure a new stream on an idle warm worker: give the server
            # a moment to notice the last one left before opening the next.
            gevent.sleep(float(spec.get("pause_s") or 0))
            gate.release()


def percentiles(values: list[float], points=(50, 90, 99)) -> dict:
    if not values:
        return {}
    values = sorted(values)
    out = {f"p{p}": values[min(len(values) - 1, int(len(values) * p / 100))] for p in points}
    out["max"] = values[-1]
    out["min"] = values[0]
    out["n"] = len(values)
    return out


def counts(values: list[float]) -> dict[str, int]:
    """Latencies as value → count, to 0.1 ms below a second and 1 ms above: several client
    processes' samples merge by adding counts (``procs.merge_counts``)."""
    out: dict[str, int] = {}
    for value in values:
        key = str(round(value, 1) if value < 1000 else round(value))
        out[key] = out.get(key, 0) + 1
    return out


def main() -> None:
    spec = json.loads(sys.argv[1])
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    n = int(spec["clients"])
    paths = spec["paths"]
    streams = [Stream() for _ in range(n)]
    gate = Semaphore(int(spec.get("connect_concurrency", 50)))
    ready = [0]
    stop: list[bool] = []
    gevent.signal_handler(signal.SIGUSR1, stop.append, True)
    t0 = time.perf_counter()
    every = int(spec.get("latency_every") or 1)
    greenlets = [
        gevent.spawn(
            run_stream,
            st,
            spec,
            paths[i % len(paths)],
            gate,
            ready,
            bool(spec.get("latency")) and i % every == 0,
        )
        for i, st in enumerate(streams)
    ]
    timeout = float(spec.get("timeout_s", 300))
    while (
        ready[0] < n and time.perf_counter() - t0 < timeout and not all(g.dead for g in greenlets)
    ):
        gevent.sleep(0.01)
    t_ready = time.perf_counter()
    print("READY", flush=True)
    gevent.sleep(float(spec.get("warmup_s", 0)))
    duration = float(spec.get("duration_s", 0))
    cpu0 = _cpu()
    w0 = time.perf_counter()
    c0 = [st.count for st in streams]
    deadline = w0 + (duration if duration else timeout)
    # The window ends at the deadline, or when a stream has read all it expects (a stream
    # that finished would otherwise dilute the rate), or when every stream has ended, or
    # when the orchestrator says so.
    while time.perf_counter() < deadline:
        if stop or any(st.done for st in streams) or all(g.dead for g in greenlets):
            break
        gevent.sleep(0.02)
    w1 = time.perf_counter()
    c1 = [st.count for st in streams]
    cpu1 = _cpu()
    if spec.get("drain_s"):
        gevent.sleep(float(spec["drain_s"]))
    gevent.killall(greenlets, timeout=5)
    window_events = sum(c1) - sum(c0)
    errors = [st.error for st in streams if st.error]
    lat = [x for st in streams for x in st.latencies]
    result = {
        "clients": n,
        "connected": sum(1 for st in streams if st.status == 200),
        "ready_s": t_ready - t0,
        "errors": len(errors),
        "error_samples": errors[:5],
        "window_s": w1 - w0,
        "window_events": window_events,
        "window_eps": window_events / max(w1 - w0, 1e-9),
        "stalled": sum(1 for a, b in zip(c0, c1, strict=True) if b == a),
        "total_events": sum(st.count for st in streams),
        "max_gap_s": max((st.max_gap for st in streams), default=0.0),
        "client_cpu": (cpu1 - cpu0) / max(w1 - w0, 1e-9),
        "ttfb_ms": percentiles(
            [1000 * (st.t_first_byte - st.t_start) for st in streams if st.t_first_byte]
        ),
        "first_event_ms": percentiles(
            [1000 * (st.t_first_event - st.t_start) for st in streams if st.t_first_event]
        ),
        # One stream from its request to its last expected event (used for single streams).
        "stream_eps": [
            st.count / (st.t_last - st.t_start)
            for st in streams
            if st.done and st.t_last and st.t_last > st.t_start
        ][:10],
    }
    if spec.get("latency"):
        result["latency_ms"] = percentiles(lat)
        result["latency_counts"] = counts(lat)
    print(json.dumps(result), flush=True)


def _cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


if __name__ == "__main__":
    main()
