"""A stream's source on the shared tail: its own consumer until it has caught up, then hubs.

A stream that starts at the head reads from its topics' hubs (:mod:`~kafkasse_wsgi._tail.hub`)
at once. One that resumes further back reads through a consumer of its own (a
:class:`~kafkasse_wsgi._pump.Pump`) until, in every partition, its next offset lies inside
its hub's ring; it then hands off: its cursor starts at the first batch holding a record it
has not handled, records before its positions are skipped, and its consumer closes. A hub
client that falls off the ring's start (it took its data too slowly) goes back to a
consumer of its own at its exact positions, or, with ``max_private_consumers`` of them open
already, ends with a ``retry:`` hint and its id. Either way its ids go on in the same form:
the stream's :class:`~kafkasse_wsgi._positions.Positions` are the only positions.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Mapping, Sequence
from typing import Any

import gevent
from gevent.event import Event

from .. import metrics
from .._assignments import StartPosition
from .._consumer import (
    assign_and_seek,
    close_quietly,
    open_consumer,
    private_consumers_open,
    within,
)
from .._filters import EventFilter
from .._positions import Positions
from .._protocol import End, StreamStats
from .._pump import Pump, stop_then
from .._queued_source import QueuedSource, Stalled
from .._sse import format_id
from .._stream_queue import StreamQueue
from ..errors import KafkaUnavailableError
from ..options import Options
from .hub import TopicHub
from .ring import Delivery, TailBatch, deliver


class _Parked(Exception):
    """The hub is quiet: the greenlet ends, and a batch arriving starts another."""


class _FellBehind(Exception):
    """The ring forgot a batch the client had not read yet."""


class SharedTailSource(QueuedSource):
    """The :class:`~kafkasse_wsgi._protocol.Source` of a stream on the shared tail.

    :param hubs: the hub of every topic the stream reads (the stream is a client of each:
        this source releases them when it stops).
    :param consumer: the stream's own consumer, positioned, when it does not start at the
        head; ``None`` starts on the hubs (``cursors`` then says where).
    :param cursors: per topic, the first ring batch to read when starting on the hubs.
    """

    def __init__(
        self,
        hubs: Mapping[str, TopicHub],
        consumer: Any,
        positions: Positions,
        options: Options,
        queue: StreamQueue,
        log: logging.Logger | logging.LoggerAdapter,
        stats: StreamStats,
        growing_topics: Sequence[str] = (),
        event_filter: EventFilter | None = None,
        cursors: Mapping[str, int] | None = None,
    ) -> None:
        super().__init__(
            positions,
            options,
            queue,
            log,
            stats,
            growing_topics=growing_topics,
            event_filter=event_filter,
        )
        self._hubs = dict(hubs)
        self._consumer = consumer
        self._cursors: dict[str, int] = dict(cursors or {})
        self._single = next(iter(self._hubs.values())) if len(self._hubs) == 1 else None
        self._cluster_id = next(iter(self._hubs.values())).cluster_id if self._hubs else None
        self._pump: Pump | None = None
        self._greenlet: gevent.Greenlet | None = None
        self._done = Event()
        self._parked = False
        # The last ring batch read while the positions were the hub's (single topic only).
        self._aligned_through = -2
        self._released = False

    # Source -------------------------------------------------------------------------------

    def start(self) -> Event:
        if self._consumer is None:
            self._log.info("stream on the shared tail of %s", ",".join(self._hubs))
        self._greenlet = gevent.spawn(self._run)
        return self._done

    def stop(self) -> None:
        self._parked = False
        if self._pump is not None:
            self._pump.stop()  # its loop ends, should its greenlet (ours) outlive the kill
        greenlet, self._greenlet = self._greenlet, None
        stop_then(greenlet, self._close_consumer)
        if not self._released:
            self._released = True
            for hub in self._hubs.values():
                hub.release()
        # Done, also when stopped mid-put (end() stops it): the stream then watches that
        # its client still takes what is queued (a killed pump's greenlet does the same).
        self._done.set()

    def progress_id(self) -> str | None:
        if self._pump is not None:
            return self._pump.progress_id()
        return super().progress_id()

    # Phases -------------------------------------------------------------------------------

    def _unpark(self, arrived: Event) -> None:
        """The hub's arrival event fired while parked (called in the event loop): go on in
        a new greenlet if there is news, else wait for the next one."""
        if not self._parked:
            return
        if self._has_news():
            self._parked = False
            self._greenlet = gevent.spawn(self._run)
        else:
            self._park()  # a nudge: still quiet

    def _run(self) -> None:
        try:
            self._run_phases()
        except _Parked:
            self._greenlet = None  # a finished greenlet still weighs kilobytes
            return
        self._done.set()

    def _run_phases(self) -> None:
        try:
            while True:
                if self._consumer is not None and not self._read_own_consumer():
                    return
                try:
                    self._read_hubs()
                    return
                except _FellBehind:
                    pass
                if not self._detach():
                    return
        except _Parked:
            raise
        except Stalled:
            self.stalled = True
        except Exception as exc:
            # A refusal, a Kafka error (opening a consumer to detach, say) or a bug: the
            # client gets it as ``event: error`` with its id, and resumes from there.
            self._end_with(exc)

    def _read_own_consumer(self) -> bool:
        """Run a pump until it hands off (``True``) or the stream ended (``False``)."""
        pump = Pump(
            self._consumer,
            self._positions,
            self._options,
            self._queue,
            self._log,
            self._stats,
            growing_topics=self._growing_topics,
            event_filter=self._event_filter,
            hand_off=self._caught_up,
            progress=self._progress,
        )
        self._pump = pump
        try:
            pump.run_here()
        finally:
            self.queued_id = pump.queued_id
        if pump.stalled:
            raise Stalled
        if not pump.handed_off:
            return False
        self._pump = None
        self._close_consumer()
        for hub in self._hubs.values():
            hub.handoffs += 1
        metrics.tail_handoff()
        self._log.info(
            "handed off to the shared tail of %s after %d events",
            ",".join(self._hubs),
            self._stats.events_sent,
        )
        return True

    def _caught_up(self) -> bool:
        """Whether every partition's next offset is inside its hub's ring; if so, the
        cursors are set where the hubs take over."""
        by_topic: dict[str, dict[tuple[str, int], int]] = {}
        for key, offset in self._positions.next_offsets().items():
            by_topic.setdefault(key[0], {})[key] = offset
        for topic, hub in self._hubs.items():
            if not hub.covers(by_topic.get(topic, {})):
                return False
        for topic, hub in self._hubs.items():
            self._cursors[topic] = hub.ring.first_unhandled(by_topic.get(topic, {}))
        self._aligned_through = -2  # it may be mid-batch: is_at decides
        return True

    def _detach(self) -> bool:
        """Fell off a ring: back to a consumer of our own (``True``), or end resumably."""
        cap = self._options.max_private_consumers
        topics = ",".join(self._hubs)
        if cap is not None and private_consumers_open() >= cap:
            self._log.warning(
                "ending a slow stream: %d private consumers open (max_private_consumers)",
                private_consumers_open(),
            )
            self._count_detach("private_cap")
            retry_ms = random.randint(0, self._options.reconnect_spread_ms)
            self._put(End(cause="slow", retry_ms=retry_ms, event_id=self.queued_id))
            return False
        self._log.info("detached from the shared tail of %s (slow)", topics)
        self._count_detach("slow")
        starts = [
            StartPosition(topic, partition, offset, "offset")
            for (topic, partition), offset in self._positions.next_offsets().items()
        ]
        consumer = None
        try:
            with within(self._options.setup_timeout_s):
                consumer = open_consumer(self._options, f"detached-{id(self):x}")
                assign_and_seek(consumer, starts)
        except BaseException:
            close_quietly(consumer, self._log)
            raise
        self._consumer = consumer
        return True

    def _count_detach(self, cause: str) -> None:
        for hub in self._hubs.values():
            hub.detaches[cause] += 1
        metrics.tail_detached(cause)

    def _read_hubs(self) -> None:
        """Copy from the rings until the stream ends; :class:`_FellBehind` to detach."""
        share = self._options.queue_bytes / self._options.queue_size
        while True:
            parts: list[bytes] = []
            size = 0
            sent = False
            dropped_last = False
            try:
                for topic, hub in self._hubs.items():
                    ring = hub.ring
                    seq = self._cursors[topic]
                    while seq < ring.next_seq and size < share:
                        batch = ring.get(seq)
                        if batch is None:
                            raise _FellBehind
                        self._in_flight = True
                        delivery = self._deliver(batch)
                        seq += 1
                        self._cursors[topic] = seq
                        if delivery.chunk:
                            parts.append(delivery.chunk)
                            size += len(delivery.chunk)
                        if delivery.sent:
                            sent = True
                        if delivery.sent or delivery.dropped_last:
                            dropped_last = delivery.dropped_last
            finally:
                if parts:
                    self._put(parts[0] if len(parts) == 1 else b"".join(parts))
                self._in_flight = False
            if parts or dropped_last:
                self._progress.note(sent, dropped_last)
            if self._progress.due():
                self._put(format_id(self._progress.take_id(self._positions)))
            if parts:
                continue
            if not self._wait_for_batches():
                return

    def _wait_for_batches(self) -> bool:
        """Wait for a batch in any ring; ``False`` when a hub ended (its error is queued).

        Raises :class:`_Parked` when a hub's quiet nudge (see :meth:`TopicHub.nudge`) woke
        a one-topic stream with nothing new: it then waits without a greenlet.
        """
        waits = []
        for topic, hub in self._hubs.items():
            if hub.error is not None or hub.closed:
                error = hub.error or KafkaUnavailableError("the shared tail was closed; reconnect")
                self._put(End(error))
                return False
            if self._cursors[topic] < hub.ring.next_seq:
                return True
            waits.append(hub.arrival())
        due = self._progress.seconds_to_due()
        if due is not None or self._single is None:
            gevent.wait(waits, count=1, timeout=due)  # a progress frame may be due then
            return True
        # No timer per wait: the hub's arrival event is set by a batch, its end, or a nudge.
        waits[0].wait()
        if self._has_news():
            return True
        self._park()
        raise _Parked

    def _has_news(self) -> bool:
        """A batch to read, or the end of a hub, for this one-topic stream."""
        assert self._single is not None
        topic, hub = next(iter(self._hubs.items()))
        return hub.closed or hub.error is not None or self._cursors[topic] < hub.ring.next_seq

    def _park(self) -> None:
        """Wait for the hub's next arrival without a greenlet. Nothing yields between the
        look at the ring and the link."""
        assert self._single is not None
        self._parked = True
        self._single.arrival().rawlink(self._unpark)

    def _deliver(self, batch: TailBatch) -> Delivery:
        positions = self._positions
        for start in batch.added:
            if start.topic in self._growing_topics:
                positions.add(start)
        # Aligned with the hub at the batch before, and nothing joined since: still aligned
        # (the hub's positions before a batch are those after the one before it).
        aligned = (self._aligned_through == batch.seq - 1 and not batch.added) or (
            self._single is not None
            and positions.is_at(batch.partitions, batch.before_offsets, batch.before_timestamps)
        )
        if aligned:
            delivery = batch.shared_delivery(
                positions.id_mode, self._cluster_id, self._sse, self._event_filter
            )
            assert delivery.positions is not None
            positions.adopt(delivery.positions)
            self._aligned_through = batch.seq
        else:
            self._aligned_through = -2
            delivery = deliver(
                batch,
                positions,
                self._sse,
                self._event_filter,
                batch.filter_results(self._event_filter),
            )
        stats = self._stats
        stats.events_sent += delivery.sent
        stats.events_filtered += delivery.filtered
        stats.filter_errors += delivery.filter_errors
        stats.events_skipped += delivery.skipped
        metrics.batch_processed(delivery.sent, delivery.filtered, delivery.skipped, None)
        return delivery

    # Consumer -----------------------------------------------------------------------------

    def _close_consumer(self) -> None:
        consumer, self._consumer = self._consumer, None
        close_quietly(consumer, self._log)
