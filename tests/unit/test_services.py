"""``tests/support/services.py``: a local service the tests share starts once for all xdist
workers and is stopped once, after the last of them, only if the run started it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.servers import ROOT

CONFTEST = """
from pathlib import Path

import pytest

from tests.support.services import LocalService, stop_services_started_by_this_run

LOG = Path(__file__).parent / "log"
UP = Path(__file__).parent / "up"


def _start():
    with LOG.open("a") as log:
        log.write("start\\n")
    UP.touch()


def _stop():
    with LOG.open("a") as log:
        log.write("stop\\n")
    UP.unlink()


SERVICE = LocalService("fake", is_up=UP.exists, start=_start, stop=_stop)


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session):
    stop_services_started_by_this_run(session.config)


@pytest.fixture(scope="session")
def service(pytestconfig):
    SERVICE.ensure_started(pytestconfig)
    assert UP.exists()
"""

TESTS = "".join(f"def test_{n}(service):\n    pass\n\n\n" for n in range(8))


def _run(folder: Path, *args: str) -> list[str]:
    # Not this run's: its pass, nor the xdist worker this test may run in.
    env = {
        name: value
        for name, value in os.environ.items()
        if name != "TEST_PASS" and not name.startswith("PYTEST_")
    }
    env["PYTHONPATH"] = str(ROOT)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *args, str(folder)],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return (folder / "log").read_text().split()


@pytest.fixture
def suite(tmp_path: Path) -> Path:
    (tmp_path / "conftest.py").write_text(CONFTEST)
    for name in ("a", "b", "c"):
        (tmp_path / f"test_{name}.py").write_text(TESTS)
    return tmp_path


def test_a_service_starts_once_for_all_workers_and_stops_after_the_last(suite: Path):
    assert _run(suite, "-n", "3", "--dist", "loadfile") == ["start", "stop"]


def test_a_service_that_was_running_is_left_running(suite: Path):
    (suite / "up").touch()
    (suite / "log").touch()
    assert _run(suite, "-n", "2") == []
    assert (suite / "up").exists()


def test_without_xdist_the_one_process_starts_and_stops_it(suite: Path):
    assert _run(suite, "-p", "no:xdist") == ["start", "stop"]
