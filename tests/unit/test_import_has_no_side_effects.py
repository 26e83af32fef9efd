"""Importing the package patches nothing, starts nothing and installs no log handler."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

PROBE = textwrap.dedent(
    """
    import json, logging, sys, threading

    threads_before = {t.ident for t in threading.enumerate()}
    root_handlers_before = list(logging.getLogger().handlers)

    import kafkasse_wsgi

    import gevent.monkey

    package_logger = logging.getLogger("kafkasse_wsgi")
    print(json.dumps({
        "socket_patched": gevent.monkey.is_module_patched("socket"),
        "threading_patched": gevent.monkey.is_module_patched("threading"),
        "anything_patched": sorted(gevent.monkey.saved),
        "thread_is_native": threading.get_ident.__module__ != "gevent.thread",
        "new_threads": [t.name for t in threading.enumerate() if t.ident not in threads_before],
        "package_handlers": [type(h).__name__ for h in package_logger.handlers],
        "root_handlers_added": len(logging.getLogger().handlers) - len(root_handlers_before),
        "root_level": logging.getLogger().level,
    }))
    """
)


def test_import_patches_nothing_starts_nothing_and_adds_only_a_null_handler() -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report == {
        "socket_patched": False,
        "threading_patched": False,
        "anything_patched": [],
        "thread_is_native": True,
        "new_threads": [],
        "package_handlers": ["NullHandler"],
        "root_handlers_added": 0,
        "root_level": 30,
    }
    assert result.stderr == ""
