"""(i) The shared live tail (issue 10): one consumer per topic per worker against one per stream.

Every figure is measured in both modes in the same run, on the same broker and data shape, on a
fresh gunicorn server with one gevent worker per run: ``shared`` (default options) and
``per-stream`` (``shared_tail=False``, what ``kafkasse-wsgi serve --no-shared-tail`` serves):

1. ``latency``  — 100 clients at the tail, 1,000 ev/s over 3 partitions: % delivered, p99
   produce → client;
2. ``fanout``   — 1,000 clients at 100 ev/s: the same figures; ``wide``: 10,000 clients at
   2 ev/s, shared only;
3. ``idle``     — 10,000 idle clients: RSS per client, the worker's broker connections, time to
   open them all, idle CPU over 20 s. Per-stream at 500 clients only (each would hold a
   consumer and a broker connection); its per-client figures are what it is compared by;
4. ``capacity`` — 500 clients, the produce rate doubled until delivery falls behind: the most
   deliveries/s the worker sustains, beside the load client's own ceiling for the same
   streams on the static server.

Streams are at the tail (no ``Last-Event-ID``), so the shared mode attaches every one of them
to the hub; ``GET /_bench/tail`` on the bench app reports how many were.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kafkasse_wsgi.options import Options

from . import memory
from .data import Kafka, RateProducer
from .procs import (
    PYTHON,
    ROOT,
    ClientFleet,
    CpuMeter,
    Gunicorn,
    env_with_root,
    free_port,
    wait_for_port,
)
from .profile import Recorder

#: Partitions of every topic of this section (the issue's shape).
PARTITIONS = 3
#: Idle hub clients park at the hub's next empty poll: after idle_delay_ms, plus a margin.
PARK_SETTLE_S = Options.DEFAULT_IDLE_DELAY_MS / 1000 + 1.5
#: The two servers compared; ``per-stream`` adds ``shared_tail=False`` to the options.
MODES = ("per-stream", "shared")
#: A capacity step "keeps up" when this share of the offered deliveries arrived by the end
#: of the drain, with this p99 and no stream error.
KEPT_UP_DELIVERED = 0.99
KEPT_UP_P99_MS = 1000.0
#: The wide fan-out (issue 19): this many clients at this rate, shared only (one consumer
#: per stream for each of them is what the shared tail is there to avoid).
WIDE_CLIENTS = 10_000
WIDE_RATE = 2.0
#: Streams a client opens at a time.
CONNECT_CONCURRENCY = 100


@dataclasses.dataclass(frozen=True)
class Plan:
    """Sizes of one run of (i); :meth:`full` is the issue's table, :meth:`quick` the smoke's."""

    #: part name → (clients, ev/s) of the scenarios measuring delivery and latency (1, 2).
    latency: dict[str, tuple[int, float]]
    duration_s: float
    idle_shared: int
    idle_per_stream: int
    idle_cpu_window_s: float
    #: Wait after the idle clients opened, before measuring: longer than an idle hub
    #: client takes to park its source's greenlet (the hub's next empty poll, which waits
    #: ``idle_delay_ms``).
    idle_settle_s: float
    capacity_clients: int
    capacity_start_rate: float
    capacity_max_rate: float
    capacity_duration_s: float
    #: Only every k-th stream parses latencies in the capacity runs (the client's own cost).
    capacity_latency_every: int
    ceiling_s: float
    #: Wait after the producer stops for events still in flight, before the clients stop.
    drain_s: float
    #: Pause before each run: the broker and the machine settle after the last one (a
    #: thousand consumers closing keep a JVM broker busy for a while).
    settle_s: float

    @classmethod
    def full(cls) -> Plan:
        return cls(
            latency={
                "latency": (100, 1000.0),
                "fanout": (1000, 100.0),
                "wide": (WIDE_CLIENTS, WIDE_RATE),
            },
            duration_s=8.0,
            idle_shared=10_000,
            idle_per_stream=500,
            idle_cpu_window_s=20.0,
            idle_settle_s=PARK_SETTLE_S,
            capacity_clients=500,
            capacity_start_rate=25.0,
            capacity_max_rate=6400.0,
            capacity_duration_s=5.0,
            capacity_latency_every=10,
            ceiling_s=2.0,
            drain_s=1.0,
            settle_s=3.0,
        )

    @classmethod
    def quick(cls) -> Plan:
        return cls(
            latency={"latency": (5, 50.0), "fanout": (10, 20.0), "wide": (20, WIDE_RATE)},
            duration_s=1.0,
            idle_shared=50,
            idle_per_stream=10,
            idle_cpu_window_s=1.0,
            idle_settle_s=PARK_SETTLE_S,
            capacity_clients=10,
            capacity_start_rate=20.0,
            capacity_max_rate=20.0,
            capacity_duration_s=1.0,
            capacity_latency_every=1,
            ceiling_s=0.5,
            drain_s=0.5,
            settle_s=0.0,
        )


def shared_tail_supported() -> bool:
    """Whether this kafkasse_wsgi has the ``shared_tail`` option (issue 10)."""
    from kafkasse_wsgi.options import Options

    return "shared_tail" in {field.name for field in dataclasses.fields(Options)}


def mode_options(mode: str, supported: bool) -> dict[str, Any]:
    """Server options of ``mode``: a package without the option streams per stream anyway."""
    return {"shared_tail": False} if mode == "per-stream" and supported else {}


def hub_summary(hubs: list[dict[str, Any]] | None) -> dict[str, Any] | None:
    """Clients on the shared tail, handoffs and detaches, summed over the worker's hubs."""
    if hubs is None:
        return None
    detaches: dict[str, int] = {}
    for hub in hubs:
        for cause, count in (hub.get("detaches") or {}).items():
            detaches[cause] = detaches.get(cause, 0) + count
    return {
        "hubs": len(hubs),
        "clients": sum(hub.get("clients", 0) for hub in hubs),
        "handoffs": sum(hub.get("handoffs", 0) for hub in hubs),
        "detaches": detaches,
        "lag": max((hub.get("lag") or 0 for hub in hubs), default=0),
    }


