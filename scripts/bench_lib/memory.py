"""(f) Memory and broker connections per idle stream, against a bare consumer's share.

Both sides are measured the same way: the process's RSS when warm and idle, then with N
idle consumers (streams) at the live tail; the difference over N is the per-stream cost.
"""

from __future__ import annotations

import subprocess
import time
from typing import Any

from .procs import (
    PYTHON,
    ROOT,
    ClientRun,
    CpuMeter,
    Gunicorn,
    env_with_root,
    open_fds,
    rss_bytes,
    run_client,
    tcp_connections_to,
)

SETTLE_S = 2.0
CPU_WINDOW_S = 3.0


def _measure(pid: int, broker_port: int) -> dict[str, float]:
    return {
        "rss": rss_bytes(pid),
        "broker_conns": tcp_connections_to(pid, broker_port),
        "fds": open_fds(pid),
    }


def idle_streams(
    bootstrap: str,
    live_topic: str,
    n: int,
    broker_port: int,
    log_dir: Any,
    *,
    options: dict[str, Any] | None = None,
    cpu_window_s: float = CPU_WINDOW_S,
    settle_s: float = SETTLE_S,
    connect_concurrency: int = 50,
    patch: str = "",
) -> dict[str, Any]:
    """``n`` idle streams at the tail of ``live_topic`` on a fresh worker started with
    ``options``: RSS, broker connections and open files added per stream, the time to open
    them all, and the worker's CPU over ``cpu_window_s`` while they idle."""
    with Gunicorn(bootstrap, options, patch=patch, log_dir=log_dir) as server:
        spec = {
            "host": "127.0.0.1",
            "port": server.port,
            "paths": [f"/{live_topic}"],
            "expect": 0,
            "timeout_s": 300,
            "connect_concurrency": connect_concurrency,
        }
        # Warm the worker: imports, first consumer, protocol classes are not per-stream costs.
        run_client({**spec, "clients": 2, "duration_s": 0.5})
        memory_before = server.memory_status()
        time.sleep(settle_s)
        before = _measure(server.worker_pid, broker_port)
        run = ClientRun({**spec, "clients": n, "duration_s": settle_s + cpu_window_s + 1})
        try:
            ready_s = run.wait_ready()
            time.sleep(settle_s)
            after = _measure(server.worker_pid, broker_port)
            meter = CpuMeter(server.worker_pid)
            time.sleep(cpu_window_s)
            cpu = meter.read()
            hubs = server.tail_status()
            memory_after = server.memory_status()
            client = run.result()
        finally:
            run.kill()
    out = _per_stream(before, after, n, ready_s, cpu)
    out.update(
        connected=client["connected"],
        errors=client["errors"],
        error_samples=client["error_samples"],
        cpu_window_s=cpu_window_s,
        hubs=hubs,
        greenlets_per_stream=(memory_after["greenlets"] - memory_before["greenlets"]) / n,
    )
    if "grown" in memory_after:  # --patch tracemalloc: where the memory went, per stream
        out["grown_per_stream"] = [
            {
                "bytes": round(g["kb"] * 1024 / n),
                "objects": g["count"] / n,
                "where": [w.replace(f"{ROOT}/", "") for w in g["where"]],
            }
            for g in memory_after["grown"]
        ]
    return out


def bare_consumers(bootstrap: str, live_topic: str, n: int, broker_port: int) -> dict[str, Any]:
    process = subprocess.Popen(
        [PYTHON, "-m", "scripts.bench_lib.bare_consumers", bootstrap, live_topic, str(n)],
        cwd=ROOT,
        env=env_with_root(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdin is not None and process.stdout is not None
    try:
        if process.stdout.readline().strip() != "BASE":
            raise RuntimeError("bare consumers failed to start")
        time.sleep(SETTLE_S)
        before = _measure(process.pid, broker_port)
        began = time.monotonic()
        process.stdin.write("go\n")
        process.stdin.flush()
        if process.stdout.readline().strip() != "READY":
            raise RuntimeError("bare consumers failed")
        ready_s = time.monotonic() - began
        time.sleep(SETTLE_S)
        after = _measure(process.pid, broker_port)
        meter = CpuMeter(process.pid)
        time.sleep(CPU_WINDOW_S)
        cpu = meter.read()
    finally:
        process.kill()
        process.wait(10)
    return _per_stream(before, after, n, ready_s, cpu)


def _per_stream(before: dict, after: dict, n: int, ready_s: float, cpu: float) -> dict[str, Any]:
    return {
        "n": n,
        "open_s": ready_s,
        "rss_before_mb": before["rss"] / 2**20,
        "rss_after_mb": after["rss"] / 2**20,
        "rss_per_stream_kb": (after["rss"] - before["rss"]) / n / 1024,
        "broker_conns": after["broker_conns"],
        "broker_conns_per_stream": (after["broker_conns"] - before["broker_conns"]) / n,
        "fds_per_stream": (after["fds"] - before["fds"]) / n,
        "idle_cpu": cpu,
    }


def memory(
    bootstrap: str, live_topic: str, n: int, broker_port: int, log_dir: Any
) -> dict[str, Any]:
    # What a stream adds over its own consumer: streams with a consumer each (the shared
    # tail, where idle streams hold none, is measured against them in (i)).
    from .tail import mode_options, shared_tail_supported

    options = mode_options("per-stream", shared_tail_supported())
    streams = idle_streams(bootstrap, live_topic, n, broker_port, log_dir, options=options)
    bare = bare_consumers(bootstrap, live_topic, n, broker_port)
    return {
        "streams": streams,
        "bare_consumers": bare,
        "added_per_stream_kb": streams["rss_per_stream_kb"] - bare["rss_per_stream_kb"],
    }
