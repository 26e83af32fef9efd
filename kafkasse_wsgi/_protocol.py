"""The stream protocol: what travels from a source to its stream through the stream's queue.

A stream reads from a *source*: a private consumer's pump (:mod:`~kafkasse_wsgi._pump`) or
the shared tail's (:mod:`~kafkasse_wsgi._tail.source`), both built on
:class:`~kafkasse_wsgi._queued_source.QueuedSource`. The source only produces queue
items: byte chunks of formatted events, a :class:`Reset` when partitions moved, then one
:class:`End`; or :data:`READ`, when the stream's own greenlet is to format what the source
holds (``source.read()``: the shared tail's rings). It never calls up into the stream. Every
put of a pump waits at most ``max_blocked_s`` (:func:`put_bounded`), the end included, and
a write of the stream's body that blocks that long is cut (:mod:`~kafkasse_wsgi._write_watch`):
the client resumes from its last id.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Protocol, TypeAlias

from gevent.queue import Full

from ._assignments import StartPosition
from ._positions import Positions
from ._stream_queue import StreamQueue
from .errors import KafkaSSEError


class End:
    """The last item of a stream's queue: why it ends, and what the client should do.

    :param error: sent as ``event: error`` before the end.
    :param cause: for logs and metrics (``end``, ``error``, ``limit``, ``shutdown``,
        ``token_expired``, ``slow``).
    :param retry_ms: a ``retry:`` hint sent before the end, so the client comes back then.
    :param event_id: an ``id:`` sent before the end (the id of everything queued before it).
    """

    __slots__ = ("cause", "error", "event_id", "retry_ms")

    def __init__(
        self,
        error: KafkaSSEError | None = None,
        cause: str | None = None,
        retry_ms: int | None = None,
        event_id: str | None = None,
    ) -> None:
        self.error = error
        self.cause = cause or ("error" if error is not None else "end")
        self.retry_ms = retry_ms
        self.event_id = event_id


class Reset:
    """A queue item: partitions moved because Kafka no longer holds their next offset.

    Sent as ``event: reset`` (the same notice as a resume that could not start where it
    asked) before the events read from the new position.

    :param positions: the moved partitions (``source="reset"``, with the requested offset).
    :param event_id: the stream's id once they moved: a resume from it continues there.
    """

    __slots__ = ("event_id", "positions")

    def __init__(self, positions: Sequence[StartPosition], event_id: str) -> None:
        self.positions = list(positions)
        self.event_id = event_id


class _Read:
    """The type of :data:`READ`."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "READ"


#: A queue item: the source has data the stream's own greenlet formats by calling the
#: source's ``read()`` (the shared tail's rings: no greenlet of the source's in between).
READ = _Read()

#: What a source puts in a stream's queue: formatted events (bytes), a reset, the end, or
#: :data:`READ`.
Item: TypeAlias = bytes | Reset | End | _Read


class StreamStats:
    """Counters of one stream, read by logs and metrics.

    ``filter_errors``: events the request's ``?filter=`` raised on (skipped, and counted in
    ``events_filtered`` too).
    """

    __slots__ = ("bytes_sent", "events_filtered", "events_sent", "events_skipped", "filter_errors")

    def __init__(self) -> None:
        self.events_sent = 0
        self.events_filtered = 0
        self.events_skipped = 0
        self.filter_errors = 0
        self.bytes_sent = 0


class IdProgress:
    """Whether dropped records moved a stream's id since it last sent one, and when that was.

    While a filter drops events, an id-only frame goes out at most every ``interval_s`` (and
    before a heartbeat), so a client's last event id advances without an event. Kept by the
    stream's source; one that changes hands (shared tail) passes it on.

    :param interval_s: ``progress_interval_s``; ``None`` never sends such frames.
    """

    __slots__ = ("behind", "interval_s", "last_sent_at")

    def __init__(self, interval_s: float | None) -> None:
        self.interval_s = interval_s
        self.behind = False
        self.last_sent_at = time.monotonic()

    def note(self, sent: bool, dropped_last: bool) -> None:
        """After a batch: events were sent (their ids went out), the last record was dropped."""
        if sent:
            self.last_sent_at = time.monotonic()
        if dropped_last:
            self.behind = True
        elif sent:
            self.behind = False

    def due(self) -> bool:
        """An id-only frame should go out now."""
        return (
            self.behind
            and self.interval_s is not None
            and time.monotonic() - self.last_sent_at >= self.interval_s
        )

    def seconds_to_due(self) -> float | None:
        """How long until a frame is due (``None``: none will be until more is dropped)."""
        if not self.behind or self.interval_s is None:
            return None
        return max(0.0, self.interval_s - (time.monotonic() - self.last_sent_at))

    def pending(self) -> bool:
        """The id is behind (for the idle path: a frame instead of a heartbeat)."""
        return self.behind and self.interval_s is not None

    def take_id(self, positions: Positions) -> str:
        """The id to send now (``positions``'), marked sent."""
        self.behind = False
        self.last_sent_at = time.monotonic()
        return positions.event_id()


def put_bounded(queue: StreamQueue, item: Item, max_blocked_s: float | None) -> bool:
    """Queue ``item``, waiting at most ``max_blocked_s`` for the client to make room.

    :param max_blocked_s: ``None`` waits as long as it takes (the option switched off).
    :returns: whether it was queued; ``False``: the client took nothing meanwhile.
    """
    try:
        queue.put(item, timeout=max_blocked_s)
    except Full:
        return False
    return True


class Source(Protocol):
    """What a stream needs from where its events come from.

    A source fills the stream's queue with :data:`Item` s (each put :func:`put_bounded`)
    and advances the stream's positions as it goes; both are the stream's, given to it.
    """

    #: The id of everything queued so far: a client resuming from it skips nothing.
    queued_id: str
    #: The source ended because its client took nothing for ``max_blocked_s`` (no
    #: :class:`End` queued); the stream's blocked write is cut by the write watch.
    stalled: bool

    def start(self) -> object:
        """Start filling the queue (or asking the stream to :meth:`read`). What it returns
        is the source's own business (a pump's greenlet); the stream needs nothing back:
        a blocked write is cut by the write watch, whatever the source does."""
        ...

    def stop(self) -> None:
        """End the source wherever it is (waiting on Kafka, or on a full queue). Idempotent."""
        ...

    def read(self) -> bytes | End | None:
        """What the source has for the stream now, formatted by the caller's greenlet (the
        stream's, on taking :data:`READ`); ``None``: nothing yet."""
        ...

    def progress_id(self) -> str | None:
        """An id to send while idle if dropped records moved it since the last id sent."""
        ...

    def seconds_to_progress(self) -> float | None:
        """How long until an id-only frame is due while idle (``None``: none will be)."""
        ...
