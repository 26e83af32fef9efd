"""Many Node ``eventsource`` clients in one process (``node/fleet_client.mjs``): the
deployment tests' audience, each client checking its own per-partition sequence."""

from __future__ import annotations

import contextlib
import json
import subprocess
import threading
import time
from typing import Any

from tests.support.node_client import NODE, NODE_DIR


class Fleet:
    """``lanes`` EventSources streaming ``url`` from ``start_id``.

    ``lanes()`` is the latest per-client summary (``last`` seq per partition, ``n`` events,
    ``gaps``, ``dups``, ``serverErrors``, ``connErrors``, ``opens``, ``closed``, ``open``);
    ``resumes`` the reconnects (``ms`` away, ``caughtUp`` events); ``bad`` the gaps and
    duplicates in detail; ``server_errors`` every ``event: error`` received.
    """

    def __init__(self, url: str, start_id: str, lanes: int) -> None:
        self.count = lanes
        self.process = subprocess.Popen(
            [NODE or "node", str(NODE_DIR / "fleet_client.mjs"), url, start_id, str(lanes)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._lock = threading.Lock()
        self._lanes: list[dict[str, Any]] = []
        self.resumes: list[dict[str, Any]] = []
        self.bad: list[dict[str, Any]] = []
        self.server_errors: list[dict[str, Any]] = []
        self.bad_lines: list[str] = []
        self._reader = threading.Thread(target=self._read, name="node-fleet", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            try:
                record = json.loads(line)
            except ValueError:
                self.bad_lines.append(line)
                continue
            with self._lock:
                kind = record["t"]
                if kind == "sum":
                    self._lanes = record["lanes"]
                elif kind == "resume":
                    self.resumes.append(record)
                elif kind == "bad":
                    self.bad.append(record)
                elif kind == "serverError":
                    self.server_errors.append(record)

    def lanes(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._lanes)

    def wait(self, condition: Any, timeout_s: float, what: str) -> None:
        """Wait until ``condition(lanes)`` holds for the latest summary of every client."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            lanes = self.lanes()
            if len(lanes) == self.count and condition(lanes):
                return
            if self.process.poll() is not None:
                raise AssertionError(f"the node clients died: {self.stop()[-2000:]}")
            time.sleep(0.1)
        lanes = self.lanes()
        shown = [(n, lane) for n, lane in enumerate(lanes) if not condition([lane])] or lanes
        raise AssertionError(f"clients: not {what} within {timeout_s}s: {shown[:3]}")

    def all_open(self) -> None:
        self.wait(lambda lanes: all(lane["open"] for lane in lanes), 30, "all open")

    def caught_up(self, produced: dict[int, int], timeout_s: float = 30) -> None:
        """Every client has every partition's last event."""
        want = {str(p): n - 1 for p, n in produced.items()}
        self.wait(
            lambda lanes: all(lane["last"] == want for lane in lanes), timeout_s, f"at {want}"
        )

    def stop(self) -> str:
        """Stop the clients; return what they wrote on stderr."""
        with contextlib.suppress(OSError):
            self.process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(10)
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(5)
        self._reader.join(5)
        err = ""
        if self.process.stderr is not None:
            with contextlib.suppress(OSError, ValueError):
                err = self.process.stderr.read()
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                with contextlib.suppress(OSError, ValueError):
                    stream.close()
        return err
