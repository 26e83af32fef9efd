"""The ring of a shared tail: the recent batches of one topic, decoded once, for every client.

A hub (:mod:`~kafkasse_wsgi._tail.hub`) appends one :class:`TailBatch` per poll. Each batch knows
the hub's position in every partition before and after it, so a client can tell whether its
own position vector is the hub's (it is *aligned*): then the batch's bytes, formatted once
per id mode and filter, are its bytes too. A client that is not aligned (it reads several
topics, some partitions only, or is catching up mid-batch) formats the batch's records for
itself with :func:`deliver`, skipping what it already handled. Both give the same bytes.

The ring forgets its oldest batches past a count of events, a size in bytes and an age.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any

from .._assignments import StartPosition
from .._filters import EventFilter, FilterEvaluationError, take_turn
from .._message import parse_event_text
from .._positions import Positions
from .._sse import encode_chunk, format_json_text, format_message

#: Bytes a batch is taken to weigh besides its events' text (objects, tuples).
BATCH_OVERHEAD_BYTES = 200
#: Bytes a batch's position vectors weigh per partition (four tuples of integers).
VECTOR_BYTES_PER_PARTITION = 4 * 40
#: Bytes a record is taken to weigh besides its event's text.
RECORD_OVERHEAD_BYTES = 120
#: How many of the newest batches keep their events parsed for filters.
DECODED_BATCHES = 4
#: Bytes one expression's verdicts on a batch weigh: the dict, and per record its slot and
#: index (measured: under 60 with 1,000 records).
FILTER_RESULTS_BYTES = 240
FILTER_RESULT_BYTES = 64

_NOT_DECODED = object()


class SharedRecord:
    """One Kafka record as every client of the hub sees it.

    :param data: the event's JSON text (what follows ``data:``); ``None`` when the record
        could not be deserialized (every client skips it, and counts it).
    """

    __slots__ = ("data", "offset", "partition", "timestamp", "topic")

    def __init__(
        self, topic: str, partition: int, offset: int, timestamp: int, data: str | None
    ) -> None:
        self.topic = topic
        self.partition = partition
        self.offset = offset
        self.timestamp = timestamp
        self.data = data


class Delivery:
    """What one batch gives one client: its bytes and what to count."""

    __slots__ = (
        "chunk",
        "dropped_last",
        "filter_errors",
        "filtered",
        "positions",
        "sent",
        "skipped",
    )

    def __init__(self) -> None:
        self.chunk = b""
        #: For a batch's shared delivery: the positions after it, which aligned clients
        #: adopt (their ids are these).
        self.positions: Positions | None = None
        self.sent = 0
        self.filtered = 0
        self.filter_errors = 0
        self.skipped = 0
        #: The last record handled was dropped: the id moved without an event.
        self.dropped_last = False


class TailBatch:
    """The records of one hub poll, with the hub's positions around them.

    :param partitions: the hub's partitions, in id order, at this batch.
    :param before_offsets: the hub's next offset in each of them before this batch.
    :param before_timestamps: the hub's timestamp position in each (see
        :mod:`~kafkasse_wsgi._positions`) before this batch.
    :param added: partitions that joined the topic with this batch (their first offset).
    """

    __slots__ = (
        "_decoded",
        "_deliveries",
        "_filter_results",
        "_grown",
        "added",
        "after_offsets",
        "after_timestamps",
        "before_offsets",
        "before_timestamps",
        "born",
        "partitions",
        "records",
        "seq",
        "size",
    )

    def __init__(
        self,
        seq: int,
        records: Sequence[SharedRecord],
        partitions: tuple[tuple[str, int], ...],
        before_offsets: tuple[int, ...],
        before_timestamps: tuple[int, ...],
        added: Sequence[StartPosition] = (),
    ) -> None:
        self.seq = seq
        self.records = list(records)
        self.partitions = partitions
        self.before_offsets = before_offsets
        self.before_timestamps = before_timestamps
        self.added = list(added)
        offsets = list(before_offsets)
        timestamps = list(before_timestamps)
        index = {key: i for i, key in enumerate(partitions)}
        size = BATCH_OVERHEAD_BYTES + VECTOR_BYTES_PER_PARTITION * len(partitions)
        for record in self.records:
            i = index[(record.topic, record.partition)]
            # The same rules as Positions.advance: offsets and timestamps never move back.
            if record.offset >= offsets[i]:
                offsets[i] = record.offset + 1
            if record.timestamp >= timestamps[i]:
                timestamps[i] = record.timestamp + 1
            size += RECORD_OVERHEAD_BYTES + (len(record.data) if record.data else 0)
        self.after_offsets = tuple(offsets)
        self.after_timestamps = tuple(timestamps)
        self.size = size
        self.born = time.monotonic()
        self._deliveries: dict[Hashable, Delivery] = {}
        self._filter_results: dict[EventFilter, dict[int, bool]] = {}
        # Events parsed for filters, shared by every expression while the batch is recent.
        self._decoded: dict[int, Any] | None = {}
        self._grown: Callable[[int], None] | None = None

    def decoded(self, i: int) -> Any:
        """Record ``i``'s event as a filter sees it (it holds ``_kafka``)."""
        cache = self._decoded
        if cache is None:
            data = self.records[i].data
            assert data is not None
            return parse_event_text(data)
        event = cache.get(i, _NOT_DECODED)
        if event is _NOT_DECODED:
            data = self.records[i].data
            assert data is not None
            event = cache[i] = parse_event_text(data)
        return event

    def forget_decoded(self) -> None:
        """Parsed events weigh several times their text: only recent batches keep them."""
        self._decoded = None

    def filter_results(self, event_filter: EventFilter | None) -> dict[int, bool]:
        """The verdicts of one expression on this batch's records, by index: each record
        is evaluated once per expression, whichever clients send it. They count against
        the ring's bound as soon as they are asked for (as if every record had one)."""
        if event_filter is None:
            return {}
        results = self._filter_results.get(event_filter)
        if results is None:
            results = self._filter_results[event_filter] = {}
            self._grow(FILTER_RESULTS_BYTES + FILTER_RESULT_BYTES * len(self.records))
        return results

    def _grow(self, size: int) -> None:
        self.size += size
        if self._grown is not None:
            self._grown(size)

    def shared_delivery(
        self, id_mode: str, cluster_id: str | None, sse: bool, event_filter: EventFilter | None
    ) -> Delivery:
        """The batch for every aligned client with these settings, formatted once."""
        key = (id_mode, cluster_id, sse, event_filter)
        delivery = self._deliveries.get(key)
        if delivery is None:
            starts = [
                StartPosition(topic, partition, offset, "latest", timestamp=timestamp)
                for (topic, partition), offset, timestamp in zip(
                    self.partitions, self.before_offsets, self.before_timestamps, strict=True
                )
            ]
            positions = Positions(starts, id_mode=id_mode, cluster_id=cluster_id)
            delivery = deliver(
                self, positions, sse, event_filter, self.filter_results(event_filter)
            )
            delivery.positions = positions
            # Filtering lets other greenlets run: another client may have made it meanwhile.
            made = self._deliveries.setdefault(key, delivery)
            if made is not delivery:
                return made
            # Formatted bytes stay with the batch: they count against the ring's bound.
            self._grow(len(delivery.chunk) + BATCH_OVERHEAD_BYTES + positions.approximate_bytes())
        return delivery

    def has_unhandled(self, next_offsets: Mapping[tuple[str, int], int]) -> bool:
        """Whether this batch holds a record at or past a client's next offset."""
        for key, after in zip(self.partitions, self.after_offsets, strict=True):
            wanted = next_offsets.get(key)
            if wanted is not None and after > wanted:
                return True
        return False


