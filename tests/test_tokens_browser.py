"""Subscriber tokens in a real browser (Debian's Chromium, driven by Playwright), through
``examples/05_tokens_flask.py``: sign in, the cookie carries the token, the page's
EventSource streams only the user's topics. Tokens live a few seconds here, so streams end
at expiry several times; the browser reconnects by itself with the renewed cookie and the
per-partition sequence has no gap and no duplicate. Same-origin, and cross-origin with
``withCredentials`` and CORS.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from tests.support.browser import Feed
from tests.support.servers import ROOT, free_port, wait_for_port

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
EXAMPLE = ROOT / "examples" / "05_tokens_flask.py"
#: Short enough for several expiries in a test; the page renews the cookie at half of it.
TOKEN_LIFETIME_S = 5
SECRET = "browser-test-secret-0123456789abcdef-0123456789abcdef-0123456789"


def start_example(port: int, bootstrap: str, users: dict, cors_origin: str | None = None):
    env = {
        **os.environ,
        "PORT": str(port),
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "EXAMPLE_JWT_SECRET": SECRET,
        "EXAMPLE_SESSION_SECRET": "session-" + SECRET,
        "EXAMPLE_USERS": json.dumps(users),
        "TOKEN_LIFETIME_S": str(TOKEN_LIFETIME_S),
        "PYTHONPATH": str(ROOT),
    }
    if cors_origin:
        env["CORS_ORIGINS"] = cors_origin
    process = subprocess.Popen(
        [sys.executable, str(EXAMPLE)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for_port(port, process)
    return process


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)


@pytest.mark.parametrize("origin", ["same", "cross"])
def test_browser_streams_its_topics_across_token_expiries_without_gap_or_duplicate(
    origin, kafka, make_topic, kafka_bootstrap, artifacts_dir
):
    from playwright.sync_api import sync_playwright

    if not os.path.exists(CHROMIUM):
        pytest.fail("Debian's chromium is not installed: run scripts/ci-deps")
    mine, theirs = make_topic(partitions=3), make_topic()
    users = {"alice": [mine], "bob": [theirs]}
    page_port = free_port()
    processes = [start_example(page_port, kafka_bootstrap, users)]
    page_url = f"http://127.0.0.1:{page_port}/"
    stream_base = f"{page_url}stream"
    if origin == "cross":
        stream_port = free_port()
        processes.append(
            start_example(stream_port, kafka_bootstrap, users, cors_origin=page_url[:-1])
        )
        stream_base = f"http://127.0.0.1:{stream_port}/stream"
    feed = Feed(kafka, mine, 3)
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            page = browser.new_page()
            page.goto(page_url)
            page.fill("input[name=user]", "alice")
            page.click("button")
            page.wait_for_url(page_url)
            page.goto(f"{page_url}?stream_base={stream_base}")
            page.wait_for_function(
                "window.tokensDemo && window.tokensDemo.opens >= 1", timeout=15_000
            )

            # Another user's topic: refused exactly as a topic that does not exist.
            statuses = page.evaluate(
                """async ([base, theirs]) => {
                    const get = async (t) => (await fetch(`${base}/${t}`,
                        {credentials: "include"})).status;
                    return [await get(theirs), await get("no-such-topic-anywhere")];
                }""",
                [stream_base, theirs],
            )
            assert statuses == [404, 404]

            feed.start()
            # Three token lifetimes: at least two streams ended at expiry and came back.
            page.wait_for_function(
                "window.tokensDemo.opens >= 3", timeout=(3 * TOKEN_LIFETIME_S + 15) * 1000
            )
            feed.stop_event.set()
            feed.join(10)
            expected = {f"{mine}/{p}": offset for p, offset in feed.last_offset.items()}
            page.wait_for_function(
                "expected => Object.entries(expected)"
                ".every(([k, v]) => window.tokensDemo.lastOffset[k] === v)",
                arg=expected,
                timeout=20_000,
            )
            state = page.evaluate("window.tokensDemo")
            page.screenshot(path=str(artifacts_dir / f"tokens-page-{origin}.png"))
            browser.close()
    finally:
        feed.stop_event.set()
        for process in processes:
            stop(process)
    assert state["opens"] >= 3 and state["renewals"] >= 2 and state["closed"] == 0, state
    assert state["gaps"] == 0 and state["duplicates"] == 0, state
    assert state["received"] == sum(offset + 1 for offset in feed.last_offset.values()), state
