"""The WSGI app under test: :class:`kafkasse_wsgi.KafkaSSE` built from environment variables.

``BENCH_BOOTSTRAP`` (brokers), ``BENCH_OPTIONS`` (JSON: more ``KafkaSSE`` options), and
``BENCH_PATCH`` (comma list of experimental patches from ``patches.py``, applied here in the
server process only, to measure a proposed change without touching the package).

``GET /_bench/tail`` answers the worker's shared-tail hubs as JSON (``{"hubs": null}`` when
the package has none), so a run can tell how many of its streams were on the shared tail.
``GET /_bench/registry`` counts the worker's schema registry calls.
``GET /_bench/memory`` counts the worker's greenlets and, with ``--patch tracemalloc``, the
allocations grown since the previous call, by place (the first call sets the baseline).
``/_sleepy-deserializer/<topic>`` and ``/_sleepy-filter/<topic>`` stream through hooks that
block cooperatively for ``SLEEPY_HOOK_S`` per message (section (k), ``fairness.py``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from typing import Any

import gevent

from kafkasse_wsgi import KafkaSSE
from kafkasse_wsgi._message import default_deserializer

from . import patches

patches.apply(os.environ.get("BENCH_PATCH", ""))

_options = json.loads(os.environ.get("BENCH_OPTIONS") or "{}")
_kafka_config = dict(_options.pop("kafka_config", {}))
_kafka_config.setdefault("bootstrap_servers", os.environ.get("BENCH_BOOTSTRAP", "127.0.0.1:9092"))

streams = KafkaSSE(kafka_config=_kafka_config, **_options)


def tail_status() -> dict[str, Any]:
    try:
        from kafkasse_wsgi.hub import describe_hubs
    except ImportError:
        return {"hubs": None}
    return {"hubs": describe_hubs()}


_baseline: list[Any] = []


def memory_status() -> dict[str, Any]:
    import gc
    import tracemalloc

    import greenlet

    out: dict[str, Any] = {
        "greenlets": sum(1 for o in gc.get_objects() if isinstance(o, greenlet.greenlet))
    }
    if tracemalloc.is_tracing():
        snapshot = tracemalloc.take_snapshot()
        if _baseline:
            diff = snapshot.compare_to(_baseline[0], "traceback")
            out["grown"] = [
                {
                    "kb": stat.size_diff / 1024,
                    "count": stat.count_diff,
                    "where": [f"{f.filename}:{f.lineno}" for f in stat.traceback],
                }
                for stat in diff[:25]
            ]
        _baseline[:] = [snapshot]
    return out


def registry_status() -> dict[str, Any]:
    """How many calls the worker made to the schema registry (``None`` without one)."""
    deserializer = streams.options.deserializer
    client = getattr(deserializer, "client", None)
    return {"fetches": None if client is None else client.fetches}


#: How long the sleepy hooks block per message (a slow lookup or permission service).
SLEEPY_HOOK_S = 0.5


def _sleepy_deserializer(kafka_message: Any) -> Any:
    gevent.sleep(SLEEPY_HOOK_S)
    return default_deserializer(kafka_message)


def _sleepy_filter(kafka_message: Any) -> bool:
    gevent.sleep(SLEEPY_HOOK_S)
    return True


_HOOKS = {"deserializer": _sleepy_deserializer, "filterer": _sleepy_filter}
_hooked: dict[str, KafkaSSE] = {}  # made on first use: other sections never pay for them


def _hooked_app(prefix: str) -> KafkaSSE:
    if prefix not in _hooked:
        hook = prefix.removeprefix("/_sleepy-")
        _hooked[prefix] = KafkaSSE(kafka_config=_kafka_config, **{**_options, hook: _HOOKS[hook]})
    return _hooked[prefix]


STATUS = {
    "/_bench/tail": tail_status,
    "/_bench/memory": memory_status,
    "/_bench/registry": registry_status,
}


def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    path = environ.get("PATH_INFO", "")
    for prefix in ("/_sleepy-deserializer", "/_sleepy-filter"):
        if path.startswith(prefix + "/"):
            environ["PATH_INFO"] = path[len(prefix) :]
            return _hooked_app(prefix)(environ, start_response)
    status = STATUS.get(path)
    if status is None:
        return streams(environ, start_response)
    body = json.dumps(status(), default=str).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]
