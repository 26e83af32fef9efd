"""Stream measurements through a real server: (b) one stream, (d) fan-out, (e) latency,
(g) time to first byte/event, and the load client's own ceiling."""

from __future__ import annotations

import json
import subprocess
import time
from typing import Any

from .data import Kafka, RateProducer
from .procs import (
    PYTHON,
    ROOT,
    ClientRun,
    CpuMeter,
    env_with_root,
    free_port,
    peak_rss_bytes,
    rss_bytes,
    run_client,
    wait_for_port,
)


def replay_id(topic: str, offset: int = 0) -> str:
    return json.dumps([{"topic": topic, "partition": 0, "offset": offset}], separators=(",", ":"))


def client_ceiling(message_bytes: int, events: int, clients: int) -> dict[str, Any]:
    """The client against a static server: its events/s must be far above any server's."""
    port = free_port()
    server = subprocess.Popen(
        [PYTHON, "-m", "scripts.bench_lib.static_server", str(port), str(message_bytes)],
        cwd=ROOT,
        env=env_with_root(),
    )
    try:
        wait_for_port(port, server)
        base = {"host": "127.0.0.1", "port": port, "paths": ["/static"], "timeout_s": 120}
        one = run_client({**base, "clients": 1, "expect": events})
        many = run_client(
            {**base, "clients": clients, "expect": 0, "duration_s": 2, "warmup_s": 0.5}
        )
    finally:
        server.kill()
        server.wait(5)
    return {
        "one_stream_eps": one["stream_eps"][0] if one["stream_eps"] else 0.0,
        "one_stream_client_cpu": one["client_cpu"],
        "clients": clients,
        "many_streams_eps": many["window_eps"],
        "many_streams_client_cpu": many["client_cpu"],
    }


def single_stream(
    port: int, worker_pid: int | None, topic: str, messages: int, path: str | None = None
) -> dict[str, Any]:
    """(b)/(c): one client replays the whole topic from offset 0."""
    spec = {
        "host": "127.0.0.1",
        "port": port,
        "paths": [path or f"/{topic}"],
        "clients": 1,
        "last_event_id": replay_id(topic),
        "expect": messages,
        "timeout_s": 300,
    }
    run = ClientRun(spec)
    meter = CpuMeter(worker_pid) if worker_pid else None
    try:
        run.wait_ready()
        result = run.result()
    finally:
        run.kill()
    out = {
        "events": result["total_events"],
        "eps": result["stream_eps"][0] if result["stream_eps"] else 0.0,
        "errors": result["error_samples"],
        "client_cpu": result["client_cpu"],
        "ttfb_ms": result["ttfb_ms"].get("p50"),
    }
    if meter:
        out["worker_cpu"] = meter.read()
        out["worker_peak_rss_mb"] = peak_rss_bytes(worker_pid) / 2**20
    return out


