"""A TCP proxy that cuts the connections it forwards at random points.

Seen from the client, a cut is the server dropping the socket: the proxy forwards the
response up to a random number of bytes (often in the middle of an event, sometimes in the
middle of the headers) or for a random number of milliseconds, then closes both sides at
once — with a TCP reset, or sometimes a plain FIN. The server sees its socket die at its
next write. Runs as threads in the test process; listens on 127.0.0.1 only.
"""

from __future__ import annotations

import contextlib
import random
import selectors
import socket
import struct
import threading
import time
from dataclasses import dataclass, field


@dataclass
class ChaosStats:
    """What the proxy did, read by the tests (under ``lock``)."""

    connections: int = 0
    #: Connections the proxy cut while both sides were still open.
    cuts: int = 0
    cuts_mid_bytes: int = 0
    cuts_by_time: int = 0
    cuts_reset: int = 0
    #: Cuts while the server was still setting the stream up (before the response).
    cuts_early: int = 0
    #: Connections ended by either peer before the proxy cut them.
    ended_by_peer: int = 0
    bytes_down: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def snapshot(self) -> dict[str, int]:
        with self.lock:
            return {k: v for k, v in self.__dict__.items() if isinstance(v, int)}


def _abort(sock: socket.socket, reset: bool) -> None:
    with contextlib.suppress(OSError):
        if reset:
            # SO_LINGER with a zero timeout: close() sends RST instead of FIN.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        else:
            sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()


class ChaosProxy:
    """Forwards 127.0.0.1:``port`` to 127.0.0.1:``upstream_port``, cutting at random.

    Each connection draws a byte budget for the response in ``[0, max_bytes]`` and a
    lifetime in ``[min_ms, max_ms]``, counted from the first byte of the response (or, for
    ``early_ratio`` of them, a lifetime in ``[0, 300]`` ms from the accept: cut while the
    server sets the stream up); whichever runs out first cuts it. ``enabled`` may be
    switched off to let the client catch up without cuts.
    """

    def __init__(
        self,
        upstream_port: int,
        seed: int,
        max_bytes: int = 8000,
        min_ms: float = 30,
        max_ms: float = 1500,
        reset_ratio: float = 0.7,
        early_ratio: float = 0.1,
    ) -> None:
        self.upstream_port = upstream_port
        self.max_bytes = max_bytes
        self.min_ms = min_ms
        self.max_ms = max_ms
        self.reset_ratio = reset_ratio
        self.early_ratio = early_ratio
        self.enabled = True
        self.stats = ChaosStats()
        self._random = random.Random(seed)
        self._random_lock = threading.Lock()
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self.port = int(self._listener.getsockname()[1])
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        self._acceptor = threading.Thread(
            target=self._accept_loop, name="chaos-accept", daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ChaosProxy:
        self._acceptor.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        with contextlib.suppress(OSError):
            self._listener.close()
        with self._open_lock:
            socks = list(self._open)
        for sock in socks:
            _abort(sock, reset=True)
        self._acceptor.join(5)
        for thread in list(self._threads):
            thread.join(5)

    def __enter__(self) -> ChaosProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _accept_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._random_lock:
                budget = self._random.randint(0, self.max_bytes)
                early = self._random.random() < self.early_ratio
                if early:
                    lifetime_s = self._random.uniform(0, 300) / 1000
                else:
                    lifetime_s = self._random.uniform(self.min_ms, self.max_ms) / 1000
                reset = self._random.random() < self.reset_ratio
            thread = threading.Thread(
                target=self._forward,
                args=(client, budget, lifetime_s, reset, early),
                name="chaos-conn",
                daemon=True,
            )
            self._threads = [t for t in self._threads if t.is_alive()]
            self._threads.append(thread)
            thread.start()

    def _forward(
        self, client: socket.socket, budget: int, lifetime_s: float, reset: bool, early: bool
    ) -> None:
        with self.stats.lock:
            self.stats.connections += 1
        try:
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=5)
        except OSError:
            _abort(client, reset=True)
            return
        with self._open_lock:
            self._open.update((client, upstream))
        # Until the response starts, a late cut waits: the deadline is set by its first byte.
        deadline = time.monotonic() + (lifetime_s if early else 3600)
        responding = early
        selector = selectors.DefaultSelector()
        selector.register(client, selectors.EVENT_READ, upstream)
        selector.register(upstream, selectors.EVENT_READ, client)
        cause = None
        try:
            while not self._stopping.is_set():
                remaining = deadline - time.monotonic()
                if self.enabled and remaining <= 0:
                    cause = "time"
                    break
                events = selector.select(timeout=min(remaining, 0.1) if remaining > 0 else 0.1)
                for key, _ in events:
                    source: socket.socket = key.fileobj  # type: ignore[assignment]
                    target: socket.socket = key.data
                    try:
                        data = source.recv(65536)
                    except OSError:
                        data = b""
                    if not data:
                        cause = "peer"
                        break
                    if source is upstream and not responding:
                        responding = True
                        deadline = time.monotonic() + lifetime_s
                    if source is upstream and self.enabled:
                        if len(data) >= budget:
                            data = data[:budget]
                            cause = "bytes"
                        budget -= len(data)
                    try:
                        if data:
                            target.sendall(data)
                    except OSError:
                        cause = "peer"
                        break
                    if source is upstream:
                        with self.stats.lock:
                            self.stats.bytes_down += len(data)
                    if cause:
                        break
                if cause:
                    break
        finally:
            selector.close()
            with self.stats.lock:
                if cause in ("time", "bytes"):
                    self.stats.cuts += 1
                    self.stats.cuts_reset += reset
                    self.stats.cuts_early += early
                    if cause == "bytes":
                        self.stats.cuts_mid_bytes += 1
                    else:
                        self.stats.cuts_by_time += 1
                else:
                    self.stats.ended_by_peer += 1
            cut = cause in ("time", "bytes")
            _abort(client, reset=reset and cut)
            _abort(upstream, reset=reset and cut)
            with self._open_lock:
                self._open.discard(client)
                self._open.discard(upstream)
