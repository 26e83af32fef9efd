"""Disconnect detection: notice a client that closes its connection while its stream is idle.

A WSGI server learns that a client left only when a write fails, and an idle stream writes
only a heartbeat every ``heartbeat_interval_s``: until then the stream would hold its
consumer and broker connections for nobody. Where the server lets us reach the client's
socket, a greenlet waits until the socket is readable and peeks at it without reading:

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
from gevent.socket import wait_read

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
    """Waits in its own greenlet for the client to close ``sock``, then calls ``on_left``.

    :param sock: the client's socket (see :func:`client_socket`); it is never read, only
        peeked at, and never closed here: the server owns it.
    :param on_left: called once, in the watcher's greenlet, when the client is gone.
    """

    def __init__(self, sock: Any, on_left: Callable[[], None]) -> None:
        self._sock = sock
        self._on_left = on_left
        self._greenlet: gevent.Greenlet | None = None

    def start(self) -> None:
        if self._greenlet is None:
            self._greenlet = gevent.spawn(self._watch)

    def stop(self) -> None:
        """Stop watching; returns once the socket is no longer watched (safe to repeat).

        It waits for the greenlet to end because the server reads the next request from
        this socket as soon as the response is over.
        """
        greenlet = self._greenlet
        if greenlet is not None and greenlet is not gevent.getcurrent():
            greenlet.kill(block=True)

    def _watch(self) -> None:
        try:
            wait_read(self._sock.fileno())
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
        self._on_left()