def tail_run(
    bootstrap: str,
    kafka: Kafka,
    options: dict[str, Any],
    clients: int,
    rate: float,
    duration_s: float,
    message_bytes: int,
    *,
    processes: int = 1,
    latency_every: int = 1,
    drain_s: float = 1.0,
    log_dir: Path | None = None,
    patch: str = "",
    profile_to: Path | None = None,
) -> dict[str, Any]:
    """``clients`` streams at the tail of a new topic of :data:`PARTITIONS` partitions on a
    fresh worker, while it is produced to at ``rate`` for ``duration_s``: what arrived by
    ``drain_s`` after the last event was produced, latency, the worker's CPU while producing,
    the hubs' view."""
    topic = kafka.live_topic(PARTITIONS)
    spec = {
        "host": "127.0.0.1",
        "paths": [f"/{topic}"],
        "latency": True,
        "latency_every": latency_every,
        "duration_s": 3600,  # ended by ClientFleet.stop() after the drain
        "timeout_s": 300,
        "connect_concurrency": CONNECT_CONCURRENCY,
        "clients": clients,
    }
    try:
        with Gunicorn(bootstrap, options, patch=patch, log_dir=log_dir) as server:
            fleet = ClientFleet({**spec, "port": server.port}, processes)
            try:
                ready_s = fleet.wait_ready()
                producer = RateProducer(kafka, topic, rate, duration_s, message_bytes, PARTITIONS)
                recorder = Recorder(server.worker_pid, profile_to) if profile_to else None
                with recorder or contextlib.nullcontext():
                    meter = CpuMeter(server.worker_pid)
                    producer.start()
                    producer.join(duration_s + 60)
                    cpu = meter.read()
                time.sleep(drain_s)
                cpu_s = meter.seconds()  # while producing and draining: what was delivered
                hubs = server.tail_status()
                fleet.stop()
                result = fleet.result()
            finally:
                fleet.kill()
    finally:
        kafka.delete(topic)
    lat = result.get("latency_ms", {})
    offered = producer.sent * clients
    out = {
        "clients": clients,
        "rate": rate,
        "partitions": PARTITIONS,
        "sent": producer.sent,
        "produce_s": producer.elapsed_s,
        "received": result["total_events"],
        "delivered_fraction": result["total_events"] / max(offered, 1),
        "offered_eps": offered / max(producer.elapsed_s, 1e-9),
        "p50_ms": lat.get("p50"),
        "p99_ms": lat.get("p99"),
        "max_ms": lat.get("max"),
        "latency_samples": lat.get("n", 0),
        "latency_counts": result.get("latency_counts", {}),
        "connected": result["connected"],
        "ready_s": ready_s,
        "errors": result["errors"],
        "error_samples": result["error_samples"],
        "worker_cpu": cpu,
        # Worker CPU per event delivered: the cost that bounds capacity, and far less
        # sensitive than latency to other work competing for the machine's cores.
        "worker_us_per_delivery": 1e6 * cpu_s / max(result["total_events"], 1),
        "loadavg": os.getloadavg()[0],
        "client_cpu": result["client_cpu"],
        "client_processes": result["processes"],
        "latency_every": latency_every,
        "tail": hub_summary(hubs),
    }
    if recorder:
        out["profile"] = recorder.summary
    return out


