"""Local services (the Kafka broker, a schema registry) started once for a whole test run.

``scripts/test`` runs the suite in parallel pytest-xdist workers, each a process with its
own session fixtures. A service they share is started by the first worker that needs it,
under a file lock the others wait on, and stopped by the controller once every worker has
finished, only if this run started it (it may have been running before: a developer's, or
CI's). Without xdist the one process does both. A session fixture must not stop such a
service at its own teardown: a worker that finishes first would stop it under the others.

    REGISTRY = LocalService(
        "registry",
        is_up=lambda: subprocess.run([REGISTRY_LOCAL, "status"]).returncode == 0,
        start=lambda: subprocess.run([REGISTRY_LOCAL, "start"], check=True),
        stop=lambda: subprocess.run([REGISTRY_LOCAL, "stop"]),
    )

    @pytest.fixture(scope="session")
    def schema_registry(pytestconfig) -> str:
        REGISTRY.ensure_started(pytestconfig)
        return ...  # its URL

Every ``LocalService`` is stopped by ``stop_services_started_by_this_run`` (conftest.py's
``pytest_sessionfinish``).
"""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

#: Every service declared, in declaration order (stopped in reverse).
SERVICES: list[LocalService] = []


@dataclass
class LocalService:
    """A service a script starts and stops (``scripts/kafka-local``, ``scripts/registry-local``)."""

    name: str
    is_up: Callable[[], bool]
    start: Callable[[], None]
    stop: Callable[[], None]

    def __post_init__(self) -> None:
        SERVICES.append(self)

    def ensure_started(self, config: pytest.Config) -> None:
        """Start the service unless it answers: once for all the run's workers."""
        run_dir = shared_run_dir(config)
        with _locked(run_dir / f"{self.name}.lock"):
            if self.is_up():
                return
            self.start()
            (run_dir / f"{self.name}.started").touch()

    def stop_if_started_by(self, config: pytest.Config) -> None:
        marker = shared_run_dir(config) / f"{self.name}.started"
        if marker.exists():
            marker.unlink()
            self.stop()


def is_xdist_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def shared_run_dir(config: pytest.Config) -> Path:
    """A folder this run's controller and all its workers see: xdist gives each worker a
    base temp folder inside the controller's."""
    base = config._tmp_path_factory.getbasetemp()  # type: ignore[attr-defined]
    return base.parent if is_xdist_worker(config) else base


def stop_services_started_by_this_run(config: pytest.Config) -> None:
    """In the controller (or the only process), after every worker finished."""
    if is_xdist_worker(config):
        return
    for service in reversed(SERVICES):
        service.stop_if_started_by(config)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
