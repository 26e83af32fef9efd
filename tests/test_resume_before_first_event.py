"""A client holds a resumable position from its stream's first bytes: nothing is lost when a
stream ends before its first event and the client resumes on another server.

Regression (issue 22): a client at latest on a quiet topic whose stream the server ended
before any event (``max_stream_lifetime_s``, a shutdown), or whose connection dropped, held
no id: it reconnected to another server at that server's latest, and what was produced
meanwhile was lost. On one worker the shared hub hid it, so servers A and B here are two
processes. Default options (the shared tail) except the one under test; every id mode.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support.clients import SSEReader, payloads_of
from tests.support.kafka import KafkaHelper
from tests.support.lean_reader import parse_events
from tests.support.servers import Server, start_cli

ID_MODES = ("offset", "timestamp", "cursor")
LIFETIME_S = 1.0  # the subject of the lifetime case: the stream ends before any event
PARTITIONS = 2
#: How long server B gets to deliver what was produced (it is there already).
DELIVERY_WAIT_S = 8.0


def last_event_id(raw: bytes) -> str | None:
    """An EventSource's ``lastEventId`` after these bytes: every block's ``id:`` sets it, an
    id-only block too (it dispatches no event)."""
    _events, last = parse_events(raw.replace(b"\r\n", b"\n").replace(b"\r", b"\n"))
    return last


def _ended_by_lifetime(serve: Callable[..., Server], topic: str, mode: str, **_: Any) -> bytes:
    server = serve({"id_mode": mode, "max_stream_lifetime_s": LIFETIME_S})
    with SSEReader(f"{server.url}/{topic}", timeout_s=LIFETIME_S + 10) as reader:
        reader.read_until_end(timeout_s=LIFETIME_S + 10)
        assert reader.ended and b":end: limit" in reader.raw, reader.raw
        return reader.raw


def _ended_by_shutdown(
    serve: Callable[..., Server], topic: str, mode: str, bootstrap: str, log: Path
) -> bytes:
    server = start_cli(
        ["--bootstrap-servers", bootstrap, "--allowed-topics", topic, "--id-mode", mode],
        log_path=log,
    )
    try:
        with SSEReader(f"{server.url}/{topic}") as reader:
            assert reader.wait_comments(1) >= 1  # ":ok": the stream is set up
            server.process.send_signal(signal.SIGTERM)
            reader.read_until_end(timeout_s=15)
            assert reader.ended and b":end: shutdown" in reader.raw, reader.raw
            return reader.raw
    finally:
        server.stop()


def _dropped(serve: Callable[..., Server], topic: str, mode: str, **_: Any) -> bytes:
    server = serve({"id_mode": mode})
    with SSEReader(f"{server.url}/{topic}") as reader:
        assert reader.wait_comments(1) >= 1  # the first bytes, then the client goes
        return reader.raw


ENDINGS = {"lifetime": _ended_by_lifetime, "shutdown": _ended_by_shutdown, "drop": _dropped}


@pytest.mark.parametrize("mode", ID_MODES)
@pytest.mark.parametrize("ending", list(ENDINGS))
def test_a_stream_ended_before_its_first_event_resumes_on_another_server_without_loss(
    ending: str,
    mode: str,
    serve: Callable[..., Server],
    kafka: KafkaHelper,
    make_topic: Callable[..., str],
    kafka_bootstrap: str,
    tmp_path: Path,
) -> None:
    """Server A ends the stream (or the client drops it) before any event; an event per
    partition is produced; the client resumes on server B with the id it holds and gets
    them. The events produced before it started are not replayed (by offset: none at all;
    a timestamp id may name the last one's millisecond, see the README's wire format)."""
    topic = make_topic(partitions=PARTITIONS)
    for p in range(PARTITIONS):
        kafka.produce(topic, [{"old": p}], partition=p)
    raw = ENDINGS[ending](serve, topic, mode, bootstrap=kafka_bootstrap, log=tmp_path / "a.log")
    held = last_event_id(raw)
    news = [{"new": p} for p in range(PARTITIONS)]
    for p in range(PARTITIONS):
        kafka.produce(topic, [news[p]], partition=p)

    server_b = serve({"id_mode": mode})
    headers = {"Last-Event-ID": held} if held is not None else {}
    got: list[Any] = []
    deadline = time.monotonic() + DELIVERY_WAIT_S
    with SSEReader(f"{server_b.url}/{topic}", headers=headers) as reader:
        while time.monotonic() < deadline and not all(n in got for n in news):
            events = payloads_of(reader.read(1, timeout_s=deadline - time.monotonic()))
            got += [{k: v for k, v in m.items() if k != "_kafka"} for m in events]
    assert held is not None, f"the client holds no id after {raw!r}"
    assert sorted((m for m in got if "new" in m), key=str) == news, got
    if mode != "timestamp":
        assert len(got) == len(news), f"replayed what came before the start: {got}"


@pytest.mark.parametrize("shared_tail", [True, False], ids=["shared-tail", "own-consumer"])
def test_a_timestamp_first_id_skips_no_event_from_a_producer_whose_clock_is_behind(
    shared_tail: bool,
    serve: Callable[..., Server],
    kafka: KafkaHelper,
    make_topic: Callable[..., str],
) -> None:
    """Regression: a stream at latest stamped its first timestamp id with the server's clock,
    so an event produced after it by a producer whose clock is a minute behind (its
    timestamp earlier than the id) was skipped by a resume. The first id names the time of a
    record already in the partition instead: the resume starts at or before it."""
    topic = make_topic()
    kafka.produce(topic, [{"old": 0}])
    options: dict[str, Any] = {"id_mode": "timestamp"}
    if not shared_tail:
        options["shared_tail"] = False
    server_a = serve(options)
    with SSEReader(f"{server_a.url}/{topic}") as reader:
        assert reader.wait_comments(1) >= 1
        held = last_event_id(reader.raw)
    assert held is not None, reader.raw
    behind = int(time.time() * 1000) - 60_000
    kafka.produce(topic, [{"new": 0}], timestamp_ms=behind)

    server_b = serve({"id_mode": "timestamp"})
    got: list[Any] = []
    deadline = time.monotonic() + DELIVERY_WAIT_S
    with SSEReader(f"{server_b.url}/{topic}", headers={"Last-Event-ID": held}) as reader:
        while time.monotonic() < deadline and {"new": 0} not in got:
            events = payloads_of(reader.read(1, timeout_s=deadline - time.monotonic()))
            got += [{k: v for k, v in m.items() if k != "_kafka"} for m in events]
    # The record the id names may come again (its millisecond); nothing older.
    assert got in ([{"new": 0}], [{"old": 0}, {"new": 0}]), got
