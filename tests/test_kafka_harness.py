"""The test harness itself, against the real broker: produce with explicit partitions and
timestamps, read back with assign() + seek(), and check the offset look-ups the stream
relies on (end offsets, offsets for times)."""

from __future__ import annotations

import json
import time

from kafka import KafkaConsumer, TopicPartition


def test_produce_and_read_back_exact_offsets_on_two_partitions(kafka, make_topic):
    topic = make_topic(partitions=2)
    base = (int(time.time()) - 3600) * 1000  # recent: retention must not delete it
    assert kafka.produce(topic, [{"n": i} for i in range(3)], partition=0, timestamp_ms=base) == [
        0,
        1,
        2,
    ]
    assert kafka.produce(topic, [{"n": 10}], partition=1, timestamp_ms=base + 5000) == [0]
    assert kafka.produce(topic, [{"n": 11}], partition=1, timestamp_ms=base + 9000) == [1]

    consumer = KafkaConsumer(bootstrap_servers=kafka.bootstrap, enable_auto_commit=False)
    try:
        p0, p1 = TopicPartition(topic, 0), TopicPartition(topic, 1)
        consumer.assign([p0, p1])
        consumer.seek(p0, 1)
        consumer.seek(p1, 0)
        got: dict[int, list[tuple[int, int, int]]] = {0: [], 1: []}
        for _ in range(20):
            for tp, records in consumer.poll(timeout_ms=500).items():
                got[tp.partition] += [
                    (r.offset, r.timestamp, json.loads(r.value)["n"]) for r in records
                ]
            if len(got[0]) + len(got[1]) == 4:
                break
        assert got[0] == [(1, base, 1), (2, base, 2)]
        assert got[1] == [(0, base + 5000, 10), (1, base + 9000, 11)]

        assert consumer.end_offsets([p0, p1]) == {p0: 3, p1: 2}
        assert consumer.beginning_offsets([p0, p1]) == {p0: 0, p1: 0}
        found = consumer.offsets_for_times({p0: base, p1: base + 6000})
        assert found[p0].offset == 0
        assert (found[p1].offset, found[p1].timestamp) == (1, base + 9000)
        # A timestamp after the last message has no offset: the stream must resolve it itself.
        assert consumer.offsets_for_times({p1: base + 10_000})[p1] is None
    finally:
        consumer.close()


def test_topics_are_unique_and_missing_topics_are_really_missing(kafka, make_topic):
    first, second = make_topic(), make_topic()
    assert first != second
    consumer = KafkaConsumer(bootstrap_servers=kafka.bootstrap, allow_auto_create_topics=True)
    try:
        topics = consumer.topics()
        assert {first, second} <= topics
        # Automatic topic creation is off on the test broker, even when a client asks for it.
        assert not consumer.partitions_for_topic("does-not-exist-" + first)
        assert "does-not-exist-" + first not in consumer.topics()
    finally:
        consumer.close()
