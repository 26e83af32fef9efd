"""Bounded replays: where a stream with ``?until=`` or ``?limit=`` ends.

``until`` ends each partition at its *stop offset*: the first offset whose timestamp is at
or after ``until`` (Kafka's ``offsets_for_times``), so the records of a partition delivered
are exactly those before it. A partition without such a record yet stops at its end offset
once ``until`` has passed on this server's clock (records written later carry later
timestamps), so a quiet partition never keeps a replay open. When every partition is done,
the stream ends with ``event: end``. ``limit`` ends the stream after that many delivered
events. Either way the final id is that of the last event delivered (or of the last one
filtered out): a reconnect with it finds nothing left and gets 204 No Content.

Pure: the Kafka look-ups are the caller's (``_start_offsets.resolve_stop_offsets``).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from ._assignments import StartPosition

#: The causes of ends this module decides, as :class:`~kafkasse_wsgi._protocol.End` carries them.
END_UNTIL = "until"
END_LIMIT = "event_limit"


@dataclass(frozen=True)
class ReplayBounds:
    """What the request bounded: ``until`` (epoch ms) and ``limit`` (events); ``None``: no bound."""

    until: int | None = None
    limit: int | None = None

    def __bool__(self) -> bool:
        return self.until is not None or self.limit is not None


class ReplayEnd:
    """Tracks one stream against its bounds; the pump asks it about every record.

    :param bounds: the request's bounds.
    :param starts: the resolved start of every partition.
    :param stops: per ``(topic, partition)``, the stop offset when known (``None``: no record
        at or after ``until`` yet). Only with ``until``.
    """

    def __init__(
        self,
        bounds: ReplayBounds,
        starts: Iterable[StartPosition],
        stops: Mapping[tuple[str, int], int | None] | None = None,
    ) -> None:
        self.bounds = bounds
        self._left = bounds.limit
        self._next: dict[tuple[str, int], int] = {(s.topic, s.partition): s.offset for s in starts}
        self._stops: dict[tuple[str, int], int | None] = dict(stops or {})
        self._done: set[tuple[str, int]] = set()
        self.cause: str | None = None
        if bounds.until is not None:
            for key in self._next:
                self._check(key)

    @property
    def finished(self) -> bool:
        """The stream has delivered all it will: end it (``cause`` says why)."""
        return self.cause is not None

    @property
    def unresolved(self) -> list[tuple[str, int]]:
        """Partitions reading on without a known stop offset (``until`` not reached yet)."""
        if self.bounds.until is None:
            return []
        return [k for k in self._next if k not in self._done and self._stops.get(k) is None]

    def until_passed(self, now_ms: int | None = None) -> bool:
        """Whether ``until`` is in the past on this server's clock."""
        until = self.bounds.until
        return until is not None and (now_ms if now_ms is not None else _now_ms()) >= until

    def set_stop(self, topic: str, partition: int, offset: int) -> None:
        """The stop offset of a partition found later (its end offset once ``until`` passed)."""
        key = (topic, partition)
        if self._stops.get(key) is None:
            self._stops[key] = offset
            self._check(key)

    def add(self, start: StartPosition) -> None:
        """A partition that joined the stream (added to its topic while it runs): read from
        its start; with ``until``, its stop is found as it reads, or at its end offset."""
        key = (start.topic, start.partition)
        self._next.setdefault(key, start.offset)

    def admits(self, topic: str, partition: int, offset: int, timestamp: int) -> bool:
        """Whether this record is inside the bounds; a record past ``until`` ends its partition.

        Call it before handling the record; a record it refuses must not move the positions.
        """
        key = (topic, partition)
        if key in self._done:
            return False
        if self.bounds.until is not None:
            stop = self._stops.get(key)
            if (stop is not None and offset >= stop) or timestamp >= self.bounds.until:
                self._stops[key] = offset if stop is None else min(stop, offset)
                self._finish_partition(key)
                return False
        self._next[key] = offset + 1
        if self.bounds.until is not None:
            self._check(key)  # the last record before a known stop: done without waiting
        return True

    def delivered(self) -> bool:
        """Count one delivered event; whether that was the last one ``limit`` allows."""
        if self._left is None:
            return False
        self._left -= 1
        if self._left <= 0:
            self.cause = END_LIMIT
            return True
        return False

    def _check(self, key: tuple[str, int]) -> None:
        stop = self._stops.get(key)
        if stop is not None and self._next[key] >= stop:
            self._finish_partition(key)

    def _finish_partition(self, key: tuple[str, int]) -> None:
        self._done.add(key)
        if len(self._done) == len(self._next):
            self.cause = self.cause or END_UNTIL


def _now_ms() -> int:
    return time.time_ns() // 1_000_000
