"""Numbered events for exactness tests: a producer writing ``{"p": partition, "seq": n}`` to
a topic of :data:`PARTITIONS` partitions (one of them quiet), and the checks of what a client
received from it (no gap, no duplicate, ids naming every partition)."""

from __future__ import annotations

import json
import random
import threading
import time
from typing import Any

#: Partitions of a numbered topic: 0 and 1 busy, 2 quiet (rare bursts).
PARTITIONS = 3


class NumberedProducer:
    """Writes ``{"p": partition, "seq": n}`` events: partitions 0 and 1 continuously,
    partition 2 in rare bursts. With ``timestamps``, each event carries an explicit producer
    timestamp, strictly increasing per partition."""

    def __init__(self, kafka: Any, topic: str, seed: int, timestamps: bool) -> None:
        self.kafka = kafka
        self.topic = topic
        self.timestamps = timestamps
        self.produced = dict.fromkeys(range(PARTITIONS), 0)
        self.last_ts = dict.fromkeys(range(PARTITIONS), 0)
        self.error: BaseException | None = None
        self._random = random.Random(seed)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="soak-producer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)

    def send(self, partition: int, count: int) -> None:
        """The next ``count`` events of ``partition``, now (e.g. a history before ``start``)."""
        producer = self.kafka.producer
        futures: list[Any] = []
        for _ in range(count):
            seq = self.produced[partition] + len(futures)
            ts = None
            if self.timestamps:
                ts = max(int(time.time() * 1000), self.last_ts[partition] + 1)
                self.last_ts[partition] = ts
            value = json.dumps({"p": partition, "seq": seq}).encode()
            futures.append(producer.send(self.topic, value, partition=partition, timestamp_ms=ts))
        producer.flush()
        offsets = [future.get(timeout=10).offset for future in futures]
        first = self.produced[partition]
        assert offsets == list(range(first, first + count)), (partition, first, offsets)
        self.produced[partition] += count

    def _run(self) -> None:
        try:
            next_burst = time.monotonic() + self._random.uniform(3, 8)
            while not self._stop.is_set():
                for partition in (0, 1):
                    self.send(partition, self._random.randint(1, 6))
                if time.monotonic() >= next_burst:
                    self.send(2, self._random.randint(1, 8))
                    next_burst = time.monotonic() + self._random.uniform(5, 15)
                self._stop.wait(self._random.uniform(0.01, 0.06))
            # Partition 2 ends with a burst, so its last events also cross the finish line.
            self.send(2, 3)
        except BaseException as exc:  # reported by the test
            self.error = exc


def check_ids(topic: str, received: dict[int, list[tuple[int, int, int, str]]], key: str) -> None:
    """Every id names all partitions, and the message's own partition at offset+1 / ts+1."""
    for partition, items in received.items():
        for seq, offset, timestamp, event_id in items:
            entries = json.loads(event_id)
            assert [(e["topic"], e["partition"]) for e in entries] == [
                (topic, p) for p in range(PARTITIONS)
            ], event_id
            assert all(e[key] >= 0 for e in entries), event_id
            mine = entries[partition][key]
            expected = offset + 1 if key == "offset" else timestamp + 1
            assert mine == expected, (partition, seq, event_id)


def describe_mismatch(
    seqs: list[int], expected: list[int], items: list[tuple[int, int, int, str]]
) -> str:
    counts: dict[int, int] = {}
    for seq in seqs:
        counts[seq] = counts.get(seq, 0) + 1
    dups = sorted(s for s, n in counts.items() if n > 1)
    missing = sorted(set(expected) - set(seqs))
    out_of_order = [
        (i, seqs[i - 1], seqs[i]) for i in range(1, len(seqs)) if seqs[i] != seqs[i - 1] + 1
    ]
    detail = [f"received {len(seqs)}, expected {len(expected)}"]
    if dups:
        detail.append(f"duplicates {dups[:20]}")
    if missing:
        detail.append(f"missing {missing[:20]}")
    for i, before, after in out_of_order[:5]:
        detail.append(
            f"jump {before}->{after} at #{i}: id before {items[i - 1][3]} id after {items[i][3]}"
        )
    return "; ".join(detail)
