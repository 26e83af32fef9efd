"""The WSGI app under test: :class:`kafkasse_wsgi.KafkaSSE` built from environment variables.

``BENCH_BOOTSTRAP`` (brokers), ``BENCH_OPTIONS`` (JSON: more ``KafkaSSE`` options), and
``BENCH_PATCH`` (comma list of experimental patches from ``patches.py``, applied here in the
server process only, to measure a proposed change without touching the package).

``GET /_bench/tail`` answers the worker's shared-tail hubs as JSON (``{"hubs": null}`` when
the package has none), so a run can tell how many of its streams were on the shared tail.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from typing import Any

from kafkasse_wsgi import KafkaSSE

from . import patches

patches.apply(os.environ.get("BENCH_PATCH", ""))

_options = json.loads(os.environ.get("BENCH_OPTIONS") or "{}")
_kafka_config = dict(_options.pop("kafka_config", {}))
_kafka_config.setdefault("bootstrap_servers", os.environ.get("BENCH_BOOTSTRAP", "127.0.0.1:9092"))

streams = KafkaSSE(kafka_config=_kafka_config, **_options)

TAIL_STATUS_PATH = "/_bench/tail"


def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    if environ.get("PATH_INFO") != TAIL_STATUS_PATH:
        return streams(environ, start_response)
    try:
        from kafkasse_wsgi.hub import describe_hubs
    except ImportError:
        hubs = None
    else:
        hubs = describe_hubs()
    body = json.dumps({"hubs": hubs}, default=str).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]
