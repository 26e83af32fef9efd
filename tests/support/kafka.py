"""Test helpers that talk to the real broker: topics, producing with explicit partitions and
timestamps, and asking the broker what it knows about consumer groups."""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from collections.abc import Iterable
from typing import Any

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import UnknownTopicOrPartitionError


def unique_topic(prefix: str = "t") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


class KafkaHelper:
    """One admin client and one producer for the whole test session."""

    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        self.admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="kafkasse-tests-admin")
        self.producer = KafkaProducer(
            bootstrap_servers=bootstrap,
            acks="all",
            linger_ms=0,
            client_id="kafkasse-tests-producer",
        )

    def close(self) -> None:
        self.producer.close()
        self.admin.close()

    def create_topic(
        self, name: str, partitions: int = 1, config: dict[str, str] | None = None
    ) -> str:
        self.admin.create_topics(
            [
                NewTopic(
                    name,
                    num_partitions=partitions,
                    replication_factor=1,
                    topic_configs=config or {},
                )
            ]
        )
        self.wait_for_topic(name, partitions)
        return name

    def wait_for_topic(self, name: str, partitions: int, timeout_s: float = 15) -> None:
        """Until every partition has a leader: creating is asynchronous in Kafka."""
        deadline = time.monotonic() + timeout_s
        consumer = KafkaConsumer(bootstrap_servers=self.bootstrap, client_id="kafkasse-tests-wait")
        try:
            while time.monotonic() < deadline:
                found = consumer.partitions_for_topic(name) or set()
                if len(found) == partitions:
                    tps = [TopicPartition(name, p) for p in found]
                    try:
                        consumer.end_offsets(tps)
                        return
                    except Exception:
                        pass
                time.sleep(0.1)
                consumer._client.cluster.request_update()
        finally:
            consumer.close()
        raise TimeoutError(f"topic {name} not ready after {timeout_s}s")

    def delete_topics(self, names: Iterable[str]) -> None:
        names = list(names)
        if not names:
            return
        with contextlib.suppress(UnknownTopicOrPartitionError):
            self.admin.delete_topics(names)

    def produce(
        self,
        topic: str,
        values: Iterable[Any],
        partition: int = 0,
        timestamp_ms: int | None = None,
        key: bytes | None = None,
    ) -> list[int]:
        """Produce each value (dict → JSON, str → UTF-8, bytes as is); return the offsets."""
        futures = []
        for value in values:
            if isinstance(value, (dict, list, int, float)) and not isinstance(value, bool):
                raw = json.dumps(value).encode()
            elif isinstance(value, str):
                raw = value.encode()
            else:
                raw = value
            futures.append(
                self.producer.send(
                    topic, raw, key=key, partition=partition, timestamp_ms=timestamp_ms
                )
            )
        self.producer.flush()
        return [future.get(timeout=10).offset for future in futures]

    def consumer_groups(self) -> list[str]:
        """Every group id the broker knows."""
        return [group[0] for group in self.admin.list_consumer_groups()]