def kept_up(row: dict[str, Any]) -> bool:
    return (
        row["errors"] == 0
        and row["delivered_fraction"] >= KEPT_UP_DELIVERED
        and row["p99_ms"] is not None
        and row["p99_ms"] <= KEPT_UP_P99_MS
    )


def capacity(
    run: Callable[[float], dict[str, Any]], start_rate: float, max_rate: float, log: Any
) -> dict[str, Any]:
    """Double the rate from ``start_rate`` until a step does not keep up (:func:`kept_up`; a
    step that misses is run once more, the machine being shared), then try the geometric
    mean of the last two rates: the most deliveries/s a step kept up with."""
    steps: list[dict[str, Any]] = []

    def step(rate: float) -> bool:
        for _attempt in range(2):
            row = run(rate)
            row["kept_up"] = kept_up(row)
            steps.append(row)
            log(
                f"(i) capacity {row['clients']} cl @ {rate:,.0f} ev/s: "
                f"{100 * row['delivered_fraction']:.1f}% p99 {row['p99_ms']} ms, "
                f"cpu {row['worker_cpu']:.2f} → {'kept up' if row['kept_up'] else 'behind'}"
            )
            if row["kept_up"]:
                return True
        return False

    rate, passed, failed = start_rate, None, None
    while rate <= max_rate:
        if not step(rate):
            failed = rate
            break
        passed = rate
        rate *= 2
    if passed is not None and failed is not None:
        step(math.sqrt(passed * failed))
    good = [s for s in steps if s["kept_up"]]
    return {
        "steps": steps,
        "sustained_eps": max((s["offered_eps"] for s in good), default=0.0),
        "sustained_rate": max((s["rate"] for s in good), default=0.0),
        "capped": failed is None,  # never fell behind up to max_rate: a lower bound
        "behind_at": behind_at(steps),
    }


def behind_at(steps: list[dict[str, Any]]) -> float | None:
    """The lowest rate no attempt kept up with."""
    kept = {s["rate"] for s in steps if s["kept_up"]}
    return min((s["rate"] for s in steps if s["rate"] not in kept), default=None)


def client_ceiling(
    clients: int, message_bytes: int, processes: int, latency_every: int, seconds: float
) -> dict[str, Any]:
    """The load client, shaped as in a run (streams, processes, latency sampling, ids of
    :data:`PARTITIONS` partitions), against the static server: its own events/s limit."""
    port = free_port()
    server = subprocess.Popen(
        [
            PYTHON,
            "-m",
            "scripts.bench_lib.static_server",
            str(port),
            str(message_bytes),
            str(PARTITIONS),
        ],
        cwd=ROOT,
        env=env_with_root(),
    )
    try:
        wait_for_port(port, server)
        spec = {
            "host": "127.0.0.1",
            "port": port,
            "paths": ["/static"],
            "clients": clients,
            "expect": 0,
            "latency": True,
            "latency_every": latency_every,
            "duration_s": seconds,
            "warmup_s": min(0.5, seconds),
            "timeout_s": 120,
            "connect_concurrency": CONNECT_CONCURRENCY,
        }
        fleet = ClientFleet(spec, processes)
        try:
            fleet.wait_ready()
            result = fleet.result()
        finally:
            fleet.kill()
    finally:
        server.kill()
        server.wait(5)
    return {
        "clients": clients,
        "processes": processes,
        "latency_every": latency_every,
        "eps": result["window_eps"],
        "client_cpu": result["client_cpu"],
    }


