"""Fixtures: one real Kafka broker for the session, unique topics per test, real servers.

The broker is started through ``scripts/kafka-local`` unless ``KAFKA_BOOTSTRAP_SERVERS``
names a cluster to use; it is stopped at the end only if this session started it.
"""

from __future__ import annotations

import logging
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.kafka import KafkaHelper, unique_topic
from tests.support.servers import ROOT, Server, start_gevent_server

KAFKA_LOCAL = ROOT / "scripts" / "kafka-local"
REGISTRY_LOCAL = ROOT / "scripts" / "registry-local"

# The session's producer keeps asking for metadata of topics the tests have deleted.
logging.getLogger("kafka.cluster").setLevel(logging.CRITICAL)


def _kafka_answers(env: dict[str, str]) -> bool:
    return (
        subprocess.run([str(KAFKA_LOCAL), "status"], env=env, capture_output=True).returncode == 0
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked ``last`` (the no-footprint check) run after everything else."""
    items.sort(key=lambda item: item.get_closest_marker("last") is not None)


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    given = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if given:
        yield given
        return
    env = dict(os.environ)
    started_here = not _kafka_answers(env)
    if started_here:
        began = time.monotonic()
        subprocess.run([str(KAFKA_LOCAL), "start"], env=env, check=True)
        print(f"\nKafka started in {time.monotonic() - began:.1f}s")
    port = os.environ.get("KAFKA_PORT", "9092")
    try:
        yield f"127.0.0.1:{port}"
    finally:
        if started_here:
            subprocess.run([str(KAFKA_LOCAL), "stop"], env=env, check=False)


@pytest.fixture(scope="session")
def schema_registry() -> Iterator[str]:
    """The base URL of a Confluent-compatible schema registry (Apicurio, in memory), started
    through ``scripts/registry-local`` unless one answers already; stopped at the end only
    if this session started it."""
    env = dict(os.environ)
    status = subprocess.run([str(REGISTRY_LOCAL), "status"], env=env, capture_output=True)
    started_here = status.returncode != 0
    began = time.monotonic()
    out = subprocess.run(
        [str(REGISTRY_LOCAL), "start"], env=env, check=True, capture_output=True, text=True
    )
    if started_here:
        print(f"\nschema registry started in {time.monotonic() - began:.1f}s")
    try:
        yield out.stdout.strip().splitlines()[-1]
    finally:
        if started_here:
            subprocess.run([str(REGISTRY_LOCAL), "stop"], env=env, check=False)


@pytest.fixture(scope="session")
def kafka(kafka_bootstrap: str) -> Iterator[KafkaHelper]:
    helper = KafkaHelper(kafka_bootstrap)
    yield helper
    helper.close()


@pytest.fixture(scope="session")
def broker_port(kafka_bootstrap: str) -> int:
    return int(kafka_bootstrap.split(",")[0].rsplit(":", 1)[1])


@pytest.fixture
def make_topic(kafka: KafkaHelper, request: pytest.FixtureRequest) -> Iterator[Callable[..., str]]:
    """``make_topic(partitions=1)`` → a new, uniquely named topic, deleted after the test."""
    created: list[str] = []
    prefix = request.node.name.replace("[", "-").replace("]", "")[:40].strip("-_")

    def factory(partitions: int = 1, config: dict[str, str] | None = None) -> str:
        name = kafka.create_topic(unique_topic(prefix or "t"), partitions, config)
        created.append(name)
        return name

    yield factory
    kafka.delete_topics(created)


@pytest.fixture
def artifacts_dir() -> Path:
    path = ROOT / "test-artifacts"
    path.mkdir(exist_ok=True)
    return path


@pytest.fixture
def serve(kafka_bootstrap: str, tmp_path: Path) -> Iterator[Callable[..., Server]]:
    """``serve(options={...}, mode="app")`` → a gevent WSGIServer subprocess on a free port."""
    servers: list[Server] = []

    def factory(options: dict[str, Any] | None = None, **config: Any) -> Server:
        options = dict(options or {})
        kafka_config = dict(options.pop("kafka_config", {}))
        kafka_config.setdefault("bootstrap_servers", kafka_bootstrap)
        options["kafka_config"] = kafka_config
        config["options"] = options
        server = start_gevent_server(config, log_path=tmp_path / f"server-{len(servers)}.log")
        servers.append(server)
        return server

    yield factory
    for server in servers:
        server.stop()
