"""Where a stream stands in every assigned partition: the source of each event's ``id``.

The id lists *every* assigned partition with the next offset to read (or ``timestamp + 1``
with ``use_timestamp_for_id``), so a client that reconnects with it resumes each partition
exactly, including those that sent nothing yet: they carry the concrete offset they started
at, never ``-1``.

Encoding the whole list for every event would cost O(partitions) JSON work per event; the
id is instead joined from per-partition fragments, and only the fragment of the partition
that moved is re-encoded.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from .assignments import StartPosition


class Positions:
    """Next offsets (or timestamps) of the assigned partitions, in assignment order."""

    __slots__ = ("_fragments", "_id", "_index", "_prefixes", "_use_timestamp", "_values")

    def __init__(self, starts: Sequence[StartPosition], use_timestamp: bool = False) -> None:
        self._use_timestamp = use_timestamp
        self._index: dict[tuple[str, int], int] = {}
        self._values: list[int] = []
        self._prefixes: list[str] = []
        self._fragments: list[str] = []
        key = "timestamp" if use_timestamp else "offset"
        for i, start in enumerate(starts):
            self._index[(start.topic, start.partition)] = i
            value = start.offset
            if use_timestamp:
                # A quiet partition resumes from the time its stream started reading it.
                value = start.timestamp if start.timestamp is not None else 0
            prefix = f'{{"topic":{json.dumps(start.topic)},"partition":{start.partition},"{key}":'
            self._values.append(value)
            self._prefixes.append(prefix)
            self._fragments.append(f"{prefix}{value}}}")
        self._id: str | None = None

    def advance(self, topic: str, partition: int, offset: int, timestamp: int) -> None:
        """Record that the message at ``offset`` (with ``timestamp``) has been handled."""
        i = self._index[(topic, partition)]
        value = (timestamp if self._use_timestamp else offset) + 1
        # Offsets only grow; producer timestamps may not, and an id never moves back.
        if value > self._values[i]:
            self._values[i] = value
            self._fragments[i] = f"{self._prefixes[i]}{value}}}"
            self._id = None

    def event_id(self) -> str:
        """The current positions as the compact JSON array sent in ``id:``."""
        if self._id is None:
            self._id = "[" + ",".join(self._fragments) + "]"
        return self._id

    def as_list(self) -> list[dict[str, Any]]:
        return json.loads(self.event_id())