def run(
    plan: Plan,
    bootstrap: str,
    broker_port: int,
    kafka: Kafka,
    message_bytes: int,
    *,
    parts: set[str],
    processes: int,
    log_dir: Path,
    patch: str,
    profile: bool,
    log: Any,
    out: dict[str, Any],
) -> None:
    """Every part of (i) asked for, both modes back to back per scenario, into ``out`` as
    each finishes (a part that fails leaves the ones before it)."""
    supported = shared_tail_supported()
    out.update(
        shared_tail_supported=supported,
        partitions=PARTITIONS,
        message_bytes=message_bytes,
        client_processes=processes,
        brokers=len(kafka.brokers()),
        cores=os.cpu_count(),
        kept_up_rule={"delivered": KEPT_UP_DELIVERED, "p99_ms": KEPT_UP_P99_MS},
    )
    if not supported:
        log("(i) this kafkasse_wsgi has no shared_tail option: both modes stream per stream")
    opts = {mode: mode_options(mode, supported) for mode in MODES}

    def tail(mode: str, clients: int, rate: float, duration_s: float, **kw: Any) -> dict:
        time.sleep(plan.settle_s)
        return tail_run(
            bootstrap,
            kafka,
            opts[mode],
            clients,
            rate,
            duration_s,
            message_bytes,
            processes=processes,
            drain_s=plan.drain_s,
            log_dir=log_dir,
            patch=patch,
            **kw,
        )

    for part, (clients, rate) in plan.latency.items():
        if part in parts:
            row: dict[str, Any] = {"clients": clients, "rate": rate}
            row["client_ceiling"] = client_ceiling(
                clients, message_bytes, processes, 1, plan.ceiling_s
            )
            # The profiled run comes after, apart: py-spy pauses the worker to sample it.
            modes = ("shared",) if part == "wide" else MODES  # 10,000 consumers: no
            runs = [*modes, "shared_profiled"] if profile else modes
            for mode in runs:
                profile_to = log_dir / f"profile-i-{part}.txt"
                row[mode] = r = tail(
                    mode.removesuffix("_profiled"),
                    clients,
                    rate,
                    plan.duration_s,
                    profile_to=profile_to if mode.endswith("_profiled") else None,
                )
                log(
                    f"(i) {mode} {clients} cl @ {rate:,.0f} ev/s: "
                    f"{100 * r['delivered_fraction']:.1f}% delivered, p99 {r['p99_ms']} ms, "
                    f"cpu {r['worker_cpu']:.2f}, on the tail {r['tail']}"
                )
            out[part] = row

    if "idle" in parts:
        out["idle"] = {}
        for mode, n in (("per-stream", plan.idle_per_stream), ("shared", plan.idle_shared)):
            topic = kafka.live_topic(PARTITIONS)
            try:
                out["idle"][mode] = r = memory.idle_streams(
                    bootstrap,
                    topic,
                    n,
                    broker_port,
                    log_dir,
                    options=opts[mode],
                    cpu_window_s=plan.idle_cpu_window_s,
                    settle_s=plan.idle_settle_s,
                    connect_concurrency=CONNECT_CONCURRENCY,
                    patch=patch,
                )
            finally:
                kafka.delete(topic)
            r["tail"] = hub_summary(r.pop("hubs"))
            log(
                f"(i) {mode} {n} idle: {r['rss_per_stream_kb']:.1f} KB each, "
                f"{r['broker_conns']} broker conns, open {r['open_s']:.1f}s, "
                f"cpu {r['idle_cpu']:.3f}, on the tail {r['tail']}"
            )

    if "capacity" in parts:
        clients = plan.capacity_clients
        out["capacity"] = {
            "clients": clients,
            "client_ceiling": client_ceiling(
                clients,
                message_bytes,
                processes,
                plan.capacity_latency_every,
                plan.ceiling_s,
            ),
        }
        for mode in MODES:
            out["capacity"][mode] = capacity(
                lambda rate, mode=mode: tail(  # type: ignore[misc]
                    mode,
                    clients,
                    rate,
                    plan.capacity_duration_s,
                    latency_every=plan.capacity_latency_every,
                ),
                plan.capacity_start_rate,
                plan.capacity_max_rate,
                log,
            )
