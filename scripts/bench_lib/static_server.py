"""A static SSE server for the client-only ceiling: it sends pre-formatted events as fast as
the socket takes them, so the events/s a client reads from it is the client's own limit.

Run as ``python -m scripts.bench_lib.static_server PORT MESSAGE_BYTES``.
"""

from gevent import monkey

monkey.patch_all()

import sys  # noqa: E402

from gevent.server import StreamServer  # noqa: E402

HEAD = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\n"
    b"Cache-Control: no-cache\r\nConnection: close\r\n\r\n:ok\n\n"
)


def block(message_bytes: int, events: int = 1000) -> bytes:
    data = b'{"bench":"' + b"x" * max(message_bytes - 12, 1) + b'"}'
    parts = []
    for offset in range(events):
        event_id = b'[{"topic":"static","partition":0,"offset":%d}]' % (offset + 1)
        parts.append(b"event: message\nid: " + event_id + b"\ndata: " + data + b"\n\n")
    return b"".join(parts)


def main() -> None:
    port, message_bytes = int(sys.argv[1]), int(sys.argv[2])
    payload = block(message_bytes)

    def handle(sock, _address):
        try:
            sock.recv(65536)
            sock.sendall(HEAD)
            while True:
                sock.sendall(payload)
        except OSError:
            pass

    StreamServer(("127.0.0.1", port), handle, backlog=4096).serve_forever()


if __name__ == "__main__":
    main()
