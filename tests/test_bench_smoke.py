"""The benchmark still runs: a tiny ``scripts/bench --quick`` against the test broker.

Benchmarks are not tests: nothing here asserts a speed, only that every figure is produced,
named as the report expects, and a sane positive number.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.servers import ROOT


def _positive(value: object) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value) and value > 0


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_quick_bench_reports_every_figure_of_a_b_g_h_and_j(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    out = tmp_path / "bench.json"
    env = dict(
        os.environ,
        KAFKA_BOOTSTRAP_SERVERS=kafka_bootstrap,
        PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
    )
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "scripts.bench_lib",
            "--quick",
            "--only",
            "a,b,g,h,k",
            "--json",
            str(out),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    results = json.loads(out.read_text())

    assert "failures" not in results
    meta = results["meta"]
    assert meta["quick"] is True
    assert meta["machine"]["cores"] >= 1
    assert meta["versions"]["kafka-python"] != "not installed"
    assert results["data"]["messages"] > 0 and results["data"]["message_bytes"] > 0

    assert _positive(results["a"]["eps"])
    assert results["a"]["events"] == results["data"]["messages"]
    assert _positive(results["b"]["eps"])
    assert results["b"]["events"] == results["data"]["messages"]
    assert results["b"]["errors"] == []
    assert _positive(results["b"]["worker_cpu"])
    assert _positive(results["metrics"]["b_over_a"])

    g = results["g"]
    assert g["errors"] == 0
    assert _positive(g["ttfb_ms"]["p50"]) and _positive(g["first_event_ms"]["p50"])
    assert g["ttfb_ms"]["n"] == g["repeats"]
    assert "(a) bare kafka-python consumer" in done.stdout

    h = results["h"]
    messages = results["data"]["messages"]
    assert h["unfiltered"]["ended"] and h["one_percent"]["ended"]  # ?until= ended both
    assert h["unfiltered"]["events"] == messages + 1  # every message, then event: end
    assert 0 < h["one_percent"]["events"] < messages / 20
    assert _positive(h["unfiltered"]["scanned_eps"]) and _positive(h["one_percent"]["scanned_eps"])
    assert _positive(results["metrics"]["h_filtered_over_unfiltered"])
    assert {(t["clients"], t["distinct_filters"] > 0) for t in h["tail"]} == {
        (5, True),
        (5, False),
        (20, True),
        (20, False),
    }
    for tail in h["tail"]:
        assert tail["errors"] == 0 and tail["received"] > 0 and _positive(tail["p99_ms"])
    assert "(h) one stream scanning, 1% filter" in done.stdout

    # (k): every event reached the streams measured beside a paused client or blocking hooks.
    for name in ("paused", "hooks"):
        row = results["k"][name]
        assert row["errors"] == 0 and row["received"] == row["expected"] > 0, row
        assert _positive(row["p99_ms"])
    assert "(k) paused: p99 beside a misbehaving stream" in done.stdout


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_quick_bench_reports_the_shared_tail_against_one_consumer_per_stream(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    """(i), issue 10: every scenario runs in both modes, and each mode is what it says (the
    shared runs' streams are on a hub, the per-stream runs have none)."""
    out = tmp_path / "bench.json"
    env = dict(
        os.environ,
        KAFKA_BOOTSTRAP_SERVERS=kafka_bootstrap,
        PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
    )
    done = subprocess.run(
        [sys.executable, "-m", "scripts.bench_lib", "--quick", "--only", "i", "--json", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    results = json.loads(out.read_text())
    assert "failures" not in results
    i = results["i"]
    assert i["shared_tail_supported"] is True
    assert i["partitions"] == 3

    for part in ("latency", "fanout"):
        row = i[part]
        assert _positive(row["client_ceiling"]["eps"])
        for mode in ("per-stream", "shared"):
            run = row[mode]
            assert run["errors"] == 0 and run["connected"] == row["clients"]
            assert 0 < run["delivered_fraction"] <= 1  # nothing duplicated
            assert _positive(run["p99_ms"]) and _positive(run["worker_cpu"])
        assert row["shared"]["tail"]["clients"] == row["clients"]
        assert row["per-stream"]["tail"]["hubs"] == 0

    shared, per_stream = i["idle"]["shared"], i["idle"]["per-stream"]
    assert shared["connected"] == shared["n"] and per_stream["connected"] == per_stream["n"]
    assert shared["tail"]["clients"] == shared["n"]
    assert per_stream["broker_conns"] >= per_stream["n"]  # a consumer each
    assert 0 < shared["broker_conns"] <= i["brokers"]  # the hub's own
    assert _positive(per_stream["rss_per_stream_kb"]) and _positive(shared["open_s"])

    capacity = i["capacity"]
    assert _positive(capacity["client_ceiling"]["eps"])
    for mode in ("per-stream", "shared"):
        assert capacity[mode]["steps"] and _positive(capacity[mode]["sustained_eps"])
    assert "(i) shared live tail vs one consumer per stream" in done.stdout
