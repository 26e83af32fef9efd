"""What keeps the serve command's connections finite: each one answered or closed in time.

A connection holds a file and a place in the connection pool; a full pool accepts no one,
and the clients then wait unanswered in the listen backlog. So a connection that sends its
headers too slowly is closed (:class:`BoundedHeadersHandler`), and a refused stream closes
its connection rather than keep it alive for nothing (:class:`ClosingRefusals`).
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

import gevent
from gevent.pywsgi import WSGIHandler

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment


class ClosingRefusals:
    """A refused stream (503, 429) closes its connection: a client waiting out ``Retry-After``
    on a kept-alive connection would hold a place in the connection pool for nothing, and a
    full pool accepts no one. gevent's pywsgi honours ``Connection: close`` from an app (the one
    hop-by-hop header servers accept); gunicorn drops it, so the connection is shut for reading
    once the answer is out, and gunicorn's next read ends it."""

    def __init__(self, app: Any, environ: WSGIEnvironment, start_response: StartResponse) -> None:
        self._socket = environ.get("gunicorn.socket")
        self._start_response = start_response
        self.refused = False
        self.body = app(environ, self.start_response)

    def start_response(
        self, status: str, headers: list[tuple[str, str]], exc_info: Any = None
    ) -> Any:
        if status.startswith(("503", "429")):
            self.refused = True
            headers = [*headers, ("Connection", "close")]
        return self._start_response(status, headers, exc_info)

    def answer(self) -> Iterable[bytes]:
        if not self.refused or self._socket is None:
            return self.body
        return _ThenShut(self.body, self._socket)


class _ThenShut:
    """A finished answer's body; ``close()`` shuts its connection for reading."""

    def __init__(self, body: Iterable[bytes], sock: socket.socket) -> None:
        self._body = body
        self._socket = sock

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._body)

    def close(self) -> None:
        close = getattr(self._body, "close", None)
        if close is not None:
            close()
        with contextlib.suppress(OSError):  # already gone
            self._socket.shutdown(socket.SHUT_RD)


class HeadersTooSlow(OSError):
    """A request line and headers that did not all arrive within ``HEADERS_TIMEOUT_S``."""


class BoundedHeadersHandler(WSGIHandler):
    """gevent's request handler, with a bound on the time a request's line and headers take
    to arrive, the wait for the next request on a kept-alive connection included. Without it
    a connection that sends part of its headers and then nothing (slowloris) holds a place
    in the connection pool and a file for good. (gunicorn's ``keepalive`` bounds the same.)"""

    #: Seconds from a connection (or the end of its last answer) to the end of the headers;
    #: :func:`bounded_headers` makes a handler with another bound.
    HEADERS_TIMEOUT_S = 10.0

    def handle_one_request(self) -> Any:
        self._headers_deadline = gevent.Timeout(self.HEADERS_TIMEOUT_S, HeadersTooSlow())
        self._headers_deadline.start()
        try:
            return super().handle_one_request()
        finally:
            self._headers_deadline.close()

    def read_request(self, raw_requestline: str) -> Any:
        try:
            return super().read_request(raw_requestline)
        finally:
            self._headers_deadline.close()  # the answer is not timed

    def _handle_client_error(self, ex: Exception) -> Any:
        if isinstance(ex, HeadersTooSlow):
            return None  # closed without an answer, like a request line that never came
        return super()._handle_client_error(ex)


def bounded_headers(seconds: float) -> type[BoundedHeadersHandler]:
    """A :class:`BoundedHeadersHandler` whose bound is ``seconds``."""
    return type("BoundedHeadersHandler", (BoundedHeadersHandler,), {"HEADERS_TIMEOUT_S": seconds})
