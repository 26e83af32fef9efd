"""Where a hub stands in its topic, and which clients its ring can take on.

A hub reads every partition of its topic from where it opened (the end offsets), and a
partition added while it runs from its first offset. Its position in each, moved batch by
batch, is where a stream starting at the head starts (:meth:`HeadPositions.position`); with
the ring's oldest batch, it tells whether a stream at given next offsets can read on from
the ring (:meth:`HeadPositions.covers`): one that caught up, or resumes a moment later.
"""

from __future__ import annotations

from collections.abc import Sequence

from .._assignments import StartPosition
from .ring import SharedRecord, TailBatch


class HeadPositions:
    """A hub's partitions in id order, and its position in each: the next offset, and the
    timestamp position as :mod:`~kafkasse_wsgi._positions` keeps it."""

    def __init__(self) -> None:
        self.partitions: tuple[tuple[str, int], ...] = ()
        self._index: dict[tuple[str, int], int] = {}
        self._offsets: list[int] = []
        self._timestamps: list[int] = []
        #: Where partitions added while the hub runs started (their first offset).
        self._joined_at: dict[tuple[str, int], int] = {}
        #: Partitions joined since the last batch: its clients learn of them with the next.
        self.joined: list[StartPosition] = []

    def add(self, start: StartPosition) -> None:
        """A partition the hub reads from ``start``."""
        key = (start.topic, start.partition)
        self._index[key] = len(self._offsets)
        self._offsets.append(start.offset)
        self._timestamps.append(start.timestamp or 0)
        self.partitions = (*self.partitions, key)

    def join(self, start: StartPosition) -> None:
        """A partition added to the topic while the hub runs, read from ``start`` (its first
        offset); the clients join it from the next batch, as in a private stream."""
        self.add(start)
        self._joined_at[(start.topic, start.partition)] = start.offset
        self.joined.append(start)

    def position(self, key: tuple[str, int]) -> tuple[int, int] | None:
        """The hub's next offset and timestamp position in a partition (``None``: not read)."""
        i = self._index.get(key)
        return None if i is None else (self._offsets[i], self._timestamps[i])

    def covers(self, next_offsets: dict[tuple[str, int], int], oldest: TailBatch | None) -> bool:
        """Whether a client at ``next_offsets`` (its partitions of this topic) can read on
        from a ring whose oldest batch is ``oldest``: each next offset lies between the
        ring's start and the hub's position."""
        for key, offset in next_offsets.items():
            i = self._index.get(key)
            if i is None:
                return False
            if oldest is None:
                floor = self._offsets[i]
            elif key in oldest.partitions:
                floor = oldest.before_offsets[oldest.partitions.index(key)]
            else:
                floor = self._joined_at[key]
            if not floor <= offset <= self._offsets[i]:
                return False
        return True

    def batch(self, seq: int, records: Sequence[SharedRecord]) -> TailBatch:
        """The ring's batch ``seq`` of ``records``, with the hub's positions before it and
        the partitions joined since the last one; the hub's positions move past it."""
        batch = TailBatch(
            seq,
            records,
            self.partitions,
            tuple(self._offsets),
            tuple(self._timestamps),
            self.joined,
        )
        self.joined = []
        self._offsets = list(batch.after_offsets)
        self._timestamps = list(batch.after_timestamps)
        return batch
