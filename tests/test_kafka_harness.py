"""The test harness itself, against the real broker: produce with explicit partitions and
timestamps, read back with assign() + seek(), and check the offset look-ups the stream
relies on (end offsets, offsets for times). Also ``scripts/kafka-local`` itself: a fresh
start always formats, and a broker can be removed without a trace."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from pathlib import Path

from kafka import KafkaConsumer, TopicPartition

from tests.support.private_broker import KAFKA_LOCAL, PrivateBroker
from tests.support.servers import ROOT

# Random bytes whose base64url text begins with "-" (0xf8 = 0b111110.. → 62 → "-").
DASH_FIRST_BYTES = bytes([0xF8]) + bytes(range(1, 16))

# Installed as ``sitecustomize`` in kafka-local's Python processes: the first 16 random bytes
# a process asks for are DASH_FIRST_BYTES, the rest come from the real os.urandom; a marker
# file shows the pinned bytes were drawn.
PIN_FIRST_UUID_BYTES = f"""
import os
_real_urandom, _served = os.urandom, []

def _urandom(n):
    if n == 16 and not _served:
        _served.append(n)
        open({{marker!r}}, "w").close()
        return {DASH_FIRST_BYTES!r}
    return _real_urandom(n)

os.urandom = _urandom
"""


def _private_home(tmp_path: Path) -> Path:
    """A KAFKA_LOCAL_HOME of the test's own, sharing the cached jars: its run folders are the
    test's alone."""
    shared = Path(os.environ.get("KAFKA_LOCAL_HOME", ROOT / ".cache" / "kafka"))
    home = tmp_path / "kafka-home"
    home.mkdir()
    for jars in shared.glob("lib-*"):
        (home / jars.name).symlink_to(jars)
    return home


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


def test_a_fresh_start_formats_when_the_random_cluster_id_begins_with_a_dash(
    kafka_bootstrap, tmp_path
):
    """Regression: a cluster id is base64url, so one fresh start in 64 drew an id beginning
    with "-"; kafka-storage took it for an option ("argument --cluster-id/-t: expected one
    argument") and ``start`` failed, while the next start passed. Here the random bytes of
    the id are pinned to such a draw."""
    pinned = tmp_path / "pinned"
    pinned.mkdir()
    marker = tmp_path / "pinned-bytes-drawn"
    (pinned / "sitecustomize.py").write_text(PIN_FIRST_UUID_BYTES.format(marker=str(marker)))
    broker = PrivateBroker()
    home = _private_home(tmp_path)
    broker.env.update(KAFKA_LOCAL_HOME=str(home), PYTHONPATH=str(pinned))
    try:
        broker.start()
        assert marker.exists(), "kafka-local did not draw the pinned bytes: nothing was tested"
        meta = (home / f"run-{broker.port}" / "data" / "meta.properties").read_text()
        cluster_id = re.search(r"^cluster\.id=(.*)$", meta, re.MULTILINE).group(1)
        # Kafka's own rule for a random cluster id: 22 base64url characters, no leading "-".
        assert re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_-]{21}", cluster_id), cluster_id
    finally:
        broker.stop()


def test_purge_stops_the_broker_and_leaves_no_run_folder_behind(kafka_bootstrap, tmp_path):
    """Regression: the test fixtures' private brokers only stopped, so every one left its
    run-<port> folder (data, logs, config) in the shared KAFKA_LOCAL_HOME: 60 in a day."""
    broker = PrivateBroker()
    home = _private_home(tmp_path)
    broker.env["KAFKA_LOCAL_HOME"] = str(home)
    broker.start()
    run_dir = home / f"run-{broker.port}"
    assert (run_dir / "data" / "meta.properties").exists()
    purged = subprocess.run(
        [str(KAFKA_LOCAL), "purge"], env=broker.env, capture_output=True, text=True
    )
    status = subprocess.run([str(KAFKA_LOCAL), "status"], env=broker.env, capture_output=True)
    broker.stop()  # in case purge did not stop it
    assert (purged.returncode, status.returncode) == (0, 1), purged.stderr
    assert not run_dir.exists(), sorted(p.name for p in run_dir.iterdir())
    assert sorted(p.name for p in home.iterdir()) == sorted(p.name for p in home.glob("lib-*"))
