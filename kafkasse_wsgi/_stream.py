"""The response body of a stream: queue → bytes, heartbeats while idle, cleanup at the end.

The WSGI server iterates :class:`EventStream` and calls its ``close()`` when the client is
gone or the server shuts down. A stream ends in one of these ways, and each one runs the
same idempotent cleanup (stop the source, close the consumer, log) in a ``finally``:

* the client left: the server's write fails, it calls ``close()`` → ``GeneratorExit``;
  or, on an idle stream, the :mod:`~kafkasse_wsgi._disconnect` watcher sees the client's
  socket close and queues an :class:`~kafkasse_wsgi._protocol.End`, so the body ends at once;
* the server stops it: gunicorn's graceful shutdown kills the greenlet → ``GreenletExit``;
* Kafka or a filterer failed: the pump sends :class:`~kafkasse_wsgi._protocol.End` with the
  error, which goes out as ``event: error`` before the body ends, with the current id: that
  of the last event delivered (the pump queues the events before a failing record first);
* the client took nothing for ``max_blocked_s``: a write of the body blocked that long, and
  the :mod:`~kafkasse_wsgi._write_watch` cuts the client (:meth:`abort`);
* the response was never iterated at all: ``close()`` still cleans up.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import gevent
from gevent import GreenletExit
from gevent.queue import Empty, Full

from . import _write_watch, metrics
from ._admission import Ticket
from ._assignments import StartPosition
from ._consumer import close_quietly, cluster_id_of
from ._disconnect import DisconnectWatcher
from ._filters import EventFilter
from ._open_streams import open_streams
from ._positions import Positions
from ._protocol import READ, End, Reset, Source, StreamStats, put_bounded
from ._pump import Pump
from ._replay import END_LIMIT, END_UNTIL, ReplayEnd
from ._sse import (
    STREAM_PREAMBLE,
    format_comment,
    format_event,
    format_id,
    format_json_line,
    format_retry,
)
from ._stream_queue import StreamQueue
from ._tail.hub import TopicHub
from ._tail.source import SharedTailSource
from .errors import KafkaSSEError
from .options import Options

#: The heartbeat of JSON mode: an empty line, which line-oriented JSON readers skip.
JSON_HEARTBEAT = b"\n"


def _cluster_of(hubs: Mapping[str, TopicHub]) -> str | None:
    return next(iter(hubs.values())).cluster_id


class EventStream:
    """A WSGI response iterable that streams one consumer's records as SSE or JSON lines.

    :param growing_topics: topics read whole: partitions added to them join the stream.
    """

    def __init__(
        self,
        consumer: Any,
        starts: Sequence[StartPosition],
        options: Options,
        log: logging.Logger | logging.LoggerAdapter,
        ticket: Ticket | None = None,
        client_socket: Any | None = None,
        growing_topics: Sequence[str] = (),
        token_expires_at: float | None = None,
        event_filter: EventFilter | None = None,
        replay: ReplayEnd | None = None,
        hubs: Mapping[str, TopicHub] | None = None,
        cursors: Mapping[str, int] | None = None,
    ) -> None:
        """:param consumer: the stream's own consumer, positioned at ``starts``; ``None`` for
            a stream that starts on the shared tail (``hubs``, at ``cursors``).
        :param hubs: the shared tail's hub of each topic, for a stream that may read from
            them (:mod:`~kafkasse_wsgi._tail.source`); the stream is their client.
        :param client_socket: the client's connection, watched so that a client leaving
        an idle stream is noticed at once (see :mod:`~kafkasse_wsgi._disconnect`).
        :param token_expires_at: when the subscriber token this stream was granted by expires
        (Unix seconds): the stream ends then, and the client comes back with a fresh one.
        :param event_filter: the request's compiled ``?filter=``.
        :param replay: the request's ``?until=`` / ``?limit=``: the stream ends at them."""
        self._token_expires_at = token_expires_at
        self._consumer = consumer
        self._starts = list(starts)
        self._options = options
        self._log = log
        self._ticket = ticket
        self._sse = not options.disable_sse_formatting
        cluster_id = (
            cluster_id_of(consumer) if consumer is not None or not hubs else _cluster_of(hubs)
        )
        self.positions = Positions(starts, id_mode=options.id_mode, cluster_id=cluster_id)
        # Where the client stands before any event (see _generate), and the id that says so.
        self._first_id = self.positions.first_id()
        self._start_id = self.positions.event_id()
        self.stats = StreamStats()
        self._queue = StreamQueue(options.queue_size, options.queue_bytes)
        self._source: Source
        if hubs:
            self._source = SharedTailSource(
                hubs,
                consumer,
                self.positions,
                options,
                self._queue,
                log,
                self.stats,
                growing_topics=growing_topics,
                event_filter=event_filter,
                cursors=cursors,
            )
            self._consumer = None  # the source's from now on: it closes it on handing off
        else:
            self._source = Pump(
                consumer,
                self.positions,
                options,
                self._queue,
                log,
                self.stats,
                growing_topics=growing_topics,
                event_filter=event_filter,
                replay=replay,
                owns_consumer=True,
            )
            self._consumer = None  # the pump's: closed once its greenlet is done
        self._generator: Iterator[bytes] | None = None
        self._reader: gevent.Greenlet | None = None
        self._lifetime_timer: gevent.Greenlet | None = None
        self._expiry_timer: gevent.Greenlet | None = None
        self._ending = False  # end() ran
        self._end_put: gevent.Greenlet | None = None  # end()'s End waiting for room
        self._watcher = (
            DisconnectWatcher(client_socket, self._client_left)
            if client_socket is not None
            else None
        )
        self._closed = False
        self._started_at = time.monotonic()
        self.end_cause = "client_left"
        open_streams.add(self)
        metrics.stream_started()

    def __iter__(self) -> Iterator[bytes]:
        if self._generator is None:
            self._generator = self._generate()
        return self._generator

    def _generate(self) -> Iterator[bytes]:
        options = self._options
        heartbeat = format_comment() if self._sse else JSON_HEARTBEAT
        self._reader = gevent.getcurrent()
        try:
            # JSON mode starts with its heartbeat (an empty line, which line readers skip):
            # servers send the status and headers with the first write. An SSE client gets
            # its position at once (an id-only frame: no event fires), so a stream that ends,
            # or drops, before its first event resumes elsewhere from here, not at "latest".
            first = [STREAM_PREAMBLE, format_id(self._first_id)] if self._sse else [JSON_HEARTBEAT]
            if self._sse and options.retry_ms is not None:
                first.append(format_retry(options.retry_ms))
            resets = [start for start in self._starts if start.source == "reset"]
            if resets:
                first.append(self._format_resets(resets, self._first_id))
            source = self._source
            source.start()
            self._start_lifetime_timer()
            if self._watcher is not None:
                self._watcher.start()
            blocked_s = options.max_blocked_s
            if first:
                _write_watch.writing(self, blocked_s)
                yield b"".join(first)
                _write_watch.written(self)
            queue = self._queue
            while True:
                try:
                    item = queue.get(timeout=self._idle_wait_s())
                except Empty:
                    # Dropped records moved the id: an id-only frame instead of a heartbeat.
                    progress = source.progress_id()
                    _write_watch.writing(self, blocked_s)
                    yield format_id(progress) if progress else heartbeat
                    _write_watch.written(self)
                    continue
                if item is READ:
                    item = source.read()
                    if item is None:
                        continue
                if type(item) is Reset:
                    item = self._format_resets(item.positions, item.event_id)
                if type(item) is bytes:
                    self.stats.bytes_sent += len(item)
                    metrics.bytes_sent(len(item))
                    _write_watch.writing(self, blocked_s)
                    yield item
                    _write_watch.written(self)
                    continue
                assert isinstance(item, End)
                self.end_cause = item.cause
                last = self._format_end(item)
                if last:
                    _write_watch.writing(self, blocked_s)
                    yield last
                return
        except GreenletExit:
            if self.end_cause == "client_left":
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

    def end(self, cause: str) -> None:
        """End the stream cleanly after what is already queued, with a spread ``retry:`` hint.

        Used for the lifetime limit, token expiry and shutdown: the client gets a complete
        response and reconnects (elsewhere, or later) from its last id. With the queue full
        (the client is behind) the end waits for room; a client that takes nothing for
        ``max_blocked_s`` meanwhile is cut (:mod:`~kafkasse_wsgi._write_watch`).
        """
        if self._closed or self._ending:
            return
        self._ending = True
        retry_ms = random.randint(0, self._options.reconnect_spread_ms)
        self._source.stop()
        # A client whose token expired has skipped nothing: say exactly where it resumes
        # (also when nothing was sent on this connection yet).
        event_id = self._source.queued_id if cause == "token_expired" else None
        end = End(cause=cause, retry_ms=retry_ms, event_id=event_id)
        try:
            self._queue.put_nowait(end)
        except Full:
            # Not here: end_all_streams() ends every stream of the process in one loop.
            self._end_put = gevent.spawn(self._queue.put, end)

    def _client_left(self) -> None:
        """The client closed its connection (the watcher saw it): end after what is queued.

        The body then ends like any other and the server finds the connection closed. If the
        queue stays full, the reader is stuck writing to the dead connection: that write
        fails, or the source's ``max_blocked_s`` guard cuts it.
        """
        if self._closed:
            return
        if not put_bounded(self._queue, End(cause="client_left"), self._options.max_blocked_s):
            self._log.debug("client left; its stream is still busy writing to it")

    def _idle_wait_s(self) -> float:
        """How long to wait for the next item: a heartbeat's interval, or less when an
        id-only frame falls due before."""
        heartbeat = self._options.heartbeat_interval_s
        due = self._source.seconds_to_progress()
        return heartbeat if due is None else min(heartbeat, due)

    def cut_blocked(self) -> None:
        """A write blocked for ``max_blocked_s`` (see :mod:`~kafkasse_wsgi._write_watch`)."""
        self._log.warning(
            "client took no data for %gs; ending its stream (it resumes from its last id)",
            self._options.max_blocked_s,
        )
        self.abort("limit")

    def abort(self, cause: str) -> None:
        """Cut the connection now (the client is stuck): kill the greenlet serving it.

        The server then closes the response, which runs :meth:`close`; the client resumes
        from the last id it received whole.
        """
        if self._closed:
            return
        self.end_cause = cause
        reader = self._reader
        if reader is not None and reader is not gevent.getcurrent() and not reader.dead:
            reader.kill(block=False)
        else:
            self.close()

    def _start_lifetime_timer(self) -> None:
        if self._token_expires_at is not None:
            left = max(0.0, self._token_expires_at - time.time())
            self._expiry_timer = gevent.spawn_later(left, self.end, "token_expired")
        lifetime = self._options.max_stream_lifetime_s
        if lifetime is None:
            return
        lifetime *= 1 - random.random() * self._options.lifetime_jitter
        self._lifetime_timer = gevent.spawn_later(lifetime, self.end, "limit")

    def _format_end(self, end: End) -> bytes:
        if end.error is not None:
            return self._format_error(end.error)
        if not self._sse or end.cause == "client_left":  # nobody left to read it
            return b""
        if end.cause in (END_UNTIL, END_LIMIT):
            # The replay is complete: the final id tells a reconnect there is nothing left.
            data = json.dumps({"reason": end.cause})
            return format_event(data, event="end", event_id=self.positions.event_id())
        if end.retry_ms is not None:
            resume = format_id(self._resume_id(end.event_id or self._source.queued_id))
            return format_retry(end.retry_ms) + resume + format_comment(f"end: {end.cause}")
        return format_comment(f"end: {end.cause}")

    def _resume_id(self, event_id: str) -> str:
        """The id a stream ending now says (everything queued was delivered): the first
        frame's while the positions are still the start's."""
        return self._first_id if event_id == self._start_id else event_id

    def _format_resets(self, resets: Sequence[StartPosition], event_id: str) -> bytes:
        """Tell the client where the stream could not read where it asked (never silently):
        at the start (a resume's offset is gone), or mid-stream (data deleted before it was
        read). ``event_id`` is the id once the partitions moved."""
        notices = []
        for start in resets:
            notice = {
                "topic": start.topic,
                "partition": start.partition,
                "requested_offset": start.requested_offset,
                "served_offset": start.offset,
                "reason": start.reason,
            }
            data = json.dumps(notice, separators=(",", ":"))
            if self._sse:
                notices.append(format_event(data, event="reset", event_id=event_id))
            else:
                notices.append(
                    format_json_line(json.dumps({"reset": notice}, separators=(",", ":")))
                )
        return b"".join(notices)

    def _format_error(self, error: KafkaSSEError) -> bytes:
        self._options.call_hook("error", self._log, error)
        if self._sse:
            event_id = self._resume_id(self.positions.event_id())
            return format_event(error.to_json(), event="error", event_id=event_id)
        return format_json_line(json.dumps({"error": error.to_dict()}))

    def close(self) -> None:
        """Stop the source and close the consumer; safe to call any number of times."""
        if self._closed:
            return
        self._closed = True
        open_streams.discard(self)
        if self._watcher is not None:
            self._watcher.stop()  # before the server reads the next request on the socket
        _write_watch.written(self)
        for timer in (self._lifetime_timer, self._expiry_timer, self._end_put):
            if timer is not None and timer is not gevent.getcurrent():
                timer.kill(block=False)
        try:
            self._source.stop()
        finally:
            close_quietly(self._consumer, self._log)
            self._consumer = None
            if self._ticket is not None:
                self._ticket.release()
            metrics.stream_ended(self.end_cause)
            self._options.call_hook("disconnected", self._log)
            self._log.info(
                "stream ended (%s) after %.1fs: %d events, %d filtered (%d filter errors), "
                "%d skipped, %d bytes",
                self.end_cause,
                time.monotonic() - self._started_at,
                self.stats.events_sent,
                self.stats.events_filtered,
                self.stats.filter_errors,
                self.stats.events_skipped,
                self.stats.bytes_sent,
                extra={"end_cause": self.end_cause, "events_sent": self.stats.events_sent},
            )
        if self._generator is not None:
            generator, self._generator = self._generator, None
            generator.close()  # type: ignore[attr-defined]
