"""Streams from brokers that demand authentication (SASL/SCRAM-SHA-512) or TLS.

Both brokers come from ``scripts/kafka-local`` (``KAFKA_SECURITY=sasl|tls``) on their own
ports, started together once for this module. Each keeps a PLAINTEXT listener for the test's
own admin work (topics, producing), so only the stream under test goes through the secured one.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from tests.support.clients import SSEReader, payloads_of
from tests.support.kafka import KafkaHelper, unique_topic
from tests.support.private_broker import port_block_below_ephemeral
from tests.support.servers import ROOT, Server, free_port, spawn_server, start_gevent_server

KAFKA_LOCAL = ROOT / "scripts" / "kafka-local"
WRONG_PASSWORD = "not-the-password-7f3a"


def _free_port_block(size: int = 3) -> int:
    """A port whose next ``size - 1`` ports are free too (controller, internal listener)."""
    return port_block_below_ephemeral(size)


class SecuredBroker:
    """A kafka-local broker whose client listener is secured as ``security`` says."""

    def __init__(self, security: str) -> None:
        self.security = security
        self.port = _free_port_block()
        self.env = {k: v for k, v in os.environ.items() if k != "KAFKA_BOOTSTRAP_SERVERS"}
        self.env.update(KAFKA_PORT=str(self.port), KAFKA_SECURITY=security)
        self.client: dict[str, Any] = {}

    def start(self) -> None:
        started = subprocess.run(
            [str(KAFKA_LOCAL), "start"], env=self.env, capture_output=True, text=True
        )
        assert started.returncode == 0, started.stderr
        printed = subprocess.run(
            [str(KAFKA_LOCAL), "client-config"],
            env=self.env,
            capture_output=True,
            text=True,
            check=True,
        )
        self.client = json.loads(printed.stdout)
        self.internal = self.client.pop("internal_bootstrap_servers")

    def remove(self) -> None:
        """Stop the broker and delete its run folder (data, logs, certificates)."""
        subprocess.run([str(KAFKA_LOCAL), "purge"], env=self.env, check=False, capture_output=True)


@pytest.fixture(scope="module")
def secured(kafka_bootstrap) -> Iterator[dict[str, SecuredBroker]]:
    """Both secured brokers, started in parallel (each is a JVM start: a few seconds)."""
    brokers = {name: SecuredBroker(name) for name in ("sasl", "tls")}
    began = time.monotonic()
    try:
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(SecuredBroker.start, brokers.values()))
        print(f"\nsecured brokers started in {time.monotonic() - began:.1f}s")
        yield brokers
    finally:
        for broker in brokers.values():
            broker.remove()


@pytest.fixture
def serve_with(tmp_path) -> Iterator[Any]:
    """``serve_with(kafka_config)``: a server whose Kafka settings are exactly these (the
    ``serve`` fixture would add the plain broker's ``bootstrap_servers`` beside them)."""
    servers: list[Server] = []

    def factory(kafka_config: dict[str, Any]) -> Server:
        log_path = tmp_path / f"server-{len(servers)}.log"
        server = start_gevent_server({"options": {"kafka_config": kafka_config}}, log_path)
        server.log_path = log_path  # type: ignore[attr-defined]
        servers.append(server)
        return server

    yield factory
    for server in servers:
        server.stop()


@pytest.fixture(scope="module")
def secured_topics(secured) -> dict[str, str]:
    """A topic with three events on each secured broker, made through its plain listener."""
    topics = {}
    for name, broker in secured.items():
        helper = KafkaHelper(broker.internal)
        try:
            topic = helper.create_topic(unique_topic(f"secured-{name}"))
            helper.produce(topic, [{"broker": name, "n": n} for n in range(3)])
        finally:
            helper.close()
        topics[name] = topic
    return topics


def _librdkafka_style(client: dict[str, Any]) -> dict[str, Any]:
    """The same settings as the Node original would write them."""
    names = {
        "bootstrap_servers": "metadata.broker.list",
        "security_protocol": "security.protocol",
        "sasl_mechanism": "sasl.mechanisms",
        "sasl_plain_username": "sasl.username",
        "sasl_plain_password": "sasl.password",
        "ssl_cafile": "ssl.ca.location",
    }
    return {names[key]: value for key, value in client.items()}


def _stream_from_start(server_url: str, topic: str, count: int) -> list[Any]:
    start = json.dumps([{"topic": topic, "partition": 0, "offset": 0}])
    with SSEReader(f"{server_url}/{topic}", headers={"Last-Event-ID": start}) as reader:
        assert reader.status == 200, reader.response.text[:500]  # the refusal says why
        return payloads_of(reader.read(count))


@pytest.mark.parametrize("style", ["kafka-python", "librdkafka"])
@pytest.mark.parametrize("security", ["sasl", "tls"])
def test_streams_from_a_secured_broker(serve_with, secured, secured_topics, security, style):
    client = secured[security].client
    kafka_config = client if style == "kafka-python" else _librdkafka_style(client)
    server = serve_with(kafka_config)
    events = _stream_from_start(server.url, secured_topics[security], 3)
    assert [(e["broker"], e["n"]) for e in events] == [(security, n) for n in range(3)]


def _refusal(server_url: str, topic: str) -> requests.Response:
    response = requests.get(f"{server_url}/{topic}", timeout=60)
    assert response.status_code == 503, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.json()["name"] == "KafkaUnavailableError"
    return response


def _assert_nothing_secret(text: str, broker: SecuredBroker, *secrets: str) -> None:
    for secret in secrets:
        assert secret not in text
    assert f":{broker.port}" not in text and broker.internal not in text


def test_wrong_password_is_a_503_naming_authentication(serve_with, secured, secured_topics):
    broker = secured["sasl"]
    kafka_config = {**broker.client, "sasl_plain_password": WRONG_PASSWORD}
    server = serve_with(kafka_config)
    response = _refusal(server.url, secured_topics["sasl"])
    assert "authentication failed" in response.json()["message"].lower()
    _assert_nothing_secret(response.text, broker, WRONG_PASSWORD)
    server.stop()
    assert WRONG_PASSWORD not in server.log_path.read_text()


def test_untrusted_certificate_is_a_503_naming_tls(serve_with, secured, secured_topics):
    broker = secured["tls"]
    # No CA file: the system's trust store, which has never heard of the throwaway CA.
    kafka_config = {k: v for k, v in broker.client.items() if k != "ssl_cafile"}
    server = serve_with(kafka_config)
    response = _refusal(server.url, secured_topics["tls"])
    assert "TLS" in response.json()["message"]
    _assert_nothing_secret(response.text, broker)


def test_cli_serves_a_sasl_broker_from_a_config_file_with_the_password_from_env(
    secured, secured_topics, tmp_path
):
    """The production shape of the docs' CLI page (docs/cli.md): settings in a file, the secret
    in the environment."""
    broker = secured["sasl"]
    config = tmp_path / "kafkasse.toml"
    config.write_text(
        "max_streams = 10\n\n[kafka]\n"
        f'"metadata.broker.list" = "{broker.client["bootstrap_servers"]}"\n'
        '"security.protocol" = "SASL_PLAINTEXT"\n"sasl.mechanisms" = "SCRAM-SHA-512"\n'
        f'"sasl.username" = "{broker.client["sasl_plain_username"]}"\n'
    )
    port = free_port()
    env = {"KAFKASSE_KAFKA_SASL_PLAIN_PASSWORD": broker.client["sasl_plain_password"]}
    server = spawn_server(
        ["-m", "kafkasse_wsgi", "serve", "--config", str(config), "--port", str(port)],
        port,
        tmp_path / "cli.log",
        env,
        stop_with_parent=True,
    )
    try:
        events = _stream_from_start(server.url, secured_topics["sasl"], 3)
    finally:
        server.stop()
    assert [e["n"] for e in events] == [0, 1, 2]
    assert broker.client["sasl_plain_password"] not in (tmp_path / "cli.log").read_text()
