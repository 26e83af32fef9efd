"""Where a stream stands in every assigned partition: the source of each event's ``id``.

Each assigned partition holds two positions, both "the first message not handled yet":

* the next **offset** to read (``offset + 1`` of the last message handled), and
* a **timestamp** no later than the first message not handled yet: ``timestamp + 1`` of the
  last message handled, or, before any, the start timestamp the setup resolved (see
  ``_start_offsets.resolve_start_positions``: never the server's clock for a replay).

"Handled" means delivered, filtered out or skipped as undeserialisable: a resume would drop
a filtered or skipped message again, so moving past it never skips an event a client would
get. A position never moves back: producer timestamps may, and an id must not.

The id mode chooses what the ``id`` shows (every assigned partition, in assignment order):

* ``offset`` (default): ``[{"topic":"a","partition":0,"offset":12},…]``
* ``timestamp`` (``use_timestamp_for_id``): ``[{"topic":"a","partition":0,"timestamp":…},…]``
* ``cursor``: both positions and the Kafka cluster id, compact:
  ``{"cluster":"<id>","positions":[["a",0,12,1795730038371],…]}``. On the same cluster a
  resume is exact by offset; on another (a mirrored topic in a second datacenter) it goes
  by timestamp.

Encoding the whole list for every event would cost O(partitions) JSON work per event; the
id is instead joined from per-partition fragments, and only the fragment of the partition
that moved is re-encoded.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from ._assignments import StartPosition

#: What event ids carry: ``offset`` (default), ``timestamp`` (the Node original's
#: ``use_timestamp_for_id``), ``cursor`` (offset, timestamp and the Kafka cluster id).
ID_MODES = ("offset", "timestamp", "cursor")

#: What a Python object (a string, an integer) weighs besides its content, roughly.
STRING_OVERHEAD_BYTES = 50


class Positions:
    """Next offsets and timestamps of the assigned partitions, in assignment order.

    :param starts: the resolved start of every assigned partition.
    :param id_mode: one of :data:`ID_MODES` (``Options`` reads ``use_timestamp_for_id`` as
        ``timestamp``).
    :param cluster_id: the Kafka cluster id the broker reported, named by cursor ids.
    """

    __slots__ = (
        "_cluster_id",
        "_fragments",
        "_id",
        "_index",
        "_mode",
        "_offsets",
        "_prefixes",
        "_shows_offset",
        "_shows_timestamp",
        "_timestamps",
    )

    def __init__(
        self,
        starts: Sequence[StartPosition],
        *,
        id_mode: str = "offset",
        cluster_id: str | None = None,
    ) -> None:
        if id_mode not in ID_MODES:
            raise ValueError(f"id_mode must be one of {', '.join(ID_MODES)}, got {id_mode!r}")
        self._mode = id_mode
        self._shows_offset = id_mode != "timestamp"
        self._shows_timestamp = id_mode != "offset"
        self._cluster_id = cluster_id
        self._index: dict[tuple[str, int], int] = {}
        self._offsets: list[int] = []
        self._timestamps: list[int] = []
        self._prefixes: list[str] = []
        self._fragments: list[str] = []
        self._id: str | None = None
        for start in starts:
            self._append(start)

    @property
    def id_mode(self) -> str:
        return self._mode

    def _append(self, start: StartPosition) -> None:
        """Add one partition at the end of the id, at its resolved start."""
        topic = json.dumps(start.topic)
        if self._mode == "cursor":
            prefix = f"[{topic},{start.partition},"
        else:
            key = "timestamp" if self._mode == "timestamp" else "offset"
            prefix = f'{{"topic":{topic},"partition":{start.partition},"{key}":'
        self._index[(start.topic, start.partition)] = len(self._offsets)
        self._offsets.append(start.offset)
        # A start without a timestamp claims nothing about time: 0 is never too late.
        self._timestamps.append(start.timestamp if start.timestamp is not None else 0)
        self._prefixes.append(prefix)
        self._fragments.append("")
        self._render(len(self._offsets) - 1)

    def _render(self, i: int) -> None:
        """Re-encode partition ``i``'s fragment after its position moved."""
        if self._mode == "cursor":
            self._fragments[i] = f"{self._prefixes[i]}{self._offsets[i]},{self._timestamps[i]}]"
        else:
            value = self._timestamps[i] if self._mode == "timestamp" else self._offsets[i]
            self._fragments[i] = f"{self._prefixes[i]}{value}}}"
        self._id = None

    def advance(self, topic: str, partition: int, offset: int, timestamp: int) -> None:
        """Record that the message at ``offset`` (with ``timestamp``) has been handled."""
        i = self._index[(topic, partition)]
        moved = False
        if offset >= self._offsets[i]:
            self._offsets[i] = offset + 1
            moved = self._shows_offset
        # Timestamps may go backwards (or be -1 on old message formats): keep the highest.
        if timestamp >= self._timestamps[i]:
            self._timestamps[i] = timestamp + 1
            moved = moved or self._shows_timestamp
        if moved:
            self._render(i)

    def add(self, start: StartPosition) -> None:
        """A partition that joined the stream (one added to its topic): named by ids from now."""
        if (start.topic, start.partition) not in self._index:
            self._append(start)

    def move(self, topic: str, partition: int, offset: int, timestamp: int = 0) -> None:
        """The stream continues this partition at ``offset`` after a reset (data it had not
        read was deleted, or the log was truncated): the offset follows, backwards too. The
        timestamp only moves forward, to ``timestamp`` (the reset's: later after a jump to
        the end, so a resume by time does not replay what the policy skipped)."""
        i = self._index[(topic, partition)]
        moved = False
        if offset != self._offsets[i]:
            self._offsets[i] = offset
            moved = self._shows_offset
        if timestamp > self._timestamps[i]:
            self._timestamps[i] = timestamp
            moved = moved or self._shows_timestamp
        if moved:
            self._render(i)

    def next_offset(self, topic: str, partition: int) -> int | None:
        """The next offset to handle in a partition; ``None`` if the stream doesn't read it."""
        i = self._index.get((topic, partition))
        return None if i is None else self._offsets[i]

    def next_offsets(self) -> dict[tuple[str, int], int]:
        """The next offset to handle in every partition."""
        return {key: self._offsets[i] for key, i in self._index.items()}

    def is_at(
        self,
        partitions: tuple[tuple[str, int], ...],
        offsets: tuple[int, ...],
        timestamps: tuple[int, ...],
    ) -> bool:
        """Whether these are exactly the positions, in id order (timestamps only count when
        the id shows them): the ids of both are then the same."""
        if len(partitions) != len(self._offsets) or tuple(self._offsets) != offsets:
            return False
        if self._shows_timestamp and tuple(self._timestamps) != timestamps:
            return False
        return tuple(self._index) == partitions

    def approximate_bytes(self) -> int:
        """What these positions weigh in memory, roughly (kept per batch by a hub's ring)."""
        strings = sum(len(f) for f in self._fragments) + sum(len(p) for p in self._prefixes)
        return strings + len(self._id or "") + STRING_OVERHEAD_BYTES * 4 * len(self._offsets)

    def adopt(self, other: Positions) -> None:
        """Take ``other``'s positions, fragments and id: the same partitions in the same
        order and id mode (a shared-tail client whose ids are its hub's)."""
        self._offsets[:] = other._offsets
        self._timestamps[:] = other._timestamps
        self._fragments[:] = other._fragments
        self._id = other._id

    def event_id(self) -> str:
        """The current positions as the compact JSON sent in ``id:``."""
        if self._id is None:
            self._id = self._joined(self._fragments)
        return self._id

    def first_id(self) -> str:
        """The id of a stream's first frame, sent before any event: the positions, with each
        timestamp 1 ms back (never below 0).

        A position's timestamp is that of the newest record handled (or, at a start, the
        newest one before it) + 1. One back, it is that record's own: a resume by that time
        starts at or before the record, so it skips nothing produced after the frame, even
        with an earlier timestamp (a producer's clock behind); it may repeat records of that
        millisecond. Offset ids are the event id.
        """
        if not self._shows_timestamp:
            return self.event_id()
        fragments = []
        for i, prefix in enumerate(self._prefixes):
            timestamp = max(self._timestamps[i] - 1, 0)
            if self._mode == "cursor":
                fragments.append(f"{prefix}{self._offsets[i]},{timestamp}]")
            else:
                fragments.append(f"{prefix}{timestamp}}}")
        return self._joined(fragments)

    def _joined(self, fragments: list[str]) -> str:
        joined = ",".join(fragments)
        if self._mode == "cursor":
            return f'{{"cluster":{json.dumps(self._cluster_id)},"positions":[{joined}]}}'
        return f"[{joined}]"

    def as_list(self) -> list[dict[str, Any]]:
        """One dict per partition: ``topic``, ``partition`` and what the id mode shows."""
        result = []
        for (topic, partition), i in self._index.items():
            entry: dict[str, Any] = {"topic": topic, "partition": partition}
            if self._shows_offset:
                entry["offset"] = self._offsets[i]
            if self._shows_timestamp:
                entry["timestamp"] = self._timestamps[i]
            result.append(entry)
        return result
