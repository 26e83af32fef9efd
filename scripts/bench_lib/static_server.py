"""A static SSE server for the client-only ceiling: it sends pre-formatted events as fast as
the socket takes them, so the events/s a client reads from it is the client's own limit.

Run as ``python -m scripts.bench_lib.static_server PORT MESSAGE_BYTES [PARTITIONS]`` (the
partitions each event's id names, as the server under test's would).
"""

from gevent import monkey

monkey.patch_all()

import sys  # noqa: E402
import time  # noqa: E402

from gevent.server import StreamServer  # noqa: E402

HEAD = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\n"
    b"Cache-Control: no-cache\r\nConnection: close\r\n\r\n:ok\n\n"
)


#: Where each block carries its send time (µs), like the bench's messages, so a client that
#: measures latency pays the same parse here as against the server under test.
STAMP = b"1" * 16


def block(message_bytes: int, events: int = 1000, partitions: int = 1) -> bytes:
    data = b'{"bench_ts":' + STAMP + b',"bench":"' + b"x" * max(message_bytes - 40, 1) + b'"}'
    parts = []
    for offset in range(events):
        event_id = (
            b"["
            + b",".join(
                b'{"topic":"static","partition":%d,"offset":%d}' % (p, offset + 1)
                for p in range(partitions)
            )
            + b"]"
        )
        parts.append(b"event: message\nid: " + event_id + b"\ndata: " + data + b"\n\n")
    return b"".join(parts)


def main() -> None:
    port, message_bytes = int(sys.argv[1]), int(sys.argv[2])
    partitions = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    payload = block(message_bytes, partitions=partitions)

    def handle(sock, _address):
        try:
            sock.recv(65536)
            sock.sendall(HEAD)
            while True:
                sock.sendall(payload.replace(STAMP, b"%16d" % (time.time() * 1e6)))
        except OSError:
            pass

    StreamServer(("127.0.0.1", port), handle, backlog=4096).serve_forever()


if __name__ == "__main__":
    main()
