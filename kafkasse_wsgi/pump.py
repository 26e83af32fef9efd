"""The pump: one greenlet per stream that moves Kafka records into the stream's queue.

It polls a batch, deserializes and filters each record, formats the survivors to bytes
once, and puts the whole batch as one chunk into a bounded queue. ``put`` blocks while the
queue is full, so a slow client slows only its own consumer and memory stays bounded.

The pump borrows the consumer: the stream owns it and closes it after stopping the pump.
Everything the pump has to say travels through the queue: byte chunks, then one
:class:`End` (with the error that ended the stream, if any).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import gevent
from gevent.queue import Queue
from kafka import errors as kafka_errors

from . import metrics
from .errors import DeserializationError, FilterError, KafkaSSEError, KafkaStreamError
from .message import KafkaMessage, default_deserializer, serialize_message
from .options import Options
from .positions import Positions
from .sse import format_event, format_json_line

#: Seconds ``stop()`` waits for the pump to end after killing it.
STOP_TIMEOUT_S = 5.0


class End:
    """The last item a pump puts in its queue."""

    __slots__ = ("error",)

    def __init__(self, error: KafkaSSEError | None = None) -> None:
        self.error = error


class StreamStats:
    """Counters of one stream, read by logs and metrics."""

    __slots__ = ("bytes_sent", "events_filtered", "events_sent", "events_skipped")

    def __init__(self) -> None:
        self.events_sent = 0
        self.events_filtered = 0
        self.events_skipped = 0
        self.bytes_sent = 0


class Pump:
    """Polls ``consumer`` in its own greenlet and feeds ``queue`` with formatted chunks."""

    def __init__(
        self,
        consumer: Any,
        positions: Positions,
        options: Options,
        queue: Queue,
        log: logging.Logger | logging.LoggerAdapter,
        stats: StreamStats,
    ) -> None:
        self._consumer = consumer
        self._positions = positions
        self._options = options
        self._queue = queue
        self._log = log
        self._stats = stats
        self._deserializer = options.deserializer or default_deserializer
        self._filterer = options.filterer
        self._on_message: Callable[[KafkaMessage], Any] | None = options.kafka_event_handlers.get(
            "message"
        )
        self._sse = not options.disable_sse_formatting
        self._greenlet: gevent.Greenlet | None = None

    def start(self) -> None:
        self._greenlet = gevent.spawn(self._run)

    def stop(self) -> None:
        """End the pump wherever it is (polling, or blocked on a full queue). Idempotent."""
        greenlet, self._greenlet = self._greenlet, None
        if greenlet is not None and not greenlet.dead:
            greenlet.kill(block=True, timeout=STOP_TIMEOUT_S)

    def _run(self) -> None:
        consumer = self._consumer
        timeout_ms = self._options.idle_delay_ms
        max_records = self._options.batch_size
        try:
            while True:
                # Blocks in the broker's fetch wait until data arrives or the timeout ends:
                # an idle stream costs no CPU and a new record is not held back by a sleep.
                batches = consumer.poll(timeout_ms=timeout_ms, max_records=max_records)
                if batches:
                    chunk = self._process(batches)
                    if chunk:
                        self._queue.put(chunk)
                    # A replaying stream finds its next batch already buffered and would not
                    # yield to the hub otherwise: let the other streams of this worker run.
                    gevent.sleep(0)
        except gevent.GreenletExit:
            raise
        except KafkaSSEError as exc:
            self._queue.put(End(exc))
        except kafka_errors.KafkaError as exc:
            self._log.error("Kafka error while streaming: %r", exc)
            self._queue.put(
                End(KafkaStreamError(f"Kafka error while streaming: {type(exc).__name__}"))
            )
        except Exception as exc:
            self._log.exception("unexpected error in the stream pump")
            self._queue.put(End(KafkaStreamError(f"internal error: {type(exc).__name__}")))

    def _process(self, batches: dict[Any, list[Any]]) -> bytes:
        """Deserialize, filter and format one poll's records into one chunk of bytes."""
        parts: list[bytes] = []
        positions = self._positions
        deserializer = self._deserializer
        filterer = self._filterer
        on_message = self._on_message
        sent = filtered = skipped = 0
        for records in batches.values():
            for record in records:
                kafka_message = KafkaMessage.from_record(record)
                if on_message is not None:
                    on_message(kafka_message)
                try:
                    kafka_message = deserializer(kafka_message) or kafka_message
                except Exception as exc:
                    skipped += 1
                    positions.advance(
                        record.topic, record.partition, record.offset, record.timestamp
                    )
                    self._log.warning(
                        "skipping %s/%d@%d: %s",
                        record.topic,
                        record.partition,
                        record.offset,
                        exc if isinstance(exc, DeserializationError) else repr(exc),
                    )
                    continue
                if filterer is not None:
                    try:
                        keep = filterer(kafka_message)
                    except Exception as exc:
                        self._log.warning("filterer raised on %r: %r", kafka_message, exc)
                        if parts:
                            self._queue.put(b"".join(parts))
                        raise FilterError(f"filterer failed: {type(exc).__name__}: {exc}") from exc
                    if not keep:
                        filtered += 1
                        positions.advance(
                            record.topic, record.partition, record.offset, record.timestamp
                        )
                        continue
                positions.advance(record.topic, record.partition, record.offset, record.timestamp)
                data = serialize_message(kafka_message.message)
                if self._sse:
                    parts.append(format_event(data, event_id=positions.event_id()))
                else:
                    parts.append(format_json_line(data))
                sent += 1
        stats = self._stats
        stats.events_sent += sent
        stats.events_filtered += filtered
        stats.events_skipped += skipped
        metrics.batch_processed(sent, filtered, skipped, self._lag(batches))
        return b"".join(parts)

    def _lag(self, batches: dict[Any, list[Any]]) -> int | None:
        """Messages still behind the ends of the partitions this batch came from.

        Uses the high watermarks of the last fetch responses: no request to the broker.
        """
        lag = 0
        for tp, records in batches.items():
            highwater = self._consumer.highwater(tp)
            if highwater is None or not records:
                return None
            lag += max(0, highwater - records[-1].offset - 1)
        return lag
