"""Node's ``eventsource`` package as a second real client: it reconnects by itself with
Last-Event-ID when the server goes away, and the resumed stream is exact."""

from __future__ import annotations

import json
import signal
import threading
import time
from typing import Any

import pytest

from tests.support.node_client import node_client_available, start_node_client
from tests.support.servers import free_port, start_gevent_server

#: Events produced to each busy partition while the client reads (the flow that is cut).
FLOW = 200
#: Events a second, per busy partition.
RATE = 40.0


@pytest.fixture(autouse=True)
def _node_client_required() -> None:
    """A missing client is a broken set-up, not a reason to pass quietly."""
    if not node_client_available():
        pytest.fail("node or its eventsource package is missing: run scripts/ci-deps")


def test_node_eventsource_resumes_exactly_after_the_server_is_killed_mid_flow(
    kafka, make_topic, kafka_bootstrap
):
    """Partitions 0 and 1 flow steadily; partition 2 sends its history, then nothing around
    the cut (its id entry must carry its position all along), then more after the resume."""
    topic = make_topic(partitions=3)
    for partition in range(3):
        kafka.produce(topic, [{"p": partition, "seq": i} for i in range(10)], partition=partition)
    port = free_port()
    config = {"options": {"kafka_config": {"bootstrap_servers": kafka_bootstrap}}}
    server = start_gevent_server(config, port=port)
    start = json.dumps([{"topic": topic, "partition": p, "offset": 0} for p in range(3)])
    expected = {0: 10 + FLOW, 1: 10 + FLOW, 2: 20}
    client = start_node_client(
        f"http://127.0.0.1:{port}/{topic}", sum(expected.values()), 90_000, last_event_id=start
    )
    records: list[dict[str, Any]] = []

    def read_client() -> None:
        assert client.stdout is not None
        for line in client.stdout:
            if line.strip():
                records.append(json.loads(line))

    def messages() -> list[dict[str, Any]]:
        return [json.loads(r["data"]) for r in list(records) if r["type"] == "message"]

    def flow() -> None:
        for seq in range(10, 10 + FLOW):
            for partition in (0, 1):
                kafka.produce(topic, [{"p": partition, "seq": seq}], partition=partition)
            time.sleep(1 / RATE)

    reader = threading.Thread(target=read_client, daemon=True)
    reader.start()
    producer = threading.Thread(target=flow, daemon=True)
    try:
        deadline = time.monotonic() + 20
        while len(messages()) < 10 and time.monotonic() < deadline:  # partition 2's history...
            time.sleep(0.05)
        producer.start()
        while len(messages()) < 80 and time.monotonic() < deadline:  # ... and some of the flow
            time.sleep(0.01)
        server.stop(signal.SIGKILL)
        delivered_at_cut = len(messages())
        assert producer.is_alive(), "the cut must come while events flow"
        time.sleep(1)
        server = start_gevent_server(config, port=port)
        deadline = time.monotonic() + 30
        while [r["type"] for r in list(records)].count("open") < 2:
            assert time.monotonic() < deadline, "the client did not reconnect"
            time.sleep(0.05)
        kafka.produce(topic, [{"p": 2, "seq": i} for i in range(10, 20)], partition=2)
        producer.join(30)
        client.wait(60)
        reader.join(5)
    finally:
        client.kill()
        client.wait(10)
        for pipe in (client.stdout, client.stderr):
            if pipe is not None:
                pipe.close()
        server.stop()
    seen: dict[int, list[int]] = {0: [], 1: [], 2: []}
    for message in messages():
        seen[message["p"]].append(message["seq"])
    assert seen == {p: list(range(n)) for p, n in expected.items()}, json.dumps(seen)
    opens = [r["type"] for r in records].count("open")
    print(f"\ncut after {delivered_at_cut} of {sum(expected.values())} events; {opens} opens")
    assert 80 <= delivered_at_cut < sum(expected.values()) - 10
