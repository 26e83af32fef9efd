"""The WSGI app under test: :class:`kafkasse_wsgi.KafkaSSE` built from environment variables.

``BENCH_BOOTSTRAP`` (brokers), ``BENCH_OPTIONS`` (JSON: more ``KafkaSSE`` options), and
``BENCH_PATCH`` (comma list of experimental patches from ``patches.py``, applied here in the
server process only, to measure a proposed change without touching the package).
"""

from __future__ import annotations

import json
import os

from kafkasse_wsgi import KafkaSSE

from . import patches

patches.apply(os.environ.get("BENCH_PATCH", ""))

_options = json.loads(os.environ.get("BENCH_OPTIONS") or "{}")
_kafka_config = dict(_options.pop("kafka_config", {}))
_kafka_config.setdefault("bootstrap_servers", os.environ.get("BENCH_BOOTSTRAP", "127.0.0.1:9092"))

app = KafkaSSE(kafka_config=_kafka_config, **_options)
