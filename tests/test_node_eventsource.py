"""Node's ``eventsource`` package as a second real client: it reconnects by itself with
Last-Event-ID when the server goes away, and the resumed stream is exact."""

from __future__ import annotations

import json
import signal
import time

import pytest

from tests.support.node_client import node_client_available, records_of, start_node_client
from tests.support.servers import free_port, start_gevent_server


@pytest.fixture(autouse=True)
def _node_client_required() -> None:
    """A missing client is a broken set-up, not a reason to pass quietly."""
    if not node_client_available():
        pytest.fail("node or its eventsource package is missing: run scripts/ci-deps")


def test_node_eventsource_resumes_exactly_after_the_server_restarts(
    kafka, make_topic, kafka_bootstrap, tmp_path
):
    topic = make_topic(partitions=3)
    for partition in range(3):
        kafka.produce(topic, [{"p": partition, "seq": i} for i in range(20)], partition=partition)
    port = free_port()
    config = {
        "options": {
            "kafka_config": {"bootstrap_servers": kafka_bootstrap},
            "heartbeat_interval_s": 0.5,
            "retry_ms": 200,
            "batch_size": 5,
            "queue_size": 1,
        }
    }
    server = start_gevent_server(config, port=port)
    start = json.dumps([{"topic": topic, "partition": p, "offset": 0} for p in range(3)])
    client = start_node_client(f"http://127.0.0.1:{port}/{topic}", 90, 30_000, last_event_id=start)
    try:
        time.sleep(1.5)
        server.stop(signal.SIGKILL)
        # While the server is down: more events, including on a partition that was quiet.
        for partition in range(3):
            kafka.produce(
                topic, [{"p": partition, "seq": i} for i in range(20, 30)], partition=partition
            )
        time.sleep(0.5)
        server = start_gevent_server(config, port=port)
        records = records_of(client, timeout_s=40)
    finally:
        client.kill()
        server.stop()
    messages = [json.loads(r["data"]) for r in records if r["type"] == "message"]
    seen: dict[int, list[int]] = {0: [], 1: [], 2: []}
    for message in messages:
        seen[message["p"]].append(message["seq"])
    assert seen == {p: list(range(30)) for p in range(3)}, json.dumps(seen)
    assert [r["type"] for r in records].count("open") >= 2, "the client should have reconnected"
