"""The queue between a stream's source and its response: bounded in chunks and in bytes.

A count of chunks alone bounds nothing: a chunk's size is its events' size, and every
event's ``id`` lists every partition of the stream (a 1,000-partition stream sends ids of
~100 KB). So ``put`` also waits while the queued bytes would pass ``max_bytes``. A chunk
larger than that still goes in, alone, once the queue is empty: a stream never stops on
one big batch.

Every open stream has one, mostly empty, with its reader waiting on it: so it is small (a
list, and a waiter only while someone waits; gevent's ``Queue`` weighs kilobytes), and its
reader waits on a bare timer, not a ``gevent.Timeout``.
"""

from __future__ import annotations

import time
from typing import Any

from gevent.event import Event
from gevent.hub import Waiter, get_hub
from gevent.queue import Empty, Full

__all__ = ["Empty", "Full", "StreamQueue"]


class StreamQueue:
    """A queue of byte chunks (and other items) bounded in items and in bytes, for one
    reader (the stream's greenlet) and any number of writers.

    :param maxsize: most items queued (``queue_size``).
    :param max_bytes: most bytes of chunks queued (``queue_bytes``); see the module doc.
    """

    __slots__ = ("_items", "_reader", "_room", "max_bytes", "maxsize", "queued_bytes")

    def __init__(self, maxsize: int, max_bytes: int) -> None:
        self.maxsize = maxsize
        self.max_bytes = max_bytes
        self.queued_bytes = 0
        self._items: list[Any] = []
        self._reader: Waiter | None = None  # the reader, while it waits for an item
        self._room: Event | None = None  # set by get(): made by the first put that waits

    def put(self, item: Any, timeout: float | None = None) -> None:
        """Queue ``item``, waiting up to ``timeout`` seconds in all for room.

        :raises gevent.queue.Full: no room within ``timeout``.
        """
        size = len(item) if type(item) is bytes else 0
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._fits(size):
            room = self._room
            if room is None:
                room = self._room = Event()
            room.clear()
            remaining = None if deadline is None else deadline - time.monotonic()
            if (remaining is not None and remaining <= 0) or not room.wait(remaining):
                raise Full
        self._add(item, size)

    def put_nowait(self, item: Any) -> None:
        """Queue ``item`` if there is room for it now (an end is 0 bytes: only items count).

        :raises gevent.queue.Full: no room.
        """
        size = len(item) if type(item) is bytes else 0
        if not self._fits(size):
            raise Full
        self._add(item, size)

    def get(self, timeout: float | None = None) -> Any:
        """The next item.

        :raises gevent.queue.Empty: nothing within ``timeout``.
        """
        if not self._items:
            self._wait(timeout)
        item = self._items.pop(0)
        if type(item) is bytes:
            self.queued_bytes -= len(item)
        if self._room is not None:
            self._room.set()
        return item

    def _fits(self, size: int) -> bool:
        if len(self._items) >= self.maxsize:
            return False
        return not self.queued_bytes or self.queued_bytes + size <= self.max_bytes

    def _add(self, item: Any, size: int) -> None:
        self._items.append(item)
        self.queued_bytes += size
        reader, self._reader = self._reader, None
        if reader is not None:
            get_hub().loop.run_callback(reader.switch, None)

    def _wait(self, timeout: float | None) -> None:
        """Wait for an item; :class:`~gevent.queue.Empty` when ``timeout`` passes first."""
        waiter = Waiter()
        self._reader = waiter
        timer = None
        if timeout is not None:
            timer = get_hub().loop.timer(timeout)
            timer.start(waiter.switch, None)
        try:
            waiter.get()
        finally:
            if self._reader is waiter:
                self._reader = None
            if timer is not None:
                timer.close()
        if not self._items:
            raise Empty
