"""The demo page in a real browser (Debian's Chromium, driven by Playwright): it shows live
events, and when the server is killed and started again, the browser's EventSource
reconnects by itself and the per-partition sequence has no gap and no duplicate. It says
whether its stream is on the shared live tail."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from tests.support.browser import CHROMIUM, Feed
from tests.support.servers import ROOT, free_port, wait_for_port


def start_server(port: int, bootstrap: str, topic: str, *extra: str) -> subprocess.Popen:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "kafkasse_wsgi",
            "serve",
            "--port",
            str(port),
            "--bootstrap-servers",
            bootstrap,
            "--allowed-topics",
            topic,
            "--heartbeat",
            "1",
            "--log-level",
            "WARNING",
            *extra,
        ],
        cwd=ROOT,
        env=dict(os.environ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for_port(port, process)
    return process


def test_demo_page_reconnects_after_server_restart_without_gap_or_duplicate(
    kafka, make_topic, kafka_bootstrap, artifacts_dir
):
    from playwright.sync_api import sync_playwright

    if not os.path.exists(CHROMIUM):
        pytest.fail("Debian's chromium is not installed: run scripts/ci-deps")

    topic = make_topic(partitions=3)
    port = free_port()
    server = start_server(port, kafka_bootstrap, topic)
    feed = Feed(kafka, topic, 3)
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1200, "height": 800})
            page.goto(f"http://127.0.0.1:{port}/?topics={topic}")
            page.wait_for_function(
                "window.kafkasseDemo && window.kafkasseDemo.opens >= 1", timeout=15_000
            )
            # A page at latest attaches to the worker's hub for its topic at once.
            page.wait_for_function("window.kafkasseDemo.tail.shared === true", timeout=15_000)
            shared = page.locator("#tail").inner_text()
            feed.start()
            page.wait_for_function("window.kafkasseDemo.received >= 15", timeout=20_000)
            assert page.locator("#events tr").count() >= 15

            server.send_signal(signal.SIGKILL)
            server.wait(10)
            time.sleep(1.0)
            server = start_server(port, kafka_bootstrap, topic)
            page.wait_for_function("window.kafkasseDemo.reconnects >= 1", timeout=30_000)
            before = page.evaluate("window.kafkasseDemo.received")
            page.wait_for_function(f"window.kafkasseDemo.received >= {before + 15}", timeout=20_000)

            feed.stop_event.set()
            feed.join(10)
            expected = {f"{topic}/{p}": offset for p, offset in feed.last_offset.items()}
            page.wait_for_function(
                "expected => Object.entries(expected)"
                ".every(([k, v]) => window.kafkasseDemo.lastOffset[k] === v)",
                arg=expected,
                timeout=20_000,
            )
            state = page.evaluate("window.kafkasseDemo")
            page.screenshot(path=str(artifacts_dir / "demo-page.png"))
            assert page.locator("#reconnects").inner_text() == str(state["reconnects"])
            browser.close()
    finally:
        feed.stop_event.set()
        server.send_signal(signal.SIGTERM)
        server.wait(10)
    assert shared == f"shared tail: 1 client on this worker's hub for {topic}"
    assert state["reconnects"] >= 1
    assert state["gaps"] == 0 and state["duplicates"] == 0, state
    assert state["lastEventId"] and topic in state["lastEventId"]


def test_demo_page_says_private_consumer_without_the_shared_tail(make_topic, kafka_bootstrap):
    from playwright.sync_api import sync_playwright

    topic = make_topic()
    port = free_port()
    server = start_server(port, kafka_bootstrap, topic, "--no-shared-tail")
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            page = browser.new_page()
            page.goto(f"http://127.0.0.1:{port}/?topics={topic}")
            page.wait_for_function("window.kafkasseDemo.opens >= 1", timeout=15_000)
            polls = page.evaluate("window.kafkasseDemo.tail.polls")
            # A poll that started after the stream was open.
            page.wait_for_function(f"window.kafkasseDemo.tail.polls > {polls}", timeout=15_000)
            tail = page.evaluate("window.kafkasseDemo.tail")
            text = page.locator("#tail").inner_text()
            browser.close()
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(10)
    assert tail["shared"] is False and text == "private consumer"


CHART_PIXELS_JS = """([canvasId, hex]) => {
  // How many pixels of the canvas are (nearly) this colour: the line was drawn there.
  const canvas = document.getElementById(canvasId);
  const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  const want = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
  let count = 0;
  for (let i = 0; i < data.length; i += 4) {
    if (data[i + 3] > 200 && want.every((c, j) => Math.abs(data[i + j] - c) < 24)) count++;
  }
  return count;
}"""


def test_demo_page_charts_events_per_partition_and_lag_live(
    kafka, make_topic, kafka_bootstrap, artifacts_dir
):
    """The page draws, with nothing fetched from anywhere but this server: a line per
    partition of events/s and a line of lag, both moving on as events arrive."""
    from playwright.sync_api import sync_playwright

    topic = make_topic(partitions=2)
    port = free_port()
    server = start_server(port, kafka_bootstrap, topic)
    feed = Feed(kafka, topic, 2)
    foreign: list[str] = []
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.on(
                "request",
                lambda request: (
                    None
                    if request.url.startswith(f"http://127.0.0.1:{port}/")
                    else foreign.append(request.url)
                ),
            )
            page.goto(f"http://127.0.0.1:{port}/?topics={topic}")
            page.wait_for_function("window.kafkasseDemo.opens >= 1", timeout=15_000)
            feed.start()
            # Three one-second samples in which both partitions had events.
            page.wait_for_function(
                "window.kafkasseDemo.chart.samples.filter(s => Object.keys(s.rates).length == 2)"
                ".length >= 3",
                timeout=20_000,
            )
            before = page.evaluate("document.getElementById('rateChart').toDataURL()")
            draws = page.evaluate("window.kafkasseDemo.chart.draws")
            page.wait_for_function(f"window.kafkasseDemo.chart.draws >= {draws + 2}")
            after = page.evaluate("document.getElementById('rateChart').toDataURL()")
            chart = page.evaluate(
                "(() => { const c = window.kafkasseDemo.chart; return {keys: c.keys, "
                "colors: c.keys.map(k => c.color(k)), samples: c.samples, pending: c.pending,"
                " received: window.kafkasseDemo.received}; })()"
            )
            ink = {
                key: page.evaluate(CHART_PIXELS_JS, ["rateChart", color])
                for key, color in zip(chart["keys"], chart["colors"], strict=True)
            }
            lag_ink = page.evaluate(CHART_PIXELS_JS, ["lagChart", "#ef6461"])
            page.screenshot(path=str(artifacts_dir / "demo-chart.png"))
            browser.close()
    finally:
        feed.stop_event.set()
        server.send_signal(signal.SIGTERM)
        server.wait(10)
    assert foreign == []
    assert sorted(chart["keys"]) == [f"{topic}/0", f"{topic}/1"]
    assert after != before, "the chart did not change while events arrived"
    assert all(count > 20 for count in ink.values()), ink
    assert lag_ink > 20
    # Every event received is counted once, in a sample or in the one being gathered.
    counted = sum(sum(s["rates"].values()) for s in chart["samples"]) + sum(
        chart["pending"].values()
    )
    assert counted == chart["received"]
    lags = [s["lag"] for s in chart["samples"] if s["lag"] is not None]
    assert lags and all(lag >= 0 for lag in lags)
