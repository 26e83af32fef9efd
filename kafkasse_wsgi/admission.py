"""Who may open a stream now: per-process and per-client limits on open streams.

Every open stream holds a Kafka consumer (sockets, buffers), so a worker must be able to
say no before it builds one. The counts are per process, like the streams themselves:
with N gunicorn workers the process limit applies to each of them.

The client is the connection's address, or with ``trusted_proxies=N`` the entry N places
from the right of ``X-Forwarded-For`` (the address the outermost trusted proxy saw): a
client can put anything at the left of that header, so entries we don't trust are ignored.
"""

from __future__ import annotations

import collections
from typing import TYPE_CHECKING

from .errors import TooManyStreamsError
from .options import Options

if TYPE_CHECKING:
    from .options import WSGIEnvironment

#: Seconds a refused client is told to wait (``Retry-After``).
RETRY_AFTER_S = 5

_open_total = 0
_open_by_client: collections.Counter[str] = collections.Counter()


def client_address(environ: WSGIEnvironment, trusted_proxies: int) -> str:
    """The address limits are counted against (see the module docstring)."""
    remote = str(environ.get("REMOTE_ADDR") or "unknown")
    if trusted_proxies <= 0:
        return remote
    hops = [
        hop.strip() for hop in environ.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()
    ]
    if len(hops) >= trusted_proxies:
        return hops[-trusted_proxies]
    return remote


class Ticket:
    """One admitted stream; ``release()`` (idempotent) gives its place back."""

    __slots__ = ("_client", "_released")

    def __init__(self, client: str) -> None:
        self._client = client
        self._released = False

    def release(self) -> None:
        global _open_total
        if self._released:
            return
        self._released = True
        _open_total -= 1
        _open_by_client[self._client] -= 1
        if _open_by_client[self._client] <= 0:
            del _open_by_client[self._client]


def admit(environ: WSGIEnvironment, options: Options) -> Ticket:
    """Take a place for a new stream, or raise :class:`TooManyStreamsError` (503 or 429)."""
    global _open_total
    client = client_address(environ, options.trusted_proxies)
    if options.max_streams is not None and _open_total >= options.max_streams:
        raise TooManyStreamsError(
            "this server holds as many streams as it can; try again later",
            status=503,
            retry_after_s=RETRY_AFTER_S,
        )
    limit = options.max_streams_per_client
    if limit is not None and _open_by_client[client] >= limit:
        raise TooManyStreamsError(
            f"too many open streams from this client (at most {limit})",
            status=429,
            retry_after_s=RETRY_AFTER_S,
        )
    _open_total += 1
    _open_by_client[client] += 1
    return Ticket(client)


def open_streams() -> int:
    """Streams admitted and not yet released in this process."""
    return _open_total
