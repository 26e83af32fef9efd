"""Bench data: the replay topic (N JSON messages of ~M bytes, one partition) and live producing.

The replay topic's name encodes its size, and a topic that already holds exactly that data is
reused, so repeated runs measure instead of re-producing. Live topics are new per run.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
import uuid
from typing import Any

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import TopicAlreadyExistsError, UnknownTopicOrPartitionError

WORDS = ("edit", "page", "user", "wiki", "bot", "minor", "patrolled", "namespace", "revision")


def make_value(i: int, size: int, bench_ts_us: int = 0) -> bytes:
    """A JSON object of about ``size`` bytes, shaped like a typical change event."""
    doc: dict[str, Any] = {
        "bench_ts": bench_ts_us,
        "id": i,
        "type": WORDS[i % len(WORDS)],
        "title": f"Page_{i % 9973}",
        "user": f"user{i % 1009}",
        "bot": i % 7 == 0,
        "length": {"old": i % 5000, "new": (i * 7) % 5000},
        "comment": "",
    }
    base = len(json.dumps(doc, separators=(",", ":")))
    doc["comment"] = ("lorem ipsum dolor sit amet " * (size // 20 + 1))[: max(size - base, 0)]
    return json.dumps(doc, separators=(",", ":")).encode()


class Kafka:
    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        self.admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="kafkasse-bench")

    def close(self) -> None:
        self.admin.close()

    def brokers(self) -> list[int]:
        """The cluster's broker ids."""
        return [broker["node_id"] for broker in self.admin.describe_cluster()["brokers"]]

    def end_offset(self, topic: str) -> int | None:
        consumer = KafkaConsumer(bootstrap_servers=self.bootstrap, client_id="kafkasse-bench")
        try:
            partitions = consumer.partitions_for_topic(topic)
            if not partitions:
                return None
            tp = TopicPartition(topic, 0)
            return consumer.end_offsets([tp])[tp] - consumer.beginning_offsets([tp])[tp]
        finally:
            consumer.close()

    def create(self, topic: str, partitions: int = 1) -> None:
        with contextlib.suppress(TopicAlreadyExistsError):
            self.admin.create_topics(
                [NewTopic(topic, num_partitions=partitions, replication_factor=1)]
            )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if self.end_offset(topic) is not None:
                    return
            except Exception:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"topic {topic} not ready")

    def delete(self, topic: str) -> None:
        with contextlib.suppress(UnknownTopicOrPartitionError):
            self.admin.delete_topics([topic])

    def producer(self, **config: Any) -> KafkaProducer:
        settings = {"acks": 1, "linger_ms": 0, "client_id": "kafkasse-bench-producer"}
        settings.update(config)
        return KafkaProducer(bootstrap_servers=self.bootstrap, **settings)

    def replay_topic(self, messages: int, message_bytes: int) -> dict[str, Any]:
        """The replay topic, produced now unless it already holds exactly this data."""
        topic = f"kafkasse-bench-replay-{messages}x{message_bytes}"
        have = self.end_offset(topic)
        info = {"topic": topic, "messages": messages, "message_bytes": message_bytes}
        if have == messages:
            info.update(reused=True, produce_s=0.0)
            return info
        if have is not None:
            self.delete(topic)
            time.sleep(1)
        self.create(topic)
        began = time.monotonic()
        producer = self.producer(linger_ms=20, batch_size=1 << 20, max_request_size=8 << 20)
        for i in range(messages):
            producer.send(topic, make_value(i, message_bytes), partition=0)
        producer.flush()
        producer.close()
        info.update(reused=False, produce_s=time.monotonic() - began)
        if self.end_offset(topic) != messages:
            raise RuntimeError(f"{topic} does not hold {messages} messages after producing")
        return info

    def live_topic(self, partitions: int = 1) -> str:
        topic = f"kafkasse-bench-live-{uuid.uuid4().hex[:10]}"
        self.create(topic, partitions)
        return topic


class RateProducer(threading.Thread):
    """Produces ``rate`` messages/s to ``topic`` for ``duration_s``, each stamped with its
    send time (``bench_ts``, µs since the epoch) for latency measurements, round-robin over
    the first ``partitions`` partitions."""

    def __init__(
        self,
        kafka: Kafka,
        topic: str,
        rate: float,
        duration_s: float,
        message_bytes: int,
        partitions: int = 1,
    ) -> None:
        super().__init__(daemon=True)
        self.producer = kafka.producer(linger_ms=0)
        # The topic's metadata now, not on the first send: else the first events' latency
        # includes the producer's own metadata round trips (~100 ms), not the server's.
        self.producer.partitions_for(topic)
        self.topic, self.rate, self.duration_s = topic, rate, duration_s
        self.message_bytes = message_bytes
        self.partitions = partitions
        self.sent = 0
        self.elapsed_s = 0.0
        self.stop_flag = threading.Event()

    def run(self) -> None:
        began = time.monotonic()
        interval = 1.0 / self.rate
        end = began + self.duration_s
        while not self.stop_flag.is_set():
            now = time.monotonic()
            if now >= end:
                break
            due = int((now - began) / interval) + 1
            while self.sent < due:
                value = make_value(self.sent, self.message_bytes, int(time.time() * 1e6))
                self.producer.send(self.topic, value, partition=self.sent % self.partitions)
                self.sent += 1
            next_at = began + self.sent * interval
            time.sleep(max(0.0, min(next_at - time.monotonic(), 0.05)))
        self.elapsed_s = time.monotonic() - began
        self.producer.flush()
        self.producer.close()
