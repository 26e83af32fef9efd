"""(a) The bare kafka-python consumer: assign, seek to 0, ``poll(max_records=10000)``, and
``json.loads`` every value. No HTTP, no formatting: the ceiling for one stream."""

from __future__ import annotations

import json
import time
from typing import Any

from kafka import KafkaConsumer, TopicPartition


def bare_consumer_rate(bootstrap: str, topic: str, messages: int) -> dict[str, Any]:
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        client_id="kafkasse-bench-baseline",
    )
    try:
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        consumer.seek(tp, 0)
        loads = json.loads
        count = 0
        began = time.perf_counter()
        while count < messages:
            for records in consumer.poll(timeout_ms=1000, max_records=10000).values():
                for record in records:
                    loads(record.value)
                count += len(records)
            if time.perf_counter() - began > 300:
                raise TimeoutError(f"baseline read only {count} of {messages} in 300 s")
        elapsed = time.perf_counter() - began
    finally:
        consumer.close()
    return {"events": count, "seconds": elapsed, "eps": count / elapsed}
