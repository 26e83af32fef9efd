"""The pump: one greenlet per stream that moves Kafka records into the stream's queue.

It polls a batch, deserializes and filters each record, formats the survivors to bytes
once, and puts the whole batch as one chunk into a bounded queue. ``put`` blocks while the
queue is full, so a slow client slows only its own consumer and memory stays bounded.

The pump is the private consumer's :class:`~kafkasse_wsgi._protocol.Source`. It borrows the
consumer: the stream owns it and closes it after stopping the pump. Everything the pump has
to say travels through the queue (:mod:`~kafkasse_wsgi._protocol`): byte chunks, a
:class:`~kafkasse_wsgi._protocol.Reset` when Kafka deleted data the stream had not read yet,
then one :class:`~kafkasse_wsgi._protocol.End` (with the error that ended the stream, if
any). A client that takes nothing for ``max_blocked_s`` ends the pump quietly, ``stalled``.

How a record becomes its event's data is :mod:`~kafkasse_wsgi._event_data`'s; what changes
when the topics change under the stream, :mod:`~kafkasse_wsgi._mid_stream_changes`'s.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import gevent
from kafka import TopicPartition
from kafka import errors as kafka_errors

from . import metrics
from ._batching import records_fitting
from ._broker_health import BrokerContact, lag_of
from ._consumer import close_quietly, end_offsets_of
from ._event_data import RecordConverter
from ._filters import EventFilter
from ._kafka_internals import metadata_of
from ._mid_stream_changes import continue_in_range, join_added_partitions
from ._positions import Positions
from ._processing_slot import Slot
from ._protocol import End, IdProgress, StreamStats
from ._queued_source import QueuedSource, Stalled
from ._replay import ReplayEnd
from ._sse import encode_chunk, format_id, format_id_text, format_json_text, format_message
from ._stopping import stop_then
from ._stream_queue import StreamQueue
from .errors import DeserializationError
from .options import Options


class _PartlyProcessed(Exception):
    """A record of a batch raised (its ``__cause__``); ``chunk`` holds the events before it."""

    def __init__(self, chunk: bytes) -> None:
        super().__init__("a record of the batch failed")
        self.chunk = chunk


class Pump(QueuedSource):
    """Polls ``consumer`` in its own greenlet and feeds ``queue`` with formatted chunks.

    :param growing_topics: topics read whole: partitions added to them join the stream.
    """

    def __init__(
        self,
        consumer: Any,
        positions: Positions,
        options: Options,
        queue: StreamQueue,
        log: logging.Logger | logging.LoggerAdapter,
        stats: StreamStats,
        growing_topics: Sequence[str] = (),
        event_filter: EventFilter | None = None,
        replay: ReplayEnd | None = None,
        hand_off: Callable[[], bool] | None = None,
        progress: IdProgress | None = None,
        owns_consumer: bool = False,
    ) -> None:
        """:param event_filter: the request's ``?filter=``, compiled (shared per process).
        :param replay: the request's ``?until=`` / ``?limit=`` bounds, tracked.
        :param hand_off: asked between batches (everything read is queued): whether another
            source takes over from these positions; the pump then ends, ``handed_off``.
        :param progress: the stream's progress-frame state, when it outlives the pump.
        :param owns_consumer: ``stop()`` closes the consumer (once the pump's greenlet is
            dead)."""
        super().__init__(
            positions,
            options,
            queue,
            log,
            stats,
            growing_topics=growing_topics,
            event_filter=event_filter,
            progress=progress,
        )
        self._hand_off = hand_off
        self._owns_consumer = owns_consumer
        self._stopped = False
        self._consumer = consumer
        # True at first: partitions the setup did not assign (added meanwhile) join at once.
        self._metadata_changed = True
        self._watched: Any = None  # the metadata cache we listen to
        self._replay = replay
        self._greenlet: gevent.Greenlet | None = None
        self._slot = Slot()
        # A record's event data, ``None`` when dropped (its way chosen once: _event_data.py).
        self._convert = RecordConverter(
            options, event_filter, consumer, self._slot, stats, log
        ).convert
        # An event is at least as long as its id (every partition's position), known now.
        self._max_records = self._records_fitting(len(positions.event_id()) if self._sse else 0)
        #: ``hand_off`` said yes: the pump ended without an end, for another source.
        self.handed_off = False

    def start(self) -> gevent.Greenlet:
        """Start polling; the greenlet returned ends with the pump (see ``stalled``)."""
        self._listen()
        self._greenlet = gevent.spawn(self._run)
        return self._greenlet

    def run_here(self) -> None:
        """Poll in the calling greenlet until the pump ends (see ``stalled``, ``handed_off``):
        for a source that runs the pump as one phase of its own greenlet."""
        self._listen()
        try:
            self._run()
        finally:
            self._unlisten()

    def stop(self) -> None:
        """End the pump wherever it is (polling, or blocked on a full queue). Idempotent."""
        self._stopped = True  # a greenlet that outlives the kill ends at its next batch
        greenlet, self._greenlet = self._greenlet, None
        stop_then(greenlet, self._after_stop)

    def _after_stop(self) -> None:
        self._unlisten()
        if self._owns_consumer:
            consumer, self._consumer = self._consumer, None
            close_quietly(consumer, self._log)

    def _listen(self) -> None:
        if self._growing_topics:
            self._watched = metadata_of(self._consumer)
            if self._watched is not None:
                self._watched.add_listener(self._on_metadata)

    def _unlisten(self) -> None:
        watched, self._watched = self._watched, None
        if watched is not None:
            watched.remove_listener(self._on_metadata)

    def _on_metadata(self, cluster: Any) -> None:
        """kafka-python's callback on every metadata refresh, inside our own poll."""
        self._metadata_changed = True

    def _run(self) -> None:
        consumer = self._consumer
        options = self._options
        timeout_ms = options.idle_delay_ms
        contact = BrokerContact(consumer, options.broker_outage_timeout_s)
        try:
            while not self._stopped:
                if self._hand_off is not None and self._hand_off():
                    self.handed_off = True
                    return
                if self._metadata_changed:
                    self._join_added_partitions()
                try:
                    # First what is already fetched, in a processing slot (never blocks) ...
                    with self._slot:
                        batches = consumer.poll(timeout_ms=0, max_records=self._max_records)
                        chunk = self._process(batches) if batches else b""
                    if not batches:
                        # ... else wait for the broker outside it: the poll returns with the
                        # first record (no sleep puts a floor under latency) or after
                        # idle_delay_ms.
                        batches = consumer.poll(
                            timeout_ms=timeout_ms, max_records=self._max_records
                        )
                        if batches:
                            with self._slot:
                                chunk = self._process(batches)
                except kafka_errors.OffsetOutOfRangeError as exc:
                    # auto_offset_reset is "none" (_kafka_config.py): kafka-python tells us
                    # instead of moving the consumer silently.
                    reset = continue_in_range(
                        consumer, exc.args[0], self._positions, options.resume_policy, self._log
                    )
                    if reset is not None:
                        self._put(reset)
                    continue
                contact.after_poll(bool(batches))
                if chunk:
                    polled = sum(len(batch) for batch in batches.values())
                    self._max_records = self._records_fitting(len(chunk) / polled)
                    self._put(chunk)
                self._in_flight = False  # the batch's chunk is queued (or there was none)
                if not chunk and self._progress.due():
                    # Only dropped records since the last id, and the interval has passed.
                    self._put(format_id(self._progress.take_id(self._positions)))
                if self._replay is not None and self._replay_finished():
                    self._put(End(cause=self._replay.cause))
                    return
                # A replaying stream finds its next batch already buffered (and with
                # idle_delay_ms=0 an empty poll never blocks): let the rest of the worker run.
                gevent.sleep(0)
        except gevent.GreenletExit:
            raise
        except Stalled:
            return
        except _PartlyProcessed as failed:
            # What was formatted before the failing record still goes out, then the error:
            # its id (the positions now) is then the id of the last event delivered.
            self._end_with(failed.__cause__, failed.chunk)
        except Exception as exc:
            self._end_with(exc)

    def _replay_finished(self) -> bool:
        """Whether the bounds are reached; once ``until`` passed, partitions without a stop
        offset stop at their end offset (a quiet partition must not keep a replay open)."""
        replay = self._replay
        assert replay is not None
        if not replay.finished and replay.until_passed():
            unresolved = replay.unresolved
            if unresolved:
                # The high watermark of the last fetch, else ask: the replay must end.
                missing = []
                for topic, partition in unresolved:
                    end = self._consumer.highwater(TopicPartition(topic, partition))
                    if end is None:
                        missing.append((topic, partition))
                    else:
                        replay.set_stop(topic, partition, end)
                if missing:
                    for (topic, partition), end in end_offsets_of(self._consumer, missing).items():
                        replay.set_stop(topic, partition, end)
        return replay.finished

    def _records_fitting(self, bytes_per_record: float) -> int:
        return records_fitting(self._options, bytes_per_record)

    def _join_added_partitions(self) -> None:
        """After a metadata refresh: partitions added to the topics read whole join."""
        self._metadata_changed = False
        join_added_partitions(
            self._consumer, self._growing_topics, self._positions, self._replay, self._log
        )

    def _process(self, batches: dict[Any, list[Any]]) -> bytes:
        """Deserialize, filter and format one poll's records into one chunk of bytes."""
        parts: list[str] = []
        positions = self._positions
        sse = self._sse
        stats = self._stats
        convert = self._convert
        replay = self._replay
        self._in_flight = True
        filtered_before, skipped_before = stats.events_filtered, stats.events_skipped
        sent = 0
        # Whether the last record handled was dropped (the id moved without an event).
        dropped_last = False
        try:
            for records in batches.values():
                for record in records:
                    if replay is not None:
                        if replay.finished:
                            break
                        if not replay.admits(
                            record.topic, record.partition, record.offset, record.timestamp
                        ):
                            self._pause(record.topic, record.partition)
                            continue
                    try:
                        data = convert(record)
                    except DeserializationError as exc:
                        stats.events_skipped += 1
                        self._log.warning(
                            "skipping %s/%d@%d: %s",
                            record.topic,
                            record.partition,
                            record.offset,
                            exc,
                        )
                        data = None
                    # Nothing between here and the append can fail: a record that raised
                    # above has not moved the positions, so they match the parts so far.
                    # Skipped and filtered messages move the position too: a resume won't
                    # redo them.
                    positions.advance(
                        record.topic, record.partition, record.offset, record.timestamp
                    )
                    if data is None:
                        dropped_last = True
                        continue
                    parts.append(
                        format_message(data, positions.event_id())
                        if sse
                        else format_json_text(data)
                    )
                    sent += 1
                    dropped_last = False
                    if replay is not None and replay.delivered():
                        break
        except Exception as exc:
            # Never block on the queue while holding a processing slot: _run queues these.
            stats.events_sent += sent
            raise _PartlyProcessed(encode_chunk("".join(parts))) from exc
        stats.events_sent += sent
        self._progress.note(sent > 0, dropped_last)
        if self._progress.due():
            parts.append(format_id_text(self._progress.take_id(self._positions)))
        metrics.batch_processed(
            sent,
            stats.events_filtered - filtered_before,
            stats.events_skipped - skipped_before,
            lag_of(self._consumer, batches),
        )
        return encode_chunk("".join(parts))

    def _pause(self, topic: str, partition: int) -> None:
        """A partition past ``until``: fetch no more of it."""
        try:
            self._consumer.pause(TopicPartition(topic, partition))
        except Exception:  # an optimisation only: its records are refused anyway
            self._log.debug("pausing %s/%d failed", topic, partition, exc_info=True)
