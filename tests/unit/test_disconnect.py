"""The disconnect watcher on real socket pairs: what it finds in an environ, what it calls a
departure (EOF, reset) and what it leaves to the server (pipelined bytes)."""

from __future__ import annotations

import socket
import ssl
import struct
from collections.abc import Iterator

import gevent
import gevent.socket
import gevent.ssl
import pytest
from gevent.pywsgi import Input

from kafkasse_wsgi._disconnect import DisconnectWatcher, client_socket


@pytest.fixture
def pair() -> Iterator[tuple[gevent.socket.socket, gevent.socket.socket]]:
    """(server side, client side) of a connection."""
    server, client = gevent.socket.socketpair()
    yield server, client
    server.close()
    client.close()


def watch(sock: gevent.socket.socket) -> tuple[DisconnectWatcher, list[str]]:
    calls: list[str] = []
    watcher = DisconnectWatcher(sock, lambda: calls.append("left"))
    watcher.start()
    gevent.sleep(0)  # let it start waiting
    return watcher, calls


def test_the_socket_is_found_where_gunicorn_puts_it(pair):
    server, _ = pair
    assert client_socket({"gunicorn.socket": server}) is server
    assert client_socket({"gunicorn.sock": server}) is server  # -k gevent_pywsgi


def test_the_socket_is_found_behind_gevent_wsgi_servers_input(pair):
    server, _ = pair
    with server.makefile("rb") as rfile:
        assert client_socket({"wsgi.input": Input(rfile, 0)}) is server
        assert client_socket({"wsgi.input": rfile}) is server  # upgrade requests: the rfile


def test_no_socket_where_the_server_exposes_none_or_it_speaks_tls(pair):
    import io

    assert client_socket({}) is None
    assert client_socket({"wsgi.input": io.BytesIO(b"")}) is None
    server, _ = pair
    for module in (ssl, gevent.ssl):  # gevent's sockets, as gunicorn's workers have them
        context = module.SSLContext(module.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        with context.wrap_socket(server.dup(), do_handshake_on_connect=False) as tls:
            assert client_socket({"gunicorn.socket": tls}) is None


def test_a_client_closing_its_side_is_reported_once(pair):
    server, client = pair
    watcher, calls = watch(server)
    client.close()
    gevent.sleep(0.05)
    assert calls == ["left"]
    watcher.stop()
    assert calls == ["left"]


def test_a_client_resetting_the_connection_is_reported():
    listener = gevent.socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    client = gevent.socket.create_connection(listener.getsockname())
    server, _ = listener.accept()
    try:
        watcher, calls = watch(server)
        client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        client.close()  # linger 0: RST instead of FIN
        gevent.sleep(0.05)
        assert calls == ["left"]
        watcher.stop()
    finally:
        server.close()
        listener.close()


def test_pipelined_bytes_are_left_to_the_server_and_watching_stops(pair):
    server, client = pair
    watcher, calls = watch(server)
    client.sendall(b"GET /next HTTP/1.1\r\n")
    gevent.sleep(0.05)
    assert calls == []
    assert not watcher.watching
    assert server.recv(100) == b"GET /next HTTP/1.1\r\n"  # nothing was consumed


def test_stop_releases_the_socket_before_returning(pair):
    server, client = pair
    watcher, calls = watch(server)
    watcher.stop()
    watcher.stop()  # safe to repeat
    client.sendall(b"x")
    # The server reads next; a watcher still waiting on the socket would be in its way.
    assert server.recv(1) == b"x"
    client.close()
    gevent.sleep(0.05)
    assert calls == []
