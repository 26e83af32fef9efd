"""The stream server as a WSGI module, for settings ``kafkasse-wsgi serve`` has no flag for:
the per-client stream limit counted against the address nginx saw (``trusted_proxies=1``).

    gunicorn -c examples/gunicorn.conf.py --chdir examples/deploy wsgi:application

Settings come from the environment, named like the CLI's: ``KAFKASSE_BOOTSTRAP_SERVERS``,
``KAFKASSE_ALLOWED_TOPICS`` (comma-separated), ``KAFKASSE_TRUSTED_PROXIES`` (default 1: one
nginx in front, which appends the client's address to ``X-Forwarded-For``),
``KAFKASSE_MAX_STREAMS`` and ``KAFKASSE_MAX_STREAMS_PER_CLIENT`` (unset: no limit).
"""

from __future__ import annotations

import os

from kafkasse_wsgi.server import StreamServer


def _setting(name: str, default: str | None = None) -> str | None:
    return os.environ.get(f"KAFKASSE_{name}") or default


def _count(name: str) -> int | None:
    value = _setting(name)
    return int(value) if value else None


_topics = [t.strip() for t in (_setting("ALLOWED_TOPICS") or "").split(",") if t.strip()]

application = StreamServer(
    kafka_config={"bootstrap_servers": _setting("BOOTSTRAP_SERVERS", "127.0.0.1:9092")},
    allowed_topics=_topics or None,
    trusted_proxies=int(_setting("TRUSTED_PROXIES", "1") or 1),
    max_streams=_count("MAX_STREAMS"),
    max_streams_per_client=_count("MAX_STREAMS_PER_CLIENT"),
)
