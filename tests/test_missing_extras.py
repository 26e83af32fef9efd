"""Without an optional extra, the feature that needs it says which one, in one line.

Run in a virtualenv holding only the package's base dependencies (built once and kept in
``.cache/venv-base``), with the repository on ``PYTHONPATH``: what a plain
``pip install kafkasse_wsgi`` user has.
"""

from __future__ import annotations

import configparser
import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from tests.support.servers import ROOT, free_port, spawn_server

BASE_VENV = ROOT / ".cache" / "venv-base"
EXTRAS = {
    "flask": "flask",
    "django": "django",
    "gunicorn": "gunicorn",
    "metrics": "prometheus_client",
    "registry": "fastavro",
}


def _base_requirements() -> list[str]:
    """``install_requires`` from setup.cfg: the one list of base dependencies."""
    setup = configparser.ConfigParser()
    setup.read(ROOT / "setup.cfg")
    lines = setup["options"]["install_requires"].splitlines()
    return [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]


@pytest.fixture(scope="module")
def base_python() -> Path:
    python = BASE_VENV / "bin" / "python"
    wanted = "\n".join(_base_requirements())
    marker = BASE_VENV / "requirements.txt"
    if not (python.exists() and marker.exists() and marker.read_text() == wanted):
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(BASE_VENV)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", *_base_requirements()], check=True
        )
        marker.write_text(wanted)
    for module in EXTRAS.values():
        found = subprocess.run([str(python), "-c", f"import {module}"], capture_output=True)
        assert found.returncode != 0, f"{module} is installed in the base venv"
    return python


def _run(python: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [str(python), *args], capture_output=True, text=True, env=env, timeout=60, cwd=ROOT
    )


def _one_line_naming(output: str, extra: str) -> None:
    assert f"pip install 'kafkasse_wsgi[{extra}]'" in output
    assert "Traceback" not in output, output


def test_workers_without_gunicorn_names_the_extra(base_python):
    result = _run(base_python, "-m", "kafkasse_wsgi", "serve", "--workers", "2")
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    _one_line_naming(result.stderr, "gunicorn")


def test_schema_registry_without_its_decoders_names_the_extra(base_python):
    result = _run(
        base_python, "-m", "kafkasse_wsgi", "serve", "--schema-registry", "http://127.0.0.1:1"
    )
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "schema_registry needs the 'registry' extra" in result.stderr
    _one_line_naming(result.stderr, "registry")


@pytest.mark.parametrize(
    ("module", "extra"),
    [("kafkasse_wsgi.contrib.flask", "flask"), ("kafkasse_wsgi.contrib.django", "django")],
)
def test_framework_helpers_without_their_framework_name_the_extra(base_python, module, extra):
    """An import in the user's code: the error is one line, with no chained traceback of
    the ModuleNotFoundError underneath."""
    program = (
        "import sys\n"
        "try:\n"
        f"    import {module}\n"
        "except ImportError as error:\n"
        "    print(error); sys.exit(3)\n"
    )
    result = _run(base_python, "-c", program)
    assert result.returncode == 3, result.stderr
    assert len(result.stdout.strip().splitlines()) == 1
    _one_line_naming(result.stdout, extra)
    chained = _run(base_python, "-c", f"import {module}")
    assert "During handling of the above exception" not in chained.stderr
    assert chained.stderr.strip().splitlines()[-1].endswith(f"pip install 'kafkasse_wsgi[{extra}]'")


def test_metrics_without_prometheus_client_names_the_extra(base_python, kafka_bootstrap, tmp_path):
    port = free_port()
    env = {"KAFKASSE_BOOTSTRAP_SERVERS": kafka_bootstrap}
    log = tmp_path / "server.log"
    server = spawn_server(
        ["-m", "kafkasse_wsgi", "serve", "--port", str(port)],
        port,
        log,
        env,
        stop_with_parent=True,
        python=base_python,
    )
    try:
        response = requests.get(f"{server.url}/metrics", timeout=10)
        assert response.status_code == 501
        assert response.json()["name"] == "ConfigurationError"
        _one_line_naming(response.json()["message"], "metrics")
    finally:
        server.stop()
    assert "Traceback" not in log.read_text()
