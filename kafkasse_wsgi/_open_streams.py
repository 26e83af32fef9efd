"""The open streams of this process, and its stopping: every stream ends cleanly at shutdown.

A worker about to stop ends each of its streams with a ``retry:`` hint and its id (the
client resumes on another worker), and answers a stream asked for from then on with that
hint at once: a stream started while the server kills what is left would be cut.
"""

from __future__ import annotations

import random
import weakref
from typing import Protocol

from ._sse import STREAM_PREAMBLE, format_comment, format_retry


class Endable(Protocol):
    def end(self, cause: str) -> None: ...


#: Every stream of the process not closed yet (:class:`~kafkasse_wsgi._stream.EventStream`
#: adds itself, and leaves when it closes).
open_streams: weakref.WeakSet[Endable] = weakref.WeakSet()
_stopping = False


def end_all_streams(cause: str = "shutdown") -> int:
    """End every open stream of this process cleanly (see ``EventStream.end``).

    Call it when the process is about to stop: clients get a complete response and a
    ``retry:`` hint, and resume from their last id on another worker. Returns how many.
    With ``cause="shutdown"`` the process is stopping from then on (:func:`stopping`).
    """
    global _stopping
    if cause == "shutdown":
        _stopping = True
    streams = list(open_streams)
    for stream in streams:
        stream.end(cause)
    return len(streams)


def stopping() -> bool:
    """Whether this process is stopping: a stream asked for now must end at once.

    A server still answers requests on connections it already has for a moment after it
    stopped listening (a proxy's kept-alive connections), then kills what is left: a stream
    started then would be cut, or answered 500 if killed during its setup.
    """
    return _stopping


def stopping_body(sse: bool, spread_ms: int) -> bytes:
    """The body for a stream asked for while the process stops: the client comes back
    (elsewhere) after a spread ``retry:`` wait, from the id it sent."""
    if not sse:
        return b""
    retry_ms = random.randint(0, spread_ms)
    return STREAM_PREAMBLE + format_retry(retry_ms) + format_comment("end: shutdown")
