"""The queue between a stream's pump and its response: bounded in chunks and in bytes.

A count of chunks alone bounds nothing: a chunk's size is its events' size, and every
event's ``id`` lists every partition of the stream (a 1,000-partition stream sends ids of
~100 KB). So ``put`` also waits while the queued bytes would pass ``max_bytes``. A chunk
larger than that still goes in, alone, once the queue is empty: a stream never stops on
one big batch.
"""

from __future__ import annotations

import time
from typing import Any

from gevent.event import Event
from gevent.queue import Full, Queue


class StreamQueue:
    """A gevent queue of byte chunks (and one final item) bounded in items and in bytes.

    :param maxsize: most items queued (``queue_size``).
    :param max_bytes: most bytes of chunks queued (``queue_bytes``); see the module doc.
    """

    def __init__(self, maxsize: int, max_bytes: int) -> None:
        self._queue: Queue = Queue(maxsize=maxsize)
        self.max_bytes = max_bytes
        self.queued_bytes = 0
        self._taken = Event()  # set by get(): there may be room now

    def put(self, item: Any, timeout: float | None = None) -> None:
        """Queue ``item``, waiting up to ``timeout`` seconds in all for room.

        :raises gevent.queue.Full: no room within ``timeout``.
        """
        size = len(item) if type(item) is bytes else 0
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.queued_bytes and self.queued_bytes + size > self.max_bytes:
            self._taken.clear()
            remaining = None if deadline is None else deadline - time.monotonic()
            if (remaining is not None and remaining <= 0) or not self._taken.wait(remaining):
                raise Full
        remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
        self._queue.put(item, timeout=remaining)
        self.queued_bytes += size

    def put_nowait(self, item: Any) -> None:
        """Queue ``item`` if there is room for it now (an end is 0 bytes: only items count).

        :raises gevent.queue.Full: no room.
        """
        size = len(item) if type(item) is bytes else 0
        if self.queued_bytes and self.queued_bytes + size > self.max_bytes:
            raise Full
        self._queue.put_nowait(item)
        self.queued_bytes += size

    def get(self, timeout: float | None = None) -> Any:
        """The next item.

        :raises gevent.queue.Empty: nothing within ``timeout``.
        """
        item = self._queue.get(timeout=timeout)
        if type(item) is bytes:
            self.queued_bytes -= len(item)
            self._taken.set()
        return item
