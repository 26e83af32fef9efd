"""Fixtures: one real Kafka broker for the session, unique topics per test, real servers.

The broker is started through ``scripts/kafka-local`` unless ``KAFKA_BOOTSTRAP_SERVERS``
names a cluster to use or it already answers; once for all pytest-xdist workers, and stopped
at the end only if this run started it (``tests/support/services.py``).

Tests marked ``last`` must run after every other test of the run, and tests marked
``serial`` hold a timing bound that other tests' load beside them would make flaky. In one
process that is just an order; with xdist workers no test knows when the others have
finished, so both are left out of a parallel run and ``scripts/test`` runs them in a
second, serial pass (``TEST_PASS=parallel``, then ``alone``).
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
from tests.support.services import (
    LocalService,
    is_xdist_worker,
    stop_services_started_by_this_run,
)

KAFKA_LOCAL = ROOT / "scripts" / "kafka-local"
REGISTRY_LOCAL = ROOT / "scripts" / "registry-local"

# The session's producer keeps asking for metadata of topics the tests have deleted.
logging.getLogger("kafka.cluster").setLevel(logging.CRITICAL)


def _kafka_answers() -> bool:
    return subprocess.run([str(KAFKA_LOCAL), "status"], capture_output=True).returncode == 0


def _start_kafka() -> None:
    began = time.monotonic()
    subprocess.run([str(KAFKA_LOCAL), "start"], check=True)
    print(f"\nKafka started in {time.monotonic() - began:.1f}s")


KAFKA = LocalService(
    "kafka",
    is_up=_kafka_answers,
    start=_start_kafka,
    stop=lambda: subprocess.run([str(KAFKA_LOCAL), "stop"], check=False),
)


def _registry_answers() -> bool:
    return subprocess.run([str(REGISTRY_LOCAL), "status"], capture_output=True).returncode == 0


def _start_registry() -> None:
    began = time.monotonic()
    subprocess.run([str(REGISTRY_LOCAL), "start"], check=True, capture_output=True)
    print(f"\nschema registry started in {time.monotonic() - began:.1f}s")


REGISTRY = LocalService(
    "registry",
    is_up=_registry_answers,
    start=_start_registry,
    stop=lambda: subprocess.run([str(REGISTRY_LOCAL), "stop"], check=False),
)


def _runs_alone(item: pytest.Item) -> bool:
    return any(item.get_closest_marker(name) for name in ("last", "serial"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``last`` (the no-footprint check) run after everything else, and tests
    marked ``serial`` without other tests beside them: in a serial run, in place (``last``
    at the end); after a parallel pass, in a serial pass of their own (see the module's
    doc)."""
    phase = os.environ.get("TEST_PASS", "")
    if phase == "alone":
        keep = [item for item in items if _runs_alone(item)]
    elif phase == "parallel" or is_xdist_worker(config):
        keep = [item for item in items if not _runs_alone(item)]
    else:
        keep = list(items)
    keep.sort(key=lambda item: item.get_closest_marker("last") is not None)
    kept = set(keep)
    left_out = [item for item in items if item not in kept]
    if left_out:
        config.hook.pytest_deselected(items=left_out)
    items[:] = keep


@pytest.hookimpl(trylast=True)  # after the session fixtures' teardown
def pytest_sessionfinish(session: pytest.Session) -> None:
    stop_services_started_by_this_run(session.config)


@pytest.fixture(scope="session")
def kafka_bootstrap(pytestconfig: pytest.Config) -> str:
    given = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if given:
        return given
    KAFKA.ensure_started(pytestconfig)
    return f"127.0.0.1:{os.environ.get('KAFKA_PORT', '9092')}"


@pytest.fixture(scope="session")
def schema_registry(pytestconfig: pytest.Config) -> str:
    """The base URL of a Confluent-compatible schema registry (Apicurio, in memory), started
    through ``scripts/registry-local`` unless one answers already, once for all workers, and
    stopped at the end only if this run started it."""
    REGISTRY.ensure_started(pytestconfig)
    out = subprocess.run([str(REGISTRY_LOCAL), "url"], check=True, capture_output=True, text=True)
    return out.stdout.strip().splitlines()[-1]


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
