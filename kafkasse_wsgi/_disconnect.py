"""Disconnect detection: notice a client that closes its connection while its stream is idle.

A WSGI server learns that a client left only when a write fails, and an idle stream writes
only a heartbeat every ``heartbeat_interval_s``: until then the stream would hold its
consumer and broker connections for nobody. Where the server lets us reach the client's
socket, the event loop tells us when it is readable and we peek at it without reading:

* nothing (EOF) or a reset: the client is gone, and the stream ends at once (a client that
  only shut down its sending side would look the same; HTTP clients reading a response
  don't do that);
* bytes: the client sent its next request ahead (HTTP pipelining). They belong to the
  server, so the watcher stops and heartbeats are again what notices a departure.

Sockets are found where gunicorn's gevent workers put them (``gunicorn.socket``, or
``gunicorn.sock`` for ``-k gevent_pywsgi``) and behind gevent's WSGIServer's ``wsgi.input``.
Other servers, and TLS terminated by the WSGI server itself, expose no socket we can peek
at: there the next heartbeat write notices the client leaving, as before.
"""

from __future__ import annotations

import errno
import logging
import socket
import ssl
from collections.abc import Callable, Mapping
from typing import Any

import gevent
from gevent import ssl as gevent_ssl

log = logging.getLogger(__name__)

#: Errors of a peek that mean the client is gone (it reset the connection).
_CLIENT_GONE_ERRNOS = frozenset({errno.ECONNRESET, errno.EPIPE, errno.ETIMEDOUT})


def client_socket(environ: Mapping[str, Any]) -> Any | None:
    """The socket of the client's connection, if the server exposes one we can watch.

    :param environ: the WSGI environ as the server made it (frameworks pass it on).
    """
    stream = environ.get("wsgi.input")
    reader = getattr(stream, "rfile", stream)  # gevent's Input wraps the socket's reader
    candidates = (
        environ.get("gunicorn.socket"),
        environ.get("gunicorn.sock"),
        getattr(getattr(reader, "raw", None), "_sock", None),  # SocketIO over the socket
    )
    for candidate in candidates:
        if _watchable(candidate):
            return candidate
    return None


def _watchable(sock: Any) -> bool:
    if sock is None or isinstance(sock, (ssl.SSLSocket, gevent_ssl.SSLSocket)):
        return False  # a peek would see TLS records, not the end of the connection
    try:
        return sock.type == socket.SOCK_STREAM and sock.fileno() >= 0
    except (AttributeError, OSError):
        return False


class DisconnectWatcher:
    """Watches ``sock`` for the client closing it, then calls ``on_left`` (once).

    An I/O watcher on the event loop, not a greenlet: an idle stream waits on it for hours,
    and a greenlet's saved stack would cost each one kilobytes.

    :param sock: the client's socket (see :func:`client_socket`); it is never read, only
        peeked at, and never closed here: the server owns it.
    :param on_left: called once, in a greenlet of its own, when the client is gone.
    """

    def __init__(self, sock: Any, on_left: Callable[[], None]) -> None:
        self._sock = sock
        self._on_left = on_left
        self._io: Any = None
        #: Whether it still watches (or is about to): ``False`` once it saw the socket
        #: readable, or was stopped.
        self.watching = False

    def start(self) -> None:
        if self._io is None:
            self._io = gevent.get_hub().loop.io(self._sock.fileno(), 1)
            self._io.start(self._readable)
            self.watching = True

    def stop(self) -> None:
        """Stop watching; the socket is no longer watched when this returns (safe to repeat).

        The server reads the next request from this socket as soon as the response is over.
        """
        self.watching = False
        io, self._io = self._io, None
        if io is not None:
            io.stop()
            io.close()

    def _readable(self) -> None:
        """Called in the event loop (nothing here may block) when the socket is readable."""
        self.stop()
        try:
            peeked = self._sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
        except BlockingIOError:
            return  # readable, then not: nothing certain, leave it to the heartbeats
        except OSError as exc:
            if exc.errno not in _CLIENT_GONE_ERRNOS:
                log.debug("not watching the client's connection any more: %s", exc)
                return
            peeked = b""
        if peeked:
            log.debug("the client sent more on its connection; heartbeats will notice it leave")
            return
        gevent.spawn(self._on_left)
