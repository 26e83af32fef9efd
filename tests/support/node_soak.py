"""The soak test's Node client (``node/soak_client.mjs``) run as a subprocess, its output
read by a thread into per-partition sequences the test checks."""

from __future__ import annotations

import contextlib
import json
import subprocess
import threading
from collections import Counter
from typing import Any

from tests.support.node_client import NODE, NODE_DIR


class SoakClient:
    """Starts ``soak_client.mjs`` and collects what it prints.

    ``received[lane][partition]`` holds, in arrival order, ``(seq, offset, timestamp, id)``
    of every message of that lane (one independent stream of the client); ``counts`` the
    records of each kind (``m``, ``abort``, ``open``, ``error``, ``late``).
    """

    def __init__(
        self,
        url: str,
        start_id: str,
        seed: int,
        max_events_per_life: int,
        min_ms: int,
        max_ms: int,
        partitions: int,
        lanes: int = 1,
    ) -> None:
        args = [
            NODE or "node",
            str(NODE_DIR / "soak_client.mjs"),
            url,
            start_id,
            str(seed),
            str(max_events_per_life),
            str(min_ms),
            str(max_ms),
            str(lanes),
        ]
        self.process = subprocess.Popen(
            args,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lock = threading.Lock()
        self.received: dict[int, dict[int, list[tuple[int, int, int, str]]]] = {
            lane: {p: [] for p in range(partitions)} for lane in range(lanes)
        }
        self.counts: Counter[str] = Counter()
        self.abort_reasons: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self.bad_lines: list[str] = []
        self._reader = threading.Thread(target=self._read, name="soak-client", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            line = line.strip()
            if not line:
                continue
            try:
                record: dict[str, Any] = json.loads(line)
            except ValueError:
                self.bad_lines.append(line)
                continue
            kind = record["t"]
            with self.lock:
                self.counts[kind] += 1
                if kind == "m":
                    data = json.loads(record["d"])
                    meta = data["_kafka"]
                    self.received[record["l"]][data["p"]].append(
                        (data["seq"], meta["offset"], meta["timestamp"], record["id"])
                    )
                elif kind == "abort":
                    self.abort_reasons[record["why"]] += 1
                elif kind == "error":
                    self.errors[str(record.get("msg"))[:80]] += 1

    @property
    def aborts(self) -> int:
        with self.lock:
            return self.counts["abort"]

    def events(self) -> int:
        with self.lock:
            return self.counts["m"]

    def last_seqs(self) -> dict[int, dict[int, int]]:
        with self.lock:
            return {
                lane: {p: items[-1][0] if items else -1 for p, items in partitions.items()}
                for lane, partitions in self.received.items()
            }

    def calm(self) -> None:
        """Stop the client's own aborts."""
        assert self.process.stdin is not None
        self.process.stdin.write("calm\n")
        self.process.stdin.flush()

    def stop(self) -> str:
        """Kill the client; return what it wrote on stderr."""
        with contextlib.suppress(OSError):
            self.process.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(10)
        self._reader.join(5)
        err = ""
        if self.process.stderr is not None:
            with contextlib.suppress(OSError, ValueError):
                err = self.process.stderr.read()
                self.process.stderr.close()
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                with contextlib.suppress(OSError, ValueError):
                    stream.close()
        return err