def deliver(
    batch: TailBatch,
    positions: Positions,
    sse: bool,
    event_filter: EventFilter | None,
    filter_results: dict[int, bool],
) -> Delivery:
    """Format ``batch`` for a client at ``positions``, advancing them.

    Records of partitions the client does not read, and records before its next offsets
    (it read them before it joined), are skipped without a trace.

    :param filter_results: the filter's verdicts on this batch's records, by index, shared
        by the clients that send the same expression (each one is evaluated once).

    Filtering lets the other greenlets run every slice (:func:`~kafkasse_wsgi._filters.take_turn`),
    after a verdict is kept: a client that shares them goes on from there.
    """
    delivery = Delivery()
    parts: list[str] = []
    for i, record in enumerate(batch.records):
        next_offset = positions.next_offset(record.topic, record.partition)
        if next_offset is None or record.offset < next_offset:
            continue
        positions.advance(record.topic, record.partition, record.offset, record.timestamp)
        data = record.data
        if data is None:
            delivery.skipped += 1
            delivery.dropped_last = True
            continue
        if event_filter is not None:
            passed = filter_results.get(i)
            if passed is None:
                try:
                    passed = event_filter.matches(batch.decoded(i), len(data))
                except FilterEvaluationError:
                    passed = False
                    delivery.filter_errors += 1
                filter_results[i] = passed
                take_turn()
            if not passed:
                delivery.filtered += 1
                delivery.dropped_last = True
                continue
        parts.append(format_message(data, positions.event_id()) if sse else format_json_text(data))
        delivery.sent += 1
        delivery.dropped_last = False
    delivery.chunk = encode_chunk("".join(parts))
    return delivery


