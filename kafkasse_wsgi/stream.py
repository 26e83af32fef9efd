"""The response body of a stream: queue → bytes, heartbeats while idle, cleanup at the end.

The WSGI server iterates :class:`EventStream` and calls its ``close()`` when the client is
gone or the server shuts down. A stream ends in one of these ways, and each one runs the
same idempotent cleanup (stop the pump, close the consumer, log) in a ``finally``:

* the client left: the server's write fails, it calls ``close()`` → ``GeneratorExit``;
* the server stops it: gunicorn's graceful shutdown kills the greenlet → ``GreenletExit``;
* Kafka or a filterer failed: the pump sends :class:`~kafkasse_wsgi.pump.End` with the
  error, which goes out as ``event: error`` with the current id before the body ends;
* the response was never iterated at all: ``close()`` still cleans up.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator, Sequence
from typing import Any

from gevent import GreenletExit
from gevent.queue import Empty, Queue

from . import metrics
from .assignments import StartPosition
from .consumer import close_quietly
from .errors import KafkaSSEError
from .options import Options
from .positions import Positions
from .pump import End, Pump, StreamStats
from .sse import STREAM_PREAMBLE, format_comment, format_event, format_json_line, format_retry

#: The heartbeat of JSON mode: an empty line, which line-oriented JSON readers skip.
JSON_HEARTBEAT = b"\n"


class EventStream:
    """A WSGI response iterable that streams one consumer's records as SSE or JSON lines."""

    def __init__(
        self,
        consumer: Any,
        starts: Sequence[StartPosition],
        options: Options,
        log: logging.Logger | logging.LoggerAdapter,
    ) -> None:
        self._consumer = consumer
        self._starts = list(starts)
        self._options = options
        self._log = log
        self._sse = not options.disable_sse_formatting
        self.positions = Positions(starts, use_timestamp=options.use_timestamp_for_id)
        self.stats = StreamStats()
        self._queue: Queue = Queue(maxsize=options.queue_size)
        self._pump = Pump(consumer, self.positions, options, self._queue, log, self.stats)
        self._generator: Iterator[bytes] | None = None
        self._closed = False
        self._started_at = time.monotonic()
        self.end_cause = "client_left"
        metrics.stream_started()

    def __iter__(self) -> Iterator[bytes]:
        if self._generator is None:
            self._generator = self._generate()
        return self._generator

    def _generate(self) -> Iterator[bytes]:
        options = self._options
        heartbeat = format_comment() if self._sse else JSON_HEARTBEAT
        try:
            first = [STREAM_PREAMBLE] if self._sse else []
            if self._sse and options.retry_ms is not None:
                first.append(format_retry(options.retry_ms))
            first.extend(self._reset_notices())
            self._pump.start()
            if first:
                yield b"".join(first)
            queue = self._queue
            while True:
                try:
                    item = queue.get(timeout=options.heartbeat_interval_s)
                except Empty:
                    yield heartbeat
                    continue
                if type(item) is bytes:
                    self.stats.bytes_sent += len(item)
                    metrics.bytes_sent(len(item))
                    yield item
                    continue
                assert isinstance(item, End)
                if item.error is not None:
                    self.end_cause = "error"
                    yield self._format_error(item.error)
                else:
                    self.end_cause = "end"
                return
        except GreenletExit:
            self.end_cause = "shutdown"
            raise
        except GeneratorExit:
            raise
        except BaseException:
            self.end_cause = "error"
            raise
        finally:
            self._generator = None  # running now: close() must not try to close it again
            self.close()

    def _reset_notices(self) -> list[bytes]:
        """Tell the client where a resume could not start where it asked (never silently)."""
        notices = []
        for start in self._starts:
            if start.source != "reset":
                continue
            notice = {
                "topic": start.topic,
                "partition": start.partition,
                "requested_offset": start.requested_offset,
                "served_offset": start.offset,
                "reason": start.reason,
            }
            data = json.dumps(notice, separators=(",", ":"))
            if self._sse:
                notices.append(
                    format_event(data, event="reset", event_id=self.positions.event_id())
                )
            else:
                notices.append(
                    format_json_line(json.dumps({"reset": notice}, separators=(",", ":")))
                )
        return notices

    def _format_error(self, error: KafkaSSEError) -> bytes:
        handler = self._options.kafka_event_handlers.get("error")
        if handler is not None:
            handler(error)
        if self._sse:
            return format_event(error.to_json(), event="error", event_id=self.positions.event_id())
        return format_json_line(json.dumps({"error": error.to_dict()}))

    def close(self) -> None:
        """Stop the pump and close the consumer; safe to call any number of times."""
        if self._closed:
            return
        self._closed = True
        try:
            self._pump.stop()
        finally:
            close_quietly(self._consumer, self._log)
            self._consumer = None
            metrics.stream_ended(self.end_cause)
            handler = self._options.kafka_event_handlers.get("disconnected")
            if handler is not None:
                try:
                    handler()
                except Exception:
                    self._log.warning("disconnected handler raised", exc_info=True)
            self._log.info(
                "stream ended (%s) after %.1fs: %d events, %d filtered, %d skipped, %d bytes",
                self.end_cause,
                time.monotonic() - self._started_at,
                self.stats.events_sent,
                self.stats.events_filtered,
                self.stats.events_skipped,
                self.stats.bytes_sent,
                extra={"end_cause": self.end_cause, "events_sent": self.stats.events_sent},
            )
        if self._generator is not None:
            generator, self._generator = self._generator, None
            generator.close()  # type: ignore[attr-defined]
