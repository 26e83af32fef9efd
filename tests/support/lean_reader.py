"""A stream client that takes megabytes at full speed for next to no CPU: it only receives
bytes (and counts ``data:`` lines) while it reads, and parses them afterwards. For tests that
measure other clients' latency while this one catches up: its own parsing must not compete.

The server writes whole events per HTTP chunk, so a ``\\ndata: `` is never split by the
chunked framing and counting it in the raw bytes counts events.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from typing import Any
from urllib.parse import urlsplit

from tests.support.clients import parse_block

DATA = b"\ndata: "
RECV_BYTES = 1 << 18


def dechunk(body: bytes) -> tuple[bytes, bool]:
    """The payload of a chunked body, and whether its last chunk (size 0) arrived."""
    out = bytearray()
    at = 0
    while True:
        line_end = body.find(b"\r\n", at)
        if line_end < 0:
            return bytes(out), False
        size = int(body[at:line_end].split(b";")[0], 16)
        if size == 0:
            return bytes(out), True
        start = line_end + 2
        if start + size > len(body):
            out += body[start:]
            return bytes(out), False
        out += body[start : start + size]
        at = start + size + 2


def parse_events(payload: bytes) -> tuple[list[dict[str, str]], str | None]:
    """Complete SSE blocks (fields, comments dropped), and the last id any of them set."""
    events = []
    last_id = None
    *blocks, _rest = payload.split(b"\n\n")
    for block in blocks:
        fields = parse_block(block.decode())
        if "id" in fields:
            last_id = fields["id"]
        if fields:
            events.append(fields)
    return events, last_id


class LeanReader:
    """Opens ``url`` (from ``last_event_id`` if given; its response headers read) and reads
    nothing until :meth:`go`; then, in a thread, receives until ``count`` events arrived (or
    the deadline). A body the server ends first (resumably: ``retry:`` and an id) is resumed
    with its last id, as an EventSource would. :meth:`result` parses it all: payloads in
    order, ``event: error`` data, resumes; ``took_s`` is how long the reading took."""

    def __init__(
        self, url: str, count: int, timeout_s: float, last_event_id: str | None = None
    ) -> None:
        parts = urlsplit(url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.target = parts.path + (f"?{parts.query}" if parts.query else "")
        self.count = count
        self.timeout_s = timeout_s
        self.bodies: list[bytes] = []
        self.resumes = 0
        self.error: BaseException | None = None
        self.took_s: float | None = None
        self._thread = threading.Thread(target=self._read, name="lean-reader", daemon=True)
        self._sock, self._body = self._open(last_event_id)

    def _open(self, last_event_id: str | None) -> tuple[socket.socket, bytearray]:
        sock = socket.create_connection((self.host, self.port), timeout=60)
        resume = f"Last-Event-ID: {last_event_id}\r\n" if last_event_id else ""
        sock.sendall(
            f"GET {self.target} HTTP/1.1\r\nHost: {self.host}\r\n"
            f"Accept: text/event-stream\r\n{resume}\r\n".encode()
        )
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = sock.recv(RECV_BYTES)
            if not chunk:
                raise ConnectionError("closed before the response headers")
            head += chunk
        status, _, rest = head.partition(b"\r\n\r\n")
        assert status.split(b" ", 2)[1] == b"200", status
        assert b"chunked" in status.lower(), status
        return sock, bytearray(rest)

    def go(self) -> None:
        self._thread.start()

    def _read(self) -> None:
        began = time.monotonic()
        deadline = began + self.timeout_s
        seen = 0
        try:
            while time.monotonic() < deadline:
                body = self._body
                chunk = self._sock.recv(RECV_BYTES)
                if chunk:
                    # The bytes before it may hold the start of a "\ndata: " it ends.
                    seen += (bytes(body[1 - len(DATA) :]) + chunk).count(DATA)
                    body += chunk
                    if seen >= self.count:
                        break
                    continue
                # The server ended the body: resume from its last id.
                self._sock.close()
                self.bodies.append(bytes(body))
                _events, last_id = parse_events(dechunk(bytes(body))[0])
                self.resumes += 1
                self._sock, self._body = self._open(last_id)
        except BaseException as exc:  # reported by result()
            self.error = exc
        finally:
            self.took_s = time.monotonic() - began
            self._sock.close()
            self.bodies.append(bytes(self._body))

    def result(self) -> dict[str, Any]:
        """Once the reading is done: ``payloads``, ``errors`` (``event: error`` data),
        ``resumes``."""
        self._thread.join(self.timeout_s + 10)
        assert not self._thread.is_alive(), "the lean reader is still reading"
        if self.error is not None:
            raise self.error
        payloads: list[Any] = []
        errors: list[str] = []
        for body in self.bodies:
            events, _ = parse_events(dechunk(body)[0])
            for event in events:
                if event.get("event") == "error":
                    errors.append(event.get("data", ""))
                elif "data" in event:
                    payloads.append(json.loads(event["data"]))
        return {"payloads": payloads, "errors": errors, "resumes": self.resumes}

    def close(self) -> None:
        self._sock.close()
