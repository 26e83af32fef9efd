"""What every source of a stream shares: the queue it fills, and how it ends on the way.

A stream's source (:class:`~kafkasse_wsgi._pump.Pump`, a private consumer's, and
:class:`~kafkasse_wsgi._tail.source.SharedTailSource`, the shared tail's) puts items into
the stream's queue (:mod:`~kafkasse_wsgi._protocol`) and advances the stream's positions.
Both keep the same books, written once here: the id of everything queued (``queued_id``),
whether the client stalled it (``stalled``), whether the positions are ahead of the queue
(``_in_flight``), the progress frames of dropped records, and the end a failure queues.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from kafka import errors as kafka_errors

from ._filters import EventFilter
from ._positions import Positions
from ._protocol import End, IdProgress, Item, StreamStats, put_bounded
from ._stream_queue import StreamQueue
from .errors import KafkaSSEError, KafkaStreamError
from .options import Options


class Stalled(Exception):
    """The client took no data for ``max_blocked_s``: the source ends quietly, ``stalled``."""


def end_for(exc: BaseException | None, log: logging.Logger | logging.LoggerAdapter) -> End:
    """The end of a stream whose source failed with ``exc``: its ``event: error``."""
    if isinstance(exc, KafkaSSEError):
        return End(exc)
    if isinstance(exc, kafka_errors.KafkaError):
        log.error("Kafka error while streaming: %r", exc)
        return End(KafkaStreamError(f"Kafka error while streaming: {type(exc).__name__}"))
    log.error("unexpected error in a stream's source", exc_info=exc)
    return End(KafkaStreamError(f"internal error: {type(exc).__name__}"))


class QueuedSource:
    """The base of a :class:`~kafkasse_wsgi._protocol.Source`: the stream's queue, positions
    and counters, and the bookkeeping of what reached the queue.

    :param growing_topics: topics read whole: partitions added to them join the stream.
    :param event_filter: the request's ``?filter=``, compiled (shared per process).
    :param progress: the stream's progress-frame state, when it outlives this source.
    """

    def __init__(
        self,
        positions: Positions,
        options: Options,
        queue: StreamQueue,
        log: logging.Logger | logging.LoggerAdapter,
        stats: StreamStats,
        growing_topics: Sequence[str] = (),
        event_filter: EventFilter | None = None,
        progress: IdProgress | None = None,
    ) -> None:
        self._positions = positions
        self._options = options
        self._queue = queue
        self._log = log
        self._stats = stats
        self._growing_topics = tuple(growing_topics)
        self._event_filter = event_filter
        self._sse = not options.disable_sse_formatting
        # Progress frames: the id moved past dropped records since the last id sent.
        self._progress = progress or IdProgress(options.progress_interval_s if self._sse else None)
        # A batch is being processed or queued: the positions are ahead of the queue.
        self._in_flight = False
        #: The id of everything queued so far: the positions after the last item the queue
        #: took (a chunk the source was stopped holding is not in it; its records are not).
        self.queued_id = positions.event_id()
        #: The client took nothing for ``max_blocked_s``: the source ended without an end.
        self.stalled = False

    def progress_id(self) -> str | None:
        """The current id if dropped records moved it since the last id sent (for the
        stream's idle path: an id-only frame before a heartbeat); marks it sent."""
        if not self._progress.pending() or self._in_flight:
            # Mid-batch (a hook lent the slot out) the positions include records whose
            # events are not queued yet: an id now could skip them on a resume.
            return None
        return self._progress.take_id(self._positions)

    def read(self) -> bytes | End | None:
        """Nothing: this source queues what it has (see :data:`~kafkasse_wsgi._protocol.READ`)."""
        return None

    def seconds_to_progress(self) -> float | None:
        """How long until an id-only frame is due (see :meth:`progress_id`)."""
        return self._progress.seconds_to_due()

    def _put(self, item: Item) -> None:
        """Queue an item; a client that takes nothing for ``max_blocked_s`` ends the
        source: ``stalled``, and :class:`Stalled` raised."""
        if not put_bounded(self._queue, item, self._options.max_blocked_s):
            self.stalled = True
            raise Stalled
        self.queued_id = self._positions.event_id()

    def _end_with(self, exc: BaseException | None, chunk: bytes = b"") -> None:
        """Queue ``chunk`` (the events before a failure), then the end ``exc`` makes. The
        end too waits at most ``max_blocked_s``: a client that takes nothing is cut."""
        try:
            if chunk:
                self._put(chunk)
            self._put(end_for(exc, self._log))
        except Stalled:
            return
