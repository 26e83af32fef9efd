"""Gunicorn server hooks that end streams cleanly when a gevent worker stops.

Streams never finish by themselves, so on SIGTERM gunicorn would wait ``graceful_timeout``
and then kill them mid-write. With this hook each worker notices it is stopping and ends
every open stream at once with a complete response and a spread ``retry:`` hint; the
clients resume from their last ids on another worker or host, losing nothing. In your
``gunicorn.conf.py``::

    from kafkasse_wsgi.gunicorn_hooks import post_worker_init  # noqa: F401

(If you have a ``post_worker_init`` of your own, call :func:`watch_worker` from it.)
"""

from __future__ import annotations

import logging
from typing import Any

#: Seconds between two looks at the worker's ``alive`` flag.
WATCH_INTERVAL_S = 0.2

log = logging.getLogger(__name__)


def watch_worker(worker: Any) -> None:
    """Start a greenlet that ends all streams of this process once ``worker.alive`` drops."""
    import gevent

    from ._open_streams import end_all_streams

    def watch() -> None:
        while worker.alive:
            gevent.sleep(WATCH_INTERVAL_S)
        ended = end_all_streams("shutdown")
        log.info("worker %s stopping: ended %d open streams", worker.pid, ended)

    gevent.spawn(watch)


def post_worker_init(worker: Any) -> None:
    """Gunicorn hook: see the module docstring."""
    watch_worker(worker)
