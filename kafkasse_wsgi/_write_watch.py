"""Cut a client whose connection has taken nothing for ``max_blocked_s``.

A stream's body is written by its request's greenlet. While a write blocks (the client
reads nothing and the socket's buffers are full) that greenlet waits inside the server,
where nothing of the stream runs; a stream on the shared tail has no other greenlet that
could notice. So each write is noted here with its deadline, and one greenlet per process
looks at the writes under way and cuts those past it (the stream's ``abort``): the client
resumes from the last id it received whole.
"""

from __future__ import annotations

import time
from typing import Protocol

import gevent

#: How often the writes under way are looked at: a blocked client is cut within
#: ``max_blocked_s`` plus this.
SWEEP_INTERVAL_S = 0.5


class Cuttable(Protocol):
    """What the watch needs of a stream."""

    def cut_blocked(self) -> None:
        """Log why, and cut the connection now."""
        ...


_deadlines: dict[Cuttable, float] = {}
_sweeper: gevent.Greenlet | None = None


def writing(stream: Cuttable, max_blocked_s: float | None) -> None:
    """``stream`` starts a write; it is cut if the write has not returned ``max_blocked_s``
    from now (``None``: never)."""
    global _sweeper
    if max_blocked_s is None:
        return
    _deadlines[stream] = time.monotonic() + max_blocked_s
    if _sweeper is None:
        _sweeper = gevent.spawn(_sweep)


def written(stream: Cuttable) -> None:
    """``stream``'s write returned (or the stream closed)."""
    _deadlines.pop(stream, None)


def writes_under_way() -> int:
    """How many writes are being watched (for tests and describe functions)."""
    return len(_deadlines)


def _sweep() -> None:
    """Cut the writes past their deadline; end once no write is under way."""
    global _sweeper
    try:
        while _deadlines:
            gevent.sleep(SWEEP_INTERVAL_S)
            now = time.monotonic()
            late = [stream for stream, deadline in _deadlines.items() if deadline <= now]
            for stream in late:
                _deadlines.pop(stream, None)
                stream.cut_blocked()
    finally:
        _sweeper = None
