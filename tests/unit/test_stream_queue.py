"""_stream_queue.py: the byte bound of a stream's queue, and the big chunk that passes alone."""

from __future__ import annotations

import gevent
import pytest
from gevent.queue import Empty, Full

from kafkasse_wsgi._stream_queue import StreamQueue


def test_put_waits_while_the_queued_bytes_would_pass_the_bound() -> None:
    queue = StreamQueue(maxsize=10, max_bytes=100)
    queue.put(b"a" * 60)
    with pytest.raises(Full):
        queue.put(b"b" * 60, timeout=0.05)
    assert queue.queued_bytes == 60
    waiting = gevent.spawn(queue.put, b"b" * 60, 5)
    gevent.sleep(0.01)
    assert not waiting.dead, "no room yet"
    assert queue.get() == b"a" * 60  # taking a chunk makes room
    waiting.join(1)
    assert waiting.successful() and queue.queued_bytes == 60


def test_a_chunk_larger_than_the_bound_goes_in_alone() -> None:
    queue = StreamQueue(maxsize=10, max_bytes=100)
    queue.put(b"x" * 500, timeout=0.05)  # an empty queue takes it: a stream never sticks
    with pytest.raises(Full):
        queue.put(b"y", timeout=0.05)
    assert queue.get() == b"x" * 500
    queue.put(b"y", timeout=0.05)
    assert queue.queued_bytes == 1


def test_the_item_bound_still_holds_and_an_end_needs_no_bytes() -> None:
    queue = StreamQueue(maxsize=2, max_bytes=100)
    queue.put(b"a" * 90)
    queue.put_nowait("end")  # not bytes: counts as an item only
    with pytest.raises(Full):
        queue.put_nowait("another")
    assert [queue.get(), queue.get()] == [b"a" * 90, "end"]
    with pytest.raises(Empty):
        queue.get(timeout=0.01)
    assert queue.queued_bytes == 0
