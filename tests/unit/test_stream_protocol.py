"""The stream protocol between a source and its stream: every put is bounded by
``max_blocked_s``, the end marker included, and a stalled pump just ends (``stalled``),
calling nothing up in the stream."""

from __future__ import annotations

import logging

import gevent
from gevent.queue import Full

from kafkasse_wsgi._assignments import StartPosition
from kafkasse_wsgi._positions import Positions
from kafkasse_wsgi._protocol import End, Source, StreamStats, put_bounded
from kafkasse_wsgi._pump import Pump
from kafkasse_wsgi._stream_queue import StreamQueue
from kafkasse_wsgi.options import Options

MAX_BLOCKED_S = 0.2  # the subject: how long a put may wait for a client that takes nothing
LOG = logging.getLogger(__name__)


class FailingConsumer:
    """A consumer whose every poll fails (a pure unit: no Kafka behind it)."""

    def poll(self, timeout_ms: int = 0, max_records: int | None = None) -> dict:
        raise RuntimeError("poll failed")


class Record:
    """The parts of a kafka-python record the pump reads."""

    def __init__(self, offset: int) -> None:
        self.topic, self.partition, self.offset, self.timestamp = "t", 0, offset, 1000
        self.key, self.headers = None, []
        self.value = b'{"n": %d}' % offset


class EndlessConsumer:
    """A consumer with one more record at every poll."""

    def __init__(self) -> None:
        self.offset = 0

    def poll(self, timeout_ms: int = 0, max_records: int | None = None) -> dict:
        self.offset += 1
        return {("t", 0): [Record(self.offset - 1)]}

    def highwater(self, tp: object) -> int:
        return self.offset


def _full_queue(options: Options) -> StreamQueue:
    queue = StreamQueue(options.queue_size, options.queue_bytes)
    for _ in range(options.queue_size):
        queue.put_nowait(b"data: x\n\n")
    try:
        queue.put_nowait(b"one more")
    except Full:
        return queue
    raise AssertionError("the queue should be full")


def _pump(consumer: object, options: Options, queue: StreamQueue) -> Pump:
    positions = Positions([StartPosition("t", 0, 0, "offset")])
    return Pump(consumer, positions, options, queue, LOG, StreamStats())


def test_put_bounded_queues_when_there_is_room() -> None:
    queue = StreamQueue(maxsize=1, max_bytes=100)
    assert put_bounded(queue, b"data", MAX_BLOCKED_S)
    assert queue.get() == b"data"


def test_put_bounded_gives_up_after_max_blocked_s_on_the_end_marker_too() -> None:
    queue = StreamQueue(maxsize=1, max_bytes=100)
    queue.put_nowait(b"data")
    waited = gevent.spawn(put_bounded, queue, End(cause="end"), MAX_BLOCKED_S)
    waited.join(timeout=MAX_BLOCKED_S * 5)
    assert waited.dead and waited.value is False
    assert queue.get() == b"data"  # nothing else went in


def test_a_stalled_pump_ends_quietly_and_says_so() -> None:
    options = Options(max_blocked_s=MAX_BLOCKED_S)
    queue = StreamQueue(options.queue_size, options.queue_bytes)
    pump = _pump(EndlessConsumer(), options, queue)
    source: Source = pump  # the private consumer is a source
    greenlet = source.start()
    try:
        # Nobody takes anything: the pump fills the queue, then gives up after max_blocked_s.
        greenlet.join(timeout=MAX_BLOCKED_S * 10)
        assert greenlet.dead and greenlet.successful(), "the pump still waits on its client"
        assert source.stalled
    finally:
        source.stop()
    items = [queue.get(timeout=0) for _ in range(options.queue_size)]
    assert all(type(item) is bytes for item in items)  # no end: the stream cuts the client
    assert (
        source.queued_id
        == Positions([StartPosition("t", 0, options.queue_size, "offset")]).event_id()
    )


def test_a_pump_that_fails_while_its_client_takes_nothing_ends_within_max_blocked_s() -> None:
    options = Options(max_blocked_s=MAX_BLOCKED_S)
    queue = _full_queue(options)
    pump = _pump(FailingConsumer(), options, queue)
    greenlet = pump.start()
    try:
        # The end marker can't be queued: the pump must give up after max_blocked_s, not
        # block forever on a client that is stuck.
        greenlet.join(timeout=MAX_BLOCKED_S * 5)
        assert greenlet.dead, "the pump still blocks on queueing its end"
        assert pump.stalled
    finally:
        pump.stop()
    assert queue.get() == b"data: x\n\n"  # what was queued stays; the end is not in it