class TailRing:
    """The recent batches of a hub, oldest first, bounded by events, bytes and age."""

    def __init__(self, max_events: int, max_bytes: int, max_age_s: float) -> None:
        self.max_events = max_events
        self.max_bytes = max_bytes
        self.max_age_s = max_age_s
        self._batches: dict[int, TailBatch] = {}
        #: The sequence number of the oldest batch kept (== ``next_seq`` when empty).
        self.first_seq = 0
        #: The sequence number the next batch gets.
        self.next_seq = 0
        self.events = 0
        self.bytes = 0

    def __len__(self) -> int:
        return len(self._batches)

    def get(self, seq: int) -> TailBatch | None:
        """The batch numbered ``seq``; ``None`` if it is gone (or not there yet)."""
        return self._batches.get(seq)

    def oldest(self) -> TailBatch | None:
        return self._batches.get(self.first_seq)

    def append(self, batch: TailBatch) -> None:
        assert batch.seq == self.next_seq
        self._batches[batch.seq] = batch
        batch._grown = self._grow
        older = self._batches.get(batch.seq - DECODED_BATCHES)
        if older is not None:
            older.forget_decoded()
        self.next_seq += 1
        self.events += len(batch.records)
        self.bytes += batch.size
        self.trim()

    def _grow(self, size: int) -> None:
        """A batch grew (its bytes formatted for clients): the bound holds at once, not at
        the hub's next poll (which may wait ``idle_delay_ms``)."""
        self.bytes += size
        if self.bytes > self.max_bytes:
            self.trim()

    def trim(self) -> None:
        """Forget the oldest batches past the bounds; the newest one always stays."""
        deadline = time.monotonic() - self.max_age_s
        while self.first_seq < self.next_seq - 1:
            oldest = self._batches[self.first_seq]
            if (
                self.events <= self.max_events
                and self.bytes <= self.max_bytes
                and oldest.born >= deadline
            ):
                break
            del self._batches[self.first_seq]
            self.first_seq += 1
            self.events -= len(oldest.records)
            self.bytes -= oldest.size

    def age_s(self) -> float:
        oldest = self.oldest()
        return time.monotonic() - oldest.born if oldest is not None else 0.0

    def first_unhandled(self, next_offsets: Mapping[tuple[str, int], int]) -> int:
        """The first batch a client at ``next_offsets`` has not wholly handled."""
        seq = self.next_seq
        while seq > self.first_seq and self._batches[seq - 1].has_unhandled(next_offsets):
            seq -= 1
        return seq
