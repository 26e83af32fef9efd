"""Stopping a greenlet before closing what it uses.

A pump, a hub and the shared tail's source each use a consumer in a greenlet of their own,
and close that consumer when they stop. The consumer stays open while the greenlet still
runs: a user's hook may hold it past its kill. :func:`stop_then` kills, waits a bounded
time, and leaves the closing to whenever the greenlet ends.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import gevent

#: Seconds ``stop_then`` waits for a greenlet to end after killing it.
STOP_TIMEOUT_S = 5.0


def stop_then(greenlet: gevent.Greenlet | None, then: Callable[[], None]) -> None:
    """Kill ``greenlet`` (waiting up to ``STOP_TIMEOUT_S``) and run ``then`` once it is dead:
    now, or when it ends. A user's hook may hold a greenlet past the kill (a bare
    ``except:`` around a retry): what it still uses, its consumer, stays open until then."""
    if greenlet is None or greenlet.dead or greenlet is gevent.getcurrent():
        then()
        return
    greenlet.kill(block=True, timeout=STOP_TIMEOUT_S)
    if greenlet.dead:
        then()
    else:
        logging.getLogger(__name__).warning(
            "%r outlived its kill by %gs; its consumer closes once it ends",
            greenlet,
            STOP_TIMEOUT_S,
        )
        greenlet.link(lambda _dead: then())
