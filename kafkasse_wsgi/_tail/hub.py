"""The shared live tail: one consumer per topic per process, at the topic's head.

Most clients of a public stream sit at its live tail, where they all want the same bytes.
A hub reads a topic once for all of them: one consumer assigned to every partition at the
end offsets, polling while clients are attached. Each record is decoded once
(:mod:`~kafkasse_wsgi._tail.decode`) into the hub's :class:`~kafkasse_wsgi._tail.ring.TailRing`,
with the hub's positions (:mod:`~kafkasse_wsgi._tail.head`); each client's source
(:mod:`~kafkasse_wsgi._tail.source`) copies from the ring at its own pace. The hub never
waits for a client: one that falls off the ring's start reads through a consumer of its
own again.

A hub is opened by its first client (under that request's setup timeout) and closed
``tail_linger_s`` after its last client left, so a client that reconnects at once finds
it still there. It has no consumer group: like every consumer here it only assigns.
Requests find their hubs in the process's registry (:mod:`~kafkasse_wsgi._tail.registry`).
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import gevent
from gevent.event import Event
from kafka import errors as kafka_errors

from .. import metrics
from .._access import topics_not_available
from .._assignments import Assignment, StartPosition
from .._batching import records_fitting
from .._broker_health import BrokerContact, lag_of
from .._consumer import (
    UNAVAILABLE_RETRY_AFTER_S,
    assign_and_seek,
    close_quietly,
    cluster_id_of,
    kafka_call,
    open_consumer,
    partitions_to_join,
)
from .._kafka_internals import has_broker_connection, metadata_of
from .._processing_slot import processing_slot
from .._queued_source import end_for
from .._start_offsets import resolve_start_positions
from .._stopping import stop_then
from ..errors import (
    KafkaSSEError,
    KafkaStreamError,
    KafkaUnavailableError,
)
from ..log import PACKAGE_LOGGER
from ..options import Options
from .decode import decode_records
from .head import HeadPositions
from .ring import SharedRecord, TailRing

log = logging.getLogger(PACKAGE_LOGGER)

#: Worker time one batch costs one client on the hub: a wake-up of its stream's greenlet,
#: formatting (or reusing) the batch's bytes and a socket write (scripts/bench (i): 20-30 us
#: per client and batch at 1,000 clients).
CLIENT_BATCH_COST_S = 20e-6

#: Bytes a partition adds to an event's id, besides its topic's name.
ID_BYTES_PER_PARTITION = 45


class TopicHub:
    """One topic's shared consumer and ring (see the module doc).

    :param on_closed: called once when the hub closes (its registry forgets it, see
        :mod:`~kafkasse_wsgi._tail.registry`).
    """

    def __init__(self, topic: str, options: Options, on_closed: Callable[[TopicHub], None]) -> None:
        self.topic = topic
        self._options = options
        self._on_closed = on_closed
        self.ring = TailRing(
            options.tail_ring_events, options.tail_ring_bytes, options.tail_ring_age_s
        )
        self._consumer: Any = None
        self.cluster_id: str | None = None
        #: The hub's partitions, and its position in each.
        self.head = HeadPositions()
        self._metadata_changed = False
        self._watched: Any = None
        self._opened = Event()
        self._arrival = Event()
        #: Why the hub ended for its clients (set once; they end with it).
        self.error: KafkaSSEError | None = None
        self.closed = False
        self.clients = 0
        self.handoffs = 0
        self.detaches: Counter[str] = Counter()
        self._greenlet: gevent.Greenlet | None = None
        self._linger: gevent.Greenlet | None = None
        self._opened_at = time.monotonic()
        self.lag: int | None = None
        self._reported_bytes = 0
        self._data_bytes = 0.0  # of the last batch's events, on average
        self._appended_at = 0.0

    # Clients ------------------------------------------------------------------------------

    def take(self) -> None:
        """One more client."""
        self.clients += 1
        metrics.tail_clients(1)
        if self._linger is not None:
            self._linger.kill(block=False)
            self._linger = None

    def release(self) -> None:
        """One client less; the last one leaving starts the linger."""
        self.clients -= 1
        metrics.tail_clients(-1)
        if self.clients == 0 and not self.closed:
            self._linger = gevent.spawn_later(self._options.tail_linger_s, self._close_unused)

    def close_if_unused(self) -> None:
        """Close now if no client is left (after a HEAD: nobody is about to come back)."""
        if self.clients == 0:
            self._shut(None)

    def close(self) -> None:
        """Close now (to make room for another hub); clients left end as with a closed hub."""
        self._shut(None)

    def wait_open(self) -> None:
        """Wait for the client that opens the hub; its failure is ours too."""
        self._opened.wait()
        if self.error is not None:
            raise self.error

    def check_contact(self) -> None:
        """A new client is refused while the hub has no broker (its clients ride it out),
        as a stream of its own would be: it could not tell an outage from a quiet topic.

        :raises KafkaUnavailableError: no connection to any broker right now.
        """
        if not has_broker_connection(self._consumer):
            raise KafkaUnavailableError(
                "Kafka cannot be reached right now; try again later",
                retry_after_s=UNAVAILABLE_RETRY_AFTER_S,
            )

    def arrival(self) -> Event:
        """An event set when the next batch is in the ring (or the hub ended)."""
        return self._arrival

    def covers(self, next_offsets: dict[tuple[str, int], int]) -> bool:
        """Whether a client at ``next_offsets`` (its partitions of this topic) can read on
        from the ring of this open hub (see :meth:`HeadPositions.covers`)."""
        if self.closed or not self._opened.is_set():
            return False
        return self.head.covers(next_offsets, self.ring.oldest())

    def describe(self) -> dict[str, Any]:
        return {
            "topic": self.topic,
            "clients": self.clients,
            "partitions": len(self.head.partitions),
            "ring_events": self.ring.events,
            "ring_bytes": self.ring.bytes,
            "ring_age_s": round(self.ring.age_s(), 3),
            "lag": self.lag,
            "handoffs": self.handoffs,
            "detaches": dict(self.detaches),
            "open_s": round(time.monotonic() - self._opened_at, 3),
        }

    # Lifecycle ----------------------------------------------------------------------------

    def open(self) -> None:
        """Connect, assign every partition at its end, start polling (the first client's
        setup runs this; the others wait in :meth:`wait_open`)."""
        try:
            consumer = open_consumer(self._options, f"hub-{self.topic}", private=False)
            self._consumer = consumer
            existing = kafka_call("metadata", consumer.topics)
            if self.topic not in existing:
                missing = topics_not_available([self.topic])
                missing.existing = frozenset(existing)  # the request's refusal needs no more
                raise missing
            starts = resolve_start_positions(
                consumer,
                [Assignment(self.topic)],
                None,
                self._options.resume_policy,
                log,
                id_mode=self._options.id_mode,
            )
            assign_and_seek(consumer, starts)
        except BaseException as exc:
            self.fail(
                exc
                if isinstance(exc, KafkaSSEError)
                else KafkaUnavailableError("Kafka did not answer in time; try again later")
            )
            raise
        for start in starts:
            self.head.add(start)
        self.cluster_id = cluster_id_of(consumer)
        self._watched = metadata_of(consumer)
        if self._watched is not None:
            self._watched.add_listener(self._on_metadata)
        self._greenlet = gevent.spawn(self._run)
        self._opened_at = time.monotonic()
        self._opened.set()
        metrics.tail_hub_opened(1)
        log.info("hub opened for topic %s (%d partitions)", self.topic, len(starts))

    def _close_unused(self) -> None:
        """The linger passed without a client: close."""
        self._linger = None
        if self.clients == 0:
            log.info(
                "hub for topic %s closed after %gs without clients",
                self.topic,
                self._options.tail_linger_s,
            )
            self._shut(None)

    def fail(self, error: KafkaSSEError) -> None:
        """End the hub for its clients with ``error`` (each sends it after what it has)."""
        if self.error is None:
            self.error = error
        self._shut(error)

    def _shut(self, error: KafkaSSEError | None) -> None:
        if self.closed:
            return
        self.closed = True
        self._on_closed(self)
        if error is not None and self._opened.is_set():
            log.warning("hub for topic %s ended: %s", self.topic, error.message)
        was_open = self._opened.is_set() and self._consumer is not None
        self._opened.set()
        self._notify()
        if self._linger is not None:
            self._linger.kill(block=False)
            self._linger = None
        greenlet, self._greenlet = self._greenlet, None
        stop_then(greenlet, self._close_consumer)
        if was_open:
            metrics.tail_hub_opened(-1)
            metrics.tail_ring_bytes(-self._reported_bytes)
            self._reported_bytes = 0

    def _close_consumer(self) -> None:
        """Once the polling greenlet is dead (see :func:`~kafkasse_wsgi._stopping.stop_then`)."""
        if self._watched is not None:
            self._watched.remove_listener(self._on_metadata)
            self._watched = None
        consumer, self._consumer = self._consumer, None
        close_quietly(consumer, log)

    def _report_ring_bytes(self) -> None:
        """The ring grows as clients format its batches too: report the change so far."""
        metrics.tail_ring_bytes(self.ring.bytes - self._reported_bytes)
        self._reported_bytes = self.ring.bytes

    def _notify(self) -> None:
        arrived, self._arrival = self._arrival, Event()
        arrived.set()

    # Polling ------------------------------------------------------------------------------

    def _on_metadata(self, cluster: Any) -> None:
        self._metadata_changed = True

    def _join_added_partitions(self) -> None:
        """Partitions added to the topic join the hub from their first offset (and its
        clients from the next batch, as in a private stream)."""
        self._metadata_changed = False
        consumer = self._consumer
        added = partitions_to_join(consumer, [self.topic])
        if not added:
            return
        first = kafka_call("beginning offsets", consumer.beginning_offsets, added)
        consumer.assign([*consumer.assignment(), *added])
        for tp in added:
            consumer.seek(tp, first[tp])
            self.head.join(StartPosition(tp.topic, tp.partition, first[tp], "added", timestamp=0))
        log.info(
            "partitions added to topic %s join its hub: %s",
            self.topic,
            ", ".join(f"{tp.partition}@{first[tp]}" for tp in added),
        )

    def _run(self) -> None:
        options = self._options
        consumer = self._consumer
        contact = BrokerContact(consumer, options.broker_outage_timeout_s)
        try:
            while not self.closed:  # a greenlet that outlived its kill ends here
                if self._metadata_changed:
                    self._join_added_partitions()
                max_records = self._records_per_batch()
                with processing_slot():
                    polled = consumer.poll(timeout_ms=0, max_records=max_records)
                    records = decode_records(polled, options.deserializer) if polled else []
                if not polled:
                    polled = consumer.poll(
                        timeout_ms=options.idle_delay_ms, max_records=max_records
                    )
                    if polled:
                        with processing_slot():
                            records = decode_records(polled, options.deserializer)
                contact.after_poll(bool(polled))
                if polled:
                    self.lag = lag_of(consumer, polled)
                    if self.lag is not None:
                        metrics.tail_hub_lag(self.topic, self.lag)
                if records:
                    records += self._gather(max_records - len(records))
                if records or self.head.joined:
                    self._append(records)
                self.ring.trim()
                self._report_ring_bytes()
                gevent.sleep(0)
        except gevent.GreenletExit:
            raise
        except kafka_errors.OffsetOutOfRangeError:
            # The log moved under the head (truncated, or deleted past it): the clients end
            # with their ids and resume through their own consumers, whose policy applies.
            self.fail(KafkaStreamError("the topic's log changed under the shared tail; reconnect"))
        except KafkaSSEError as exc:
            self.fail(exc)
        except kafka_errors.KafkaError as exc:
            error = end_for(exc, log).error  # what a stream of its own would say
            assert error is not None
            self.fail(error)
        except Exception as exc:
            log.error("unexpected error in the hub of %s", self.topic, exc_info=exc)
            self.fail(KafkaStreamError(f"internal error: {type(exc).__name__}"))

    def _records_per_batch(self) -> int:
        """As many records as a stream's pump would take: a batch is formatted whole for
        its clients, and every event's id names every partition (kilobytes with many)."""
        id_bytes = len(self.head.partitions) * (len(self.topic) + ID_BYTES_PER_PARTITION)
        return records_fitting(self._options, self._data_bytes + id_bytes)

    def batch_interval_s(self) -> float:
        """The least time between two batches under load: every batch costs each client a
        wake-up and a write, whatever it holds (``CLIENT_BATCH_COST_S``), and the hub keeps
        handing them out to at most half the worker's time, within ``tail_batch_interval_ms``.
        """
        cap = self._options.tail_batch_interval_ms / 1000
        return min(cap, 2 * self.clients * CLIENT_BATCH_COST_S)

    def _gather(self, room: int) -> list[SharedRecord]:
        """Under load, more records for the batch until :meth:`batch_interval_s` has passed
        since the last one. After a quieter interval a record goes out at once."""
        deadline = self._appended_at + self.batch_interval_s()
        gathered: list[SharedRecord] = []
        while room > 0:
            left_ms = int((deadline - time.monotonic()) * 1000)
            if left_ms <= 0:
                break
            polled = self._consumer.poll(timeout_ms=left_ms, max_records=room)
            if polled:
                with processing_slot():
                    more = decode_records(polled, self._options.deserializer)
                gathered += more
                room -= len(more)
        return gathered

    def _append(self, records: list[SharedRecord]) -> None:
        self.ring.append(self.head.batch(self.ring.next_seq, records))
        self._appended_at = time.monotonic()
        if records:
            texts = [len(record.data) for record in records if record.data is not None]
            if texts:
                self._data_bytes = sum(texts) / len(texts)
        self._notify()
