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

On the rings a stream costs no greenlet of its own: its request's greenlet, which writes its
body, reads the rings itself when a batch arrives (one wake-up per batch, no queue hop), and
while it waits it holds only a link on each hub's arrival event.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Mapping, Sequence
from typing import Any

import gevent
from gevent.event import Event
from gevent.queue import Full

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
from .._protocol import READ, End, StreamStats
from .._pump import Pump
from .._queued_source import QueuedSource, Stalled, end_for
from .._sse import format_id
from .._stopping import stop_then
from .._stream_queue import StreamQueue
from ..errors import KafkaSSEError, KafkaUnavailableError
from ..options import Options
from .hub import TopicHub
from .ring import Delivery, TailBatch, deliver


class _FellBehind(Exception):
    """The ring forgot a batch the client had not read yet."""


class SharedTailSource(QueuedSource):
    """The :class:`~kafkasse_wsgi._protocol.Source` of a stream on the shared tail.

    On the rings it has no greenlet: a batch arriving puts :data:`~kafkasse_wsgi._protocol.READ`
    in the stream's queue, and the stream's own greenlet (the request's) calls :meth:`read`,
    which formats what the rings hold for it. Its own consumer, while it has one, runs as a
    :class:`~kafkasse_wsgi._pump.Pump` in a greenlet of the source's.

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
        self._single = len(self._hubs) == 1
        self._cluster_id = next(iter(self._hubs.values())).cluster_id if self._hubs else None
        self._pump: Pump | None = None
        #: The greenlet of the own-consumer phase (``None`` on the rings).
        self._own: gevent.Greenlet | None = None
        self._stopped = False
        self._read_asked = False  # READ is in the queue
        # Per topic, the arrival event of its hub this source is linked to.
        self._linked: dict[str, Event] = {}
        # The last ring batch read while the positions were the hub's (single topic only).
        self._aligned_through = -2
        self._released = False
        self._share = options.queue_bytes / options.queue_size

    # Source -------------------------------------------------------------------------------

    def start(self) -> None:
        if self._consumer is None:
            self._log.info("stream on the shared tail of %s", ",".join(self._hubs))
            self._ask_to_read()
        else:
            self._own = gevent.spawn(self._run_own_consumer, False)

    def stop(self) -> None:
        self._stopped = True
        self._unlink()
        if self._pump is not None:
            self._pump.stop()  # its loop ends, should its greenlet (ours) outlive the kill
        greenlet, self._own = self._own, None
        stop_then(greenlet, self._close_consumer)
        if not self._released:
            self._released = True
            for hub in self._hubs.values():
                hub.release()

    def progress_id(self) -> str | None:
        if self._pump is not None:
            return self._pump.progress_id()
        return super().progress_id()

    def read(self) -> bytes | End | None:
        """What the rings hold for the stream, formatted (called by the stream's greenlet
        when it takes :data:`~kafkasse_wsgi._protocol.READ`): a chunk, the end (a hub ended,
        or the stream fell off a ring with no consumer of its own to be had), or ``None``."""
        self._read_asked = False
        if self._stopped or self._own is not None:
            return None
        try:
            chunk = self._read_rings()
        except _FellBehind:
            return self._detach()
        except Exception as exc:
            # A refusal or a bug: the client gets it as ``event: error`` with its id.
            return end_for(exc, self._log)
        ended = self._ended_hub()
        if chunk:
            if ended is not None or self._has_news():
                self._ask_to_read()  # the rest (or the end) after this chunk
            else:
                self._link()
            return chunk
        if ended is not None:
            return End(ended)
        if self._has_news():  # only dropped records so far, and more to look at
            self._ask_to_read()
        else:
            self._link()
        return None

    # The rings ----------------------------------------------------------------------------

    def _ask_to_read(self) -> None:
        """Have the stream call :meth:`read` (called on the rings, or in the event loop)."""
        if self._read_asked or self._stopped:
            return
        self._read_asked = True
        try:
            self._queue.put_nowait(READ)
        except Full:  # only an end fills a queue on the rings: the stream is ending
            self._read_asked = False

    def _on_arrival(self, arrived: Event) -> None:
        """A hub's arrival event fired (called in the event loop: nothing here may block)."""
        if self._own is None:
            self._ask_to_read()

    def _link(self) -> None:
        """Wait for the next batch (or end) of every hub, without a greenlet or a timer.
        Nothing yields between the look at the rings and this."""
        if self._stopped:  # stopped while read() had lent the worker out (a filter)
            return
        for topic, hub in self._hubs.items():
            arrival = hub.arrival()
            if self._linked.get(topic) is not arrival:
                arrival.rawlink(self._on_arrival)
                self._linked[topic] = arrival

    def _unlink(self) -> None:
        for arrival in self._linked.values():
            arrival.unlink(self._on_arrival)
        self._linked.clear()

    def _has_news(self) -> bool:
        """A batch not read yet in any ring."""
        return any(self._cursors[topic] < hub.ring.next_seq for topic, hub in self._hubs.items())

    def _ended_hub(self) -> KafkaSSEError | None:
        """The error of a hub that ended (a closed one's, if it ended without)."""
        for hub in self._hubs.values():
            if hub.error is not None or hub.closed:
                return hub.error or KafkaUnavailableError("the shared tail was closed; reconnect")
        return None

    def _read_rings(self) -> bytes:
        """Format the rings' next batches, up to the stream's share of ``queue_bytes``;
        :class:`_FellBehind` when the next one is gone (and nothing was read before it)."""
        parts: list[bytes] = []
        size = 0
        sent = False
        dropped_last = False
        self._in_flight = True
        try:
            for topic, hub in self._hubs.items():
                ring = hub.ring
                seq = self._cursors[topic]
                while seq < ring.next_seq and size < self._share:
                    batch = ring.get(seq)
                    if batch is None:
                        if parts:
                            break  # these first; the next read detaches
                        raise _FellBehind
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
            self._in_flight = False
        if parts or dropped_last:
            self._progress.note(sent, dropped_last)
        if self._progress.due():
            parts.append(format_id(self._progress.take_id(self._positions)))
        self.queued_id = self._positions.event_id()
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def _detach(self) -> End | None:
        """Fell off a ring: back to a consumer of our own, or end resumably (``slow``)."""
        if self._stopped:  # as in _link: nobody would stop that consumer
            return None
        cap = self._options.max_private_consumers
        if cap is not None and private_consumers_open() >= cap:
            self._log.warning(
                "ending a slow stream: %d private consumers open (max_private_consumers)",
                private_consumers_open(),
            )
            self._count_detach("private_cap")
            retry_ms = random.randint(0, self._options.reconnect_spread_ms)
            return End(cause="slow", retry_ms=retry_ms, event_id=self.queued_id)
        self._log.info("detached from the shared tail of %s (slow)", ",".join(self._hubs))
        self._count_detach("slow")
        self._own = gevent.spawn(self._run_own_consumer, True)
        return None

    def _count_detach(self, cause: str) -> None:
        for hub in self._hubs.values():
            hub.detaches[cause] += 1
        metrics.tail_detached(cause)

    # Its own consumer ---------------------------------------------------------------------

    def _run_own_consumer(self, detached: bool) -> None:
        """The own-consumer phase, in a greenlet of its own: open a consumer at the
        positions (when detached from the rings), pump until caught up with the rings,
        then hand the stream back to them."""
        try:
            if detached:
                self._open_consumer()
            if not self._read_own_consumer():
                return  # its end is queued, or it stalled
            self._own = None
            self._read_asked = True
            self._put(READ)  # after what the pump queued
        except Stalled:
            self.stalled = True
        except Exception as exc:
            # A Kafka error (opening a consumer to detach, say), a refusal or a bug: the
            # client gets it as ``event: error`` with its id, and resumes from there.
            self._end_with(exc)

    def _open_consumer(self) -> None:
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

    def _deliver(self, batch: TailBatch) -> Delivery:
        positions = self._positions
        for start in batch.added:
            if start.topic in self._growing_topics:
                positions.add(start)
        # Aligned with the hub at the batch before, and nothing joined since: still aligned
        # (the hub's positions before a batch are those after the one before it).
        aligned = (self._aligned_through == batch.seq - 1 and not batch.added) or (
            self._single
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
