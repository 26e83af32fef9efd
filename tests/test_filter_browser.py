"""Filters and bounded replays in a real browser (Debian's Chromium, driven by Playwright),
on the demo page: an id-only progress frame fires no ``message`` event but moves the
EventSource's last event id, so its reconnect starts past what the filter dropped; and an
``?until=`` replay ends with ``event: end``, one reconnect, 204, and the EventSource closed.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from kafkasse_wsgi.options import Options
from tests.support.browser import CHROMIUM
from tests.support.servers import free_port, start_gevent_server


def serve_demo(bootstrap: str, port: int, log_path: Path):
    """``kafkasse-wsgi serve``'s app (demo page and streams) with default options."""
    config = {"mode": "server", "options": {"kafka_config": {"bootstrap_servers": bootstrap}}}
    return start_gevent_server(config, log_path=log_path, port=port)


def started_offsets(log_path: Path) -> list[int]:
    """The start offset (partition 0) of every stream the server's log says it started."""
    offsets = []
    for line in log_path.read_text().splitlines():
        if '"stream started: ' in line:
            ids = json.loads(json.loads(line)["message"].removeprefix("stream started: "))
            offsets.append(ids[0]["offset"])
    return offsets


@pytest.fixture
def chromium():
    from playwright.sync_api import sync_playwright

    if not os.path.exists(CHROMIUM):
        pytest.fail("Debian's chromium is not installed: run scripts/ci-deps")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield browser
        browser.close()


def test_progress_frame_moves_last_event_id_without_a_message_in_chromium(
    chromium, kafka, make_topic, kafka_bootstrap, tmp_path, artifacts_dir
):
    topic = make_topic()
    kafka.produce(topic, [{"n": 0, "match": True}] + [{"n": n} for n in range(1, 301)])
    port = free_port()
    first_log, second_log = tmp_path / "first.log", tmp_path / "second.log"
    server = serve_demo(kafka_bootstrap, port, first_log)
    try:
        page = chromium.new_page()
        page.goto(f"http://127.0.0.1:{port}/?topics={topic}&since=0&filter=match")
        page.wait_for_function("window.kafkasseDemo.received === 1", timeout=15_000)
        # The 300 dropped records moved the id; the frame saying so goes out once the
        # progress interval has passed, at the pump's next idle poll at the latest.
        time.sleep(Options.DEFAULT_PROGRESS_INTERVAL_S + Options.DEFAULT_IDLE_DELAY_MS / 1000 + 1)
        assert page.evaluate("window.kafkasseDemo.received") == 1  # no message for it
        server.stop()
        server = serve_demo(kafka_bootstrap, port, second_log)
        page.wait_for_function("window.kafkasseDemo.reconnects >= 1", timeout=30_000)
        kafka.produce(topic, [{"n": 301, "match": True}])
        page.wait_for_function("window.kafkasseDemo.received === 2", timeout=15_000)
        state = page.evaluate("window.kafkasseDemo")
        page.screenshot(path=str(artifacts_dir / "filter-progress.png"))
    finally:
        server.stop()
    # The reconnect's Last-Event-ID was the progress frame's: past the filtered region.
    assert started_offsets(second_log) == [301]
    assert json.loads(state["lastEventId"])[0]["offset"] == 302
    assert state["duplicates"] == 0 and state["errors"] >= 1


def test_until_replay_ends_and_the_browser_stops_reconnecting(
    chromium, kafka, make_topic, kafka_bootstrap, tmp_path
):
    topic = make_topic(partitions=3)
    base = time.time_ns() // 1_000_000 - 60_000
    for i in range(10):
        kafka.produce(topic, [{"i": i}], partition=i % 2, timestamp_ms=base + i * 1000)
    until = base + 6_000  # i = 0..5 are before it; partition 2 stays empty
    port = free_port()
    log = tmp_path / "server.log"
    server = serve_demo(kafka_bootstrap, port, log)
    statuses = []
    try:
        page = chromium.new_page()
        page.on("response", lambda response: statuses.append(response.status))
        page.goto(f"http://127.0.0.1:{port}/?topics={topic}&since=0&until={until}")
        page.wait_for_function(
            "window.kafkasseDemo.source && window.kafkasseDemo.source.readyState === 2",
            timeout=20_000,
        )
        state = page.evaluate("window.kafkasseDemo")
        status_text = page.locator("#status").inner_text()
    finally:
        server.stop()
    assert state["received"] == 6
    assert state["ended"] is True
    assert status_text == "ended"
    assert statuses.count(204) == 1  # the one reconnect after event: end
    assert len(started_offsets(log)) == 1  # and no stream after it
