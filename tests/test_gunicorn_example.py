"""examples/gunicorn.conf.py as a user runs it, with two workers: what the README asks for
metrics with several workers (``PROMETHEUS_MULTIPROC_DIR``, the worker-exit hook), and
gunicorn's own log lines as JSON beside ours."""

from __future__ import annotations

import json
import os
import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.support.clients import SSEReader
from tests.support.servers import ROOT, Server, start_gunicorn

EXAMPLES = ROOT / "examples"
WORKERS = 2


@pytest.fixture
def example(kafka_bootstrap: str, tmp_path: Path) -> Iterator[tuple[Server, Path]]:
    """examples/deploy/wsgi.py (it serves /metrics) under the example configuration."""
    log = tmp_path / "gunicorn.log"
    env = {"KAFKASSE_BOOTSTRAP_SERVERS": kafka_bootstrap}
    args = ["-c", str(EXAMPLES / "gunicorn.conf.py"), "--chdir", str(EXAMPLES / "deploy")]
    server = start_gunicorn(
        "wsgi:application", workers=WORKERS, extra_args=args, env=env, log_path=log
    )
    yield server, log
    server.stop()


def workers_of(server: Server, count: int, timeout_s: float = 20) -> list[int]:
    from tests.test_frameworks import _children

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        children = _children(server.pid)
        if len(children) >= count:
            return children
        time.sleep(0.05)
    raise TimeoutError(f"gunicorn {server.pid} has not {count} workers")


def metric(text: str, name: str) -> float:
    match = re.search(rf"^{name} (\S+)$", text, re.MULTILINE)
    assert match, text
    return float(match.group(1))


def test_metrics_merge_workers_and_forget_dead_ones(example, make_topic):
    """Regression: the example had neither ``PROMETHEUS_MULTIPROC_DIR`` (each worker answered
    /metrics with its own counters) nor the ``child_exit`` hook (a killed worker's open
    streams stayed in ``kafkasse_streams_open`` for good)."""
    server, _ = example
    topic = make_topic()
    first = workers_of(server, WORKERS)
    readers = [SSEReader(f"{server.url}/{topic}") for _ in range(4)]
    try:
        assert all(reader.status == 200 for reader in readers)
        for _ in range(4):  # whichever worker answers: every worker's values, merged
            text = requests.get(f"{server.url}/metrics", timeout=10).text
            assert "python_info" not in text  # multiprocess mode: no per-process collectors
            assert metric(text, "kafkasse_streams_started_total") == 4
            assert metric(text, "kafkasse_streams_open") == 4
        for pid in first:
            os.kill(pid, signal.SIGKILL)  # no cleanup of their own: the master's hook
    finally:
        for reader in readers:
            reader.close()
    workers_of(server, WORKERS)
    deadline = time.monotonic() + 20
    while True:
        try:
            text = requests.get(f"{server.url}/metrics", timeout=10).text
            if metric(text, "kafkasse_streams_open") == 0 or time.monotonic() > deadline:
                break
        except requests.ConnectionError:
            pass
        time.sleep(0.2)
    assert metric(text, "kafkasse_streams_open") == 0


def test_gunicorn_logs_json_lines_beside_ours(example):
    """Regression: gunicorn's own lines ("Booting worker", "Listening at") were plain text
    among the application's JSON lines."""
    server, log = example
    workers_of(server, WORKERS)
    requests.get(f"{server.url}/healthz", timeout=10)
    deadline = time.monotonic() + 10
    while "Booting worker" not in log.read_text() and time.monotonic() < deadline:
        time.sleep(0.1)
    server.stop()
    lines = [line for line in log.read_text().splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # every line is JSON
    names = {record.get("name") for record in records}
    assert "gunicorn.error" in names, lines
    assert all({"time", "level", "message"} <= set(record) for record in records), lines
