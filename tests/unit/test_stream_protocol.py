"""The stream protocol between a pump and its stream: every put is bounded by
``max_blocked_s``, the end marker included, and a stalled pump just ends."""

from __future__ import annotations

import logging

from gevent.queue import Full

from kafkasse_wsgi.assignments import StartPosition
from kafkasse_wsgi.options import Options
from kafkasse_wsgi.positions import Positions
from kafkasse_wsgi.pump import Pump, StreamStats
from kafkasse_wsgi.stream_queue import StreamQueue

MAX_BLOCKED_S = 0.2  # the subject: how long a put may wait for a client that takes nothing
LOG = logging.getLogger(__name__)


class FailingConsumer:
    """A consumer whose every poll fails (a pure unit: no Kafka behind it)."""

    def poll(self, timeout_ms: int = 0, max_records: int | None = None) -> dict:
        raise RuntimeError("poll failed")


def _full_queue(options: Options) -> StreamQueue:
    queue = StreamQueue(options.queue_size, options.queue_bytes)
    for _ in range(options.queue_size):
        queue.put_nowait(b"data: x\n\n")
    try:
        queue.put_nowait(b"one more")
    except Full:
        return queue
    raise AssertionError("the queue should be full")


def _pump(options: Options, queue: StreamQueue) -> Pump:
    positions = Positions([StartPosition("t", 0, 0, "offset")])
    return Pump(FailingConsumer(), positions, options, queue, LOG, StreamStats())


def test_a_pump_that_fails_while_its_client_takes_nothing_ends_within_max_blocked_s() -> None:
    options = Options(max_blocked_s=MAX_BLOCKED_S)
    queue = _full_queue(options)
    pump = _pump(options, queue)
    pump.start()
    greenlet = pump._greenlet
    assert greenlet is not None
    try:
        # The end marker can't be queued: the pump must give up after max_blocked_s, not
        # block forever on a client that is stuck.
        greenlet.join(timeout=MAX_BLOCKED_S * 5)
        assert greenlet.dead, "the pump still blocks on queueing its end"
    finally:
        pump.stop()
    assert queue.get() == b"data: x\n\n"  # what was queued stays; the end is not in it
