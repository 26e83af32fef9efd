"""examples/deploy/wsgi.py reads the serve command's settings with the serve command's
defaults (a module of its own had trusted_proxies=1 where everything else says 0)."""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest

WSGI = Path(__file__).resolve().parents[2] / "examples" / "deploy" / "wsgi.py"


@pytest.fixture
def settings_env(monkeypatch: pytest.MonkeyPatch):
    import os

    for name in list(os.environ):
        if name.startswith("KAFKASSE_"):
            monkeypatch.delenv(name)
    return monkeypatch


def test_trusted_proxies_defaults_to_0_like_everywhere_else(settings_env):
    application = runpy.run_path(str(WSGI))["application"]
    assert application.streams.options.trusted_proxies == 0


def test_it_takes_the_serve_commands_variables(settings_env):
    settings_env.setenv("KAFKASSE_TRUSTED_PROXIES", "1")
    settings_env.setenv("KAFKASSE_MAX_STREAMS_PER_CLIENT", "3")
    settings_env.setenv("KAFKASSE_HEARTBEAT_INTERVAL_S", "4")
    options = runpy.run_path(str(WSGI))["application"].streams.options
    assert (options.trusted_proxies, options.max_streams_per_client) == (1, 3)
    assert options.heartbeat_interval_s == 4.0