def fanout(
    port: int,
    worker_pid: int,
    kafka: Kafka,
    replay_topic: str,
    messages: int,
    live_topic: str,
    clients: int,
    mode: str,
    duration_s: float,
    tail_rate: float,
    message_bytes: int,
) -> dict[str, Any]:
    """(d): ``clients`` streams on one worker, replaying from 0 or at the live tail."""
    warmup = 1.0 if duration_s >= 4 else 0.0
    spec: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": port,
        "clients": clients,
        "duration_s": duration_s,
        "warmup_s": warmup,
        "timeout_s": 300,
        "connect_concurrency": 50,
    }
    if mode == "replay":
        spec.update(
            paths=[f"/{replay_topic}"], last_event_id=replay_id(replay_topic), expect=messages
        )
    else:
        spec.update(paths=[f"/{live_topic}"], expect=0)
    run = ClientRun(spec)
    producer = None
    try:
        ready_s = run.wait_ready()
        if mode == "tail":
            producer = RateProducer(
                kafka, live_topic, tail_rate, warmup + duration_s + 2, message_bytes
            )
            producer.start()
        time.sleep(warmup)
        meter = CpuMeter(worker_pid)
        rss_peak = 0
        while run.process.poll() is None:
            rss_peak = max(rss_peak, rss_bytes(worker_pid))
            time.sleep(0.2)
            if meter.t0 + duration_s + 0.5 < time.monotonic():
                break
        cpu = meter.read()
        result = run.result()
    finally:
        run.kill()
        if producer is not None:
            producer.stop_flag.set()
            producer.join(10)
    out = {
        "mode": mode,
        "clients": clients,
        "connected": result["connected"],
        "ready_s": ready_s,
        "window_s": result["window_s"],
        "aggregate_eps": result["window_eps"],
        "per_client_eps": result["window_eps"] / clients,
        "errors": result["errors"],
        "error_samples": result["error_samples"],
        "stalled": result["stalled"],
        "max_gap_s": result["max_gap_s"],
        "worker_cpu": cpu,
        "client_cpu": result["client_cpu"],
        "worker_rss_mb": rss_peak / 2**20,
    }
    if mode == "tail":
        out["offered_eps"] = tail_rate * clients
        out["delivered_fraction"] = result["window_eps"] / max(tail_rate * clients, 1e-9)
    return out


def _tail_run(
    port: int,
    worker_pid: int,
    kafka: Kafka,
    topic: str,
    paths: list[str],
    clients: int,
    rate: float,
    duration_s: float,
    message_bytes: int,
) -> tuple[dict[str, Any], RateProducer, float, float]:
    """``clients`` at the tail of ``topic`` (cycling over ``paths``) while it is produced to at
    ``rate``: the clients' result, the producer, the worker's CPU, and how long they took to
    be ready. The topic is deleted afterwards."""
    spec = {
        "host": "127.0.0.1",
        "port": port,
        "clients": clients,
        "paths": paths,
        "latency": True,
        "duration_s": duration_s + 0.5,
        "drain_s": 1.0,
        "timeout_s": 300,
        "connect_concurrency": 50,
    }
    run = ClientRun(spec)
    try:
        ready_s = run.wait_ready()
        meter = CpuMeter(worker_pid)
        producer = RateProducer(kafka, topic, rate, duration_s, message_bytes)
        producer.start()
        producer.join(duration_s + 30)
        cpu = meter.read()
        result = run.result()
    finally:
        run.kill()
        kafka.delete(topic)
    return result, producer, cpu, ready_s


def latency(
    port: int,
    worker_pid: int,
    kafka: Kafka,
    clients: int,
    rate: float,
    duration_s: float,
    message_bytes: int,
) -> dict[str, Any]:
    """(e): produce at ``rate`` with each message's send time; clients at the tail measure."""
    topic = kafka.live_topic()
    result, producer, cpu, _ = _tail_run(
        port, worker_pid, kafka, topic, [f"/{topic}"], clients, rate, duration_s, message_bytes
    )
    lat = result.get("latency_ms", {})
    return {
        "clients": clients,
        "rate": rate,
        "sent": producer.sent,
        "received": result["total_events"],
        "delivered_fraction": result["total_events"] / max(producer.sent * clients, 1),
        "p50_ms": lat.get("p50"),
        "p99_ms": lat.get("p99"),
        "max_ms": lat.get("max"),
        "errors": result["errors"],
        "error_samples": result["error_samples"],
        "worker_cpu": cpu,
        "client_cpu": result["client_cpu"],
    }


