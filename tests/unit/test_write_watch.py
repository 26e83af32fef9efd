"""The write watch: a write blocked for ``max_blocked_s`` is cut, one that returns is not."""

from __future__ import annotations

import time

import gevent

from kafkasse_wsgi import _write_watch
from kafkasse_wsgi._write_watch import SWEEP_INTERVAL_S

#: The subject: short, so the test waits little; the watch's own period is the margin.
BLOCKED_S = 0.3


class _Stream:
    def __init__(self) -> None:
        self.cut_at: float | None = None

    def cut_blocked(self) -> None:
        self.cut_at = time.monotonic()


def test_a_write_blocked_past_max_blocked_s_is_cut_within_a_sweep_of_it() -> None:
    stuck, done = _Stream(), _Stream()
    began = time.monotonic()
    _write_watch.writing(stuck, BLOCKED_S)
    _write_watch.writing(done, BLOCKED_S)
    gevent.sleep(BLOCKED_S / 3)
    _write_watch.written(done)
    gevent.sleep(BLOCKED_S + 2 * SWEEP_INTERVAL_S)
    assert stuck.cut_at is not None
    assert BLOCKED_S <= stuck.cut_at - began <= BLOCKED_S + SWEEP_INTERVAL_S + 0.2
    assert done.cut_at is None
    assert _write_watch.writes_under_way() == 0


def test_without_max_blocked_s_a_write_is_never_watched() -> None:
    stream = _Stream()
    _write_watch.writing(stream, None)
    assert _write_watch.writes_under_way() == 0
