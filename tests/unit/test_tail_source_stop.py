"""A tail stream stopped while its greenlet is inside ``read()`` (a filter lends the worker
out between events) takes nothing more: no link on a hub, no consumer of its own."""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any

from gevent.event import Event

from kafkasse_wsgi._assignments import StartPosition
from kafkasse_wsgi._positions import Positions
from kafkasse_wsgi._protocol import StreamStats
from kafkasse_wsgi._stream_queue import StreamQueue
from kafkasse_wsgi._tail.ring import Delivery
from kafkasse_wsgi._tail.source import SharedTailSource
from kafkasse_wsgi.options import Options


class _Ring:
    """Batch 0 is there; with ``next_seq=2``, batch 1 is forgotten (the client fell behind)."""

    def __init__(self, next_seq: int) -> None:
        self.next_seq = next_seq

    def get(self, seq: int) -> Any:
        return object() if seq == 0 else None


class _Hub:
    """The parts of a hub the source uses between batches (pure: no consumer)."""

    def __init__(self, next_seq: int) -> None:
        self.ring = _Ring(next_seq)
        self.cluster_id = None
        self.error = None
        self.closed = False
        self.detaches: Counter[str] = Counter()
        self.handoffs = 0
        self._arrival = Event()

    def arrival(self) -> Event:
        return self._arrival

    def release(self) -> None:
        pass


def _source(chunk: bytes, next_seq: int) -> tuple[SharedTailSource, _Hub]:
    options = Options()
    hub = _Hub(next_seq)
    positions = Positions([StartPosition("t", 0, 0, "latest")], id_mode="offset")
    source = SharedTailSource(
        {"t": hub},  # type: ignore[dict-item]
        None,
        positions,
        options,
        StreamQueue(options.queue_size, options.queue_bytes),
        logging.getLogger("test"),
        StreamStats(),
        cursors={"t": 0},
    )

    def stopped_mid_batch(batch: Any) -> Delivery:
        source.stop()  # end() ran while the filter had lent the worker out
        delivery = Delivery()
        delivery.chunk = chunk
        return delivery

    source._deliver = stopped_mid_batch  # type: ignore[method-assign]
    return source, hub


def test_a_source_stopped_inside_read_does_not_link_again() -> None:
    source, hub = _source(b"data: x\n\n", next_seq=1)
    source.read()
    assert hub.arrival().linkcount() == 0, "a stopped source waits on the hub's next batch"


def test_a_source_stopped_inside_read_opens_no_consumer_to_detach() -> None:
    source, hub = _source(b"", next_seq=2)  # nothing formatted, then the next batch is gone
    assert source.read() is None
    assert source._own is None, "a stopped source went on to a consumer of its own"
    assert not hub.detaches