def first_byte(port: int, replay_topic: str, live_topic: str, repeats: int) -> dict[str, Any]:
    """(g): new streams on a warm worker, one at a time: time to first byte and first event."""
    base = {
        "host": "127.0.0.1",
        "port": port,
        "clients": repeats,
        "sequential": True,
        "timeout_s": 120,
        "pause_s": 0.3,
        "connect_concurrency": 1,
    }
    replay = run_client(
        {
            **base,
            "paths": [f"/{replay_topic}"],
            "last_event_id": replay_id(replay_topic),
            "expect": 1,
        }
    )
    tail = run_client(
        {**base, "paths": [f"/{live_topic}"], "expect": 0, "duration_s": 0.01, "clients": 1}
    )
    return {
        "repeats": repeats,
        "ttfb_ms": replay["ttfb_ms"],
        "first_event_ms": replay["first_event_ms"],
        "tail_ttfb_ms": tail["ttfb_ms"],
        "errors": replay["errors"] + tail["errors"],
    }


#: (h) a filter passing ~1% of the bench messages (10 of their 1,009 users).
ONE_PERCENT_FILTER = "contains(`[" + ",".join(f'"user{i}"' for i in range(1, 11)) + "]`, user)"
#: (h) ten distinct filters, each passing about a tenth of the messages.
TEN_FILTERS = [
    f"type == '{word}'"
    for word in (
        "edit",
        "page",
        "user",
        "wiki",
        "bot",
        "minor",
        "patrolled",
        "namespace",
        "revision",
    )
] + ["bot"]


def scan(
    port: int, worker_pid: int | None, topic: str, messages: int, filter_text: str | None
) -> dict[str, Any]:
    """(h) one stream replays the whole topic, bounded by ``?until=`` (now), so it ends by
    itself when every message has been scanned: messages scanned per second, with or
    without a filter, and how many events came through."""
    import urllib.parse

    import requests

    query = f"?until={time.time_ns() // 1_000_000}"
    if filter_text:
        query += "&filter=" + urllib.parse.quote(filter_text)
    meter = CpuMeter(worker_pid) if worker_pid else None
    began = time.perf_counter()
    response = requests.get(
        f"http://127.0.0.1:{port}/{topic}{query}",
        stream=True,
        timeout=300,
        headers={"Last-Event-ID": replay_id(topic)},
    )
    events, ended = 0, False
    tail = b""  # the previous chunk's last bytes: markers split across chunks still count
    for chunk in response.iter_content(256 * 1024):
        events += (tail[-6:] + chunk).count(b"\ndata: ")  # 6: a whole marker never twice
        ended = ended or b"event: end" in tail[-9:] + chunk
        tail = chunk[-9:] if len(chunk) >= 9 else (tail + chunk)[-9:]
    elapsed = time.perf_counter() - began
    out = {
        "filter": filter_text,
        "messages": messages,
        "events": events,
        "seconds": elapsed,
        "scanned_eps": messages / elapsed,
        "ended": ended,
        "status": response.status_code,
    }
    if meter:
        out["worker_cpu"] = meter.read()
    return out


def filtered_latency(
    port: int,
    worker_pid: int,
    kafka: Kafka,
    clients: int,
    rate: float,
    duration_s: float,
    message_bytes: int,
    filters: list[str],
) -> dict[str, Any]:
    """(h) ``clients`` streams at the tail, each with one of ``filters`` (cycled; ``""`` is
    no filter): produce at ``rate`` and measure produce → client latency of what passes."""
    import urllib.parse

    topic = kafka.live_topic()
    paths = [f"/{topic}?filter={urllib.parse.quote(f)}" for f in filters]
    result, producer, cpu, ready_s = _tail_run(
        port, worker_pid, kafka, topic, paths, clients, rate, duration_s, message_bytes
    )
    lat = result.get("latency_ms", {})
    return {
        "clients": clients,
        "distinct_filters": len([f for f in filters if f]),
        "rate": rate,
        "sent": producer.sent,
        "received": result["total_events"],
        "ready_s": ready_s,
        "p50_ms": lat.get("p50"),
        "p99_ms": lat.get("p99"),
        "max_ms": lat.get("max"),
        "errors": result["errors"],
        "error_samples": result["error_samples"],
        "worker_cpu": cpu,
        "client_cpu": result["client_cpu"],
    }
