"""A stream's first bytes give its client a position: ``:ok``, then an id-only frame with the
start of every partition; a stream the server ends before any event ends with that id.

Pure units: a stand-in consumer that never has a record, the stream's bytes compared exactly.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import gevent
import pytest

from kafkasse_wsgi._assignments import StartPosition
from kafkasse_wsgi._positions import Positions
from kafkasse_wsgi._stream import EventStream
from kafkasse_wsgi.options import Options

LOG = logging.getLogger(__name__)
STARTS = [
    StartPosition("a", 0, 12, "latest", timestamp=1795730038371),
    StartPosition("a", 1, 0, "latest", timestamp=0),
]
#: The first frame's id in each id mode: the start offsets; the newest timestamp already in
#: each partition (the position's timestamp - 1, never below 0).
FIRST_IDS = {
    "offset": '[{"topic":"a","partition":0,"offset":12},{"topic":"a","partition":1,"offset":0}]',
    "timestamp": (
        '[{"topic":"a","partition":0,"timestamp":1795730038370},'
        '{"topic":"a","partition":1,"timestamp":0}]'
    ),
    "cursor": '{"cluster":null,"positions":[["a",0,12,1795730038370],["a",1,0,0]]}',
}


class QuietConsumer:
    """A consumer on partitions that never get a record."""

    def poll(self, timeout_ms: int = 0, max_records: int | None = None) -> dict[Any, Any]:
        gevent.sleep(timeout_ms / 1000)
        return {}

    def close(self, autocommit: bool = False) -> None:
        pass


def _stream(**options: Any) -> EventStream:
    return EventStream(QuietConsumer(), STARTS, Options(**options), LOG)


@pytest.mark.parametrize("mode", list(FIRST_IDS))
def test_the_first_bytes_are_ok_then_an_id_only_frame_with_every_start(mode: str) -> None:
    stream = _stream(id_mode=mode)
    try:
        first = next(iter(stream))
    finally:
        stream.close()
    assert first == b":ok\n\nid: " + FIRST_IDS[mode].encode() + b"\n\n"


def test_the_id_frame_comes_before_the_retry_hint() -> None:
    stream = _stream(retry_ms=2000)
    try:
        first = next(iter(stream))
    finally:
        stream.close()
    assert first == b":ok\n\nid: " + FIRST_IDS["offset"].encode() + b"\n\nretry: 2000\n\n"


def test_json_mode_has_no_ids() -> None:
    stream = _stream(disable_sse_formatting=True)
    try:
        assert next(iter(stream)) == b"\n"
    finally:
        stream.close()


@pytest.mark.parametrize("cause", ["limit", "shutdown"])
@pytest.mark.parametrize("mode", list(FIRST_IDS))
def test_a_stream_ended_before_any_event_ends_with_its_first_id(mode: str, cause: str) -> None:
    """Regression: it ended with ``retry:`` and ``:end:`` only, and its client, holding no
    id, resumed at another server's latest and lost what came meanwhile."""
    stream = _stream(id_mode=mode)
    chunks = iter(stream)
    try:
        next(chunks)
        stream.end(cause)
        last = b"".join(chunks)
    finally:
        stream.close()
    frame = re.escape(b"id: " + FIRST_IDS[mode].encode() + b"\n\n")
    assert re.fullmatch(rb"retry: \d+\n\n" + frame + b":end: " + cause.encode() + b"\n\n", last)


def test_positions_first_id_is_the_event_id_with_timestamps_one_ms_back() -> None:
    for mode, expected in FIRST_IDS.items():
        positions = Positions(STARTS, id_mode=mode)
        assert positions.first_id() == expected
        if mode == "offset":
            assert positions.first_id() == positions.event_id()
