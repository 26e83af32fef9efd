"""What the browser tests share: where Debian's Chromium is, and a feed of numbered events."""

from __future__ import annotations

import shutil
import threading
import time

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


class Feed(threading.Thread):
    """Produces numbered events round-robin on every partition until stopped."""

    def __init__(self, kafka, topic: str, partitions: int) -> None:
        super().__init__(daemon=True)
        self.kafka, self.topic, self.partitions = kafka, topic, partitions
        self.stop_event = threading.Event()
        self.last_offset = {p: -1 for p in range(partitions)}

    def run(self) -> None:
        seq = 0
        while not self.stop_event.is_set():
            partition = seq % self.partitions
            [offset] = self.kafka.produce(
                self.topic, [{"seq": seq, "partition": partition}], partition=partition
            )
            self.last_offset[partition] = offset
            seq += 1
            time.sleep(0.05)
