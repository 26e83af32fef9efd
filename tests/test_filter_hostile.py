"""Hostile ``?filter=`` expressions against a real server with the DEFAULT options, on the real
broker, on the shared tail: the reported family is refused or bounded, another client on the
same worker keeps receiving its events, and the worker's memory stays bounded."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import requests

from kafkasse_wsgi import _filters as filters
from kafkasse_wsgi.options import Options

#: A worker under the filter family stays under this (the issue's figure).
RSS_BOUND_KB = 400 * 1024
#: What a client's event may take besides the hostile streams on a loaded 2-core machine:
#: produce, fetch, format, write and read.
BASELINE_DELAY_S = 0.3
#: One evaluation of any filter on a small event (tests/unit/test_filter_budget.py).
EVENT_BOUND_S = 0.1
EVENTS = 40
BURST = 100
#: Events before the test's: what the replays filter with their own consumers.
BACKLOG = 300


def stages(count: int, suffix: str = "") -> str:
    return "@" + "|[@,@,@,@,@,@,@,@]|to_string(@)" * count + "|length(@)" + suffix


def _rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class _Reader(threading.Thread):
    """Reads an SSE stream line by line; notes when each event's ``data:`` line arrived."""

    def __init__(self, url: str, params: dict[str, str] | None = None) -> None:
        super().__init__(daemon=True)
        self.response = requests.get(url, params=params, stream=True, timeout=30)
        self.arrivals: list[tuple[float, dict[str, Any]]] = []
        self.ready = threading.Event()
        self.start()

    def run(self) -> None:
        try:
            for line in self.response.iter_lines(chunk_size=1):
                if line == b":ok":
                    self.ready.set()
                if line.startswith(b"data: "):
                    self.arrivals.append((time.time(), json.loads(line[6:])))
        except Exception:  # closed under the read: the test is over
            pass

    def close(self) -> None:
        self.response.close()
        self.join(5)


def test_the_filter_family_cannot_starve_another_client_or_grow_the_worker(
    serve, kafka, make_topic
):
    topic = make_topic()
    server = serve()  # the defaults: what a public endpoint runs
    url = f"{server.url}/{topic}"
    kafka.produce(topic, [{"sent": 0, "pad": "y" * 200}] * BACKLOG)
    # Several clients send the reported 8-stage filter (and longer ones): 400s, at once.
    refused = [stages(8)] * 3 + [stages(count) for count in range(9, 15)]
    for text in refused:
        with requests.get(url, params={"filter": text}, timeout=10, stream=True) as response:
            assert response.status_code == 400, text
            assert response.json()["name"] == "InvalidFilterError"
    # The ones accepted are bounded per event; each stream is its own expression.
    accepted = [stages(count) for count in range(1, 6)]
    accepted += [stages(5, f" > `{n}`") for n in range(3)]
    hostile = [_Reader(url, {"filter": text}) for text in accepted]
    # And replays of what came before, which read with consumers of their own (the pump).
    hostile += [_Reader(url, {"filter": stages(5, f" > `{n}`"), "since": "0"}) for n in (3, 4)]
    other = _Reader(url)
    peak = _rss_kb(server.pid)
    try:
        for reader in [*hostile, other]:
            assert reader.ready.wait(15) and reader.response.status_code == 200
        # A burst (a batch that takes every hostile stream a while), then a steady flow.
        for n in range(BURST + EVENTS):
            kafka.producer.send(topic, json.dumps({"sent": time.time(), "pad": "y" * 200}).encode())
            if n >= BURST:
                kafka.producer.flush()
                peak = max(peak, _rss_kb(server.pid))
                time.sleep(0.05)
        deadline = time.monotonic() + 30
        while len(other.arrivals) < BURST + EVENTS and time.monotonic() < deadline:
            peak = max(peak, _rss_kb(server.pid))
            time.sleep(0.05)
    finally:
        server.stop()  # ends every stream: a read blocked in another thread returns
        for reader in [*hostile, other]:
            reader.close()
    assert len(other.arrivals) == BURST + EVENTS
    worst = max(arrived - event["sent"] for arrived, event in other.arrivals)
    # The hub's batching, then each hostile stream ahead of it: one slice and the one
    # evaluation that began before the slice ran out.
    bound = (
        Options().tail_batch_interval_ms / 1000
        + len(hostile) * (filters.FILTER_SLICE_S + EVENT_BOUND_S)
        + BASELINE_DELAY_S
    )
    print(f"\nworst delay {worst * 1000:.0f} ms (bound {bound * 1000:.0f} ms), peak RSS {peak} kB")
    assert worst <= bound
    assert peak <= RSS_BOUND_KB
