"""Broker trouble, on a broker of this module's own (the session's broker is never stopped):
open streams ride out outages of 10 s and of 30 s (with default options) with heartbeats and
continue exactly; a long outage
ends them with ``event: error``; new requests meanwhile get a quick 503 with Retry-After."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
import requests

from tests.support.clients import SSEReader, payloads_of
from tests.support.kafka import KafkaHelper, unique_topic
from tests.support.private_broker import PrivateBroker, running_private_broker
from tests.support.servers import start_gevent_server

OUTAGE_S = 10
#: The outage the issue asks to survive, with default options.
LONG_OUTAGE_S = 30


@pytest.fixture(scope="module")
def broker(kafka_bootstrap) -> Iterator[PrivateBroker]:
    with running_private_broker() as broker:
        yield broker


@pytest.mark.timeout(180)
def test_streams_ride_out_a_short_broker_outage_and_continue_exactly(broker, tmp_path):
    helper = KafkaHelper(broker.bootstrap)
    topic = unique_topic("outage")
    helper.create_topic(topic, 2)
    for p in range(2):
        helper.produce(topic, [{"p": p, "seq": i} for i in range(5)], partition=p)
    helper.close()
    config = {
        "options": {
            "kafka_config": {
                "bootstrap_servers": broker.bootstrap,
                "api_version_auto_timeout_ms": 1000,
            },
            "heartbeat_interval_s": 0.5,
            "broker_outage_timeout_s": 60,
            "setup_timeout_s": 3,
        }
    }
    server = start_gevent_server(config, log_path=tmp_path / "server.log")
    start = json.dumps([{"topic": topic, "partition": p, "offset": 0} for p in range(2)])
    reader = SSEReader(f"{server.url}/{topic}", headers={"Last-Event-ID": start}, timeout_s=60)
    try:
        seen = payloads_of(reader.read(10))
        comments_before = reader.comments
        broker.stop()
        began = time.monotonic()
        refused = requests.get(f"{server.url}/{topic}", timeout=20)
        assert refused.status_code == 503 and refused.headers["Retry-After"]
        assert "Traceback" not in refused.text and broker.bootstrap not in refused.text
        assert time.monotonic() - began < 6, "a new request must not hang while Kafka is away"
        reader.wait_comments(comments_before + 2 * OUTAGE_S - 4, timeout_s=OUTAGE_S + 5)
        heartbeats = reader.comments - comments_before
        broker.start(keep_data=True)
        helper = KafkaHelper(broker.bootstrap)
        for p in range(2):
            helper.produce(topic, [{"p": p, "seq": i} for i in range(5, 8)], partition=p)
        helper.close()
        seen += payloads_of(reader.read(6, timeout_s=60))
    finally:
        reader.close()
        server.stop()
    assert heartbeats >= 2 * OUTAGE_S - 4, "heartbeats go on while the broker is away"
    for p in range(2):
        assert [m["seq"] for m in seen if m["p"] == p] == list(range(8))


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_a_stream_with_default_options_rides_out_a_30s_outage_and_continues_exactly(
    broker, tmp_path
):
    """The outage asked to be survived (up to 30 s), with every option at its default
    (``broker_outage_timeout_s`` 60, heartbeats every 15 s)."""
    broker.start(keep_data=True)
    helper = KafkaHelper(broker.bootstrap)
    topic = unique_topic("outage30")
    helper.create_topic(topic, 2)
    for p in range(2):
        helper.produce(topic, [{"p": p, "seq": i} for i in range(5)], partition=p)
    helper.close()
    config = {"options": {"kafka_config": {"bootstrap_servers": broker.bootstrap}}}
    server = start_gevent_server(config, log_path=tmp_path / "server.log")
    start = json.dumps([{"topic": topic, "partition": p, "offset": 0} for p in range(2)])
    reader = SSEReader(f"{server.url}/{topic}", headers={"Last-Event-ID": start}, timeout_s=60)
    try:
        seen = payloads_of(reader.read(10))
        comments_before = reader.comments
        broker.stop()
        began = time.monotonic()
        reader.wait_comments(comments_before + 2, timeout_s=LONG_OUTAGE_S + 5)
        heartbeats = reader.comments - comments_before
        time.sleep(max(0.0, LONG_OUTAGE_S - (time.monotonic() - began)))
        broker.start(keep_data=True)
        outage_s = time.monotonic() - began
        helper = KafkaHelper(broker.bootstrap)
        for p in range(2):
            helper.produce(topic, [{"p": p, "seq": i} for i in range(5, 8)], partition=p)
        helper.close()
        seen += payloads_of(reader.read(6, timeout_s=60))
        assert not reader.ended, "the stream must not end"
    finally:
        reader.close()
        server.stop()
    print(f"\nbroker away {outage_s:.1f} s, {heartbeats} heartbeats meanwhile")
    assert outage_s >= LONG_OUTAGE_S
    assert heartbeats >= 2, "heartbeats (every 15 s) go on while the broker is away"
    for p in range(2):
        assert [m["seq"] for m in seen if m["p"] == p] == list(range(8))


@pytest.mark.timeout(120)
def test_a_long_outage_ends_the_stream_with_an_error_event(broker, tmp_path):
    broker.start(keep_data=True)
    helper = KafkaHelper(broker.bootstrap)
    topic = unique_topic("longoutage")
    helper.create_topic(topic, 1)
    helper.produce(topic, [{"n": 0}])
    helper.close()
    config = {
        "options": {
            "kafka_config": {"bootstrap_servers": broker.bootstrap},
            "heartbeat_interval_s": 0.5,
            "broker_outage_timeout_s": 3,
        }
    }
    server = start_gevent_server(config, log_path=tmp_path / "server.log")
    start = json.dumps([{"topic": topic, "partition": 0, "offset": 0}])
    reader = SSEReader(f"{server.url}/{topic}", headers={"Last-Event-ID": start}, timeout_s=60)
    try:
        assert [m["n"] for m in payloads_of(reader.read(1))] == [0]
        broker.stop()
        events = reader.read_until_end(timeout_s=30)
    finally:
        reader.close()
        server.stop()
        broker.start(keep_data=True)
    assert reader.ended
    assert [e["event"] for e in events] == ["error"]
    error = json.loads(events[0]["data"])
    assert error["name"] == "KafkaUnavailableError" and "lost contact" in error["message"]
    assert json.loads(events[0]["id"]) == [{"topic": topic, "partition": 0, "offset": 1}]
    log = (tmp_path / "server.log").read_text()
    assert '"end_cause": "error"' in log
