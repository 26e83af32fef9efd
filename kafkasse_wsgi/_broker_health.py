"""Broker health and lag of a polling consumer, read from what the consumer already knows
(its connections and the last fetch responses), never from a request of its own.
"""

from __future__ import annotations

import time
from typing import Any

from ._kafka_internals import has_broker_connection
from .errors import KafkaUnavailableError


def lag_of(consumer: Any, batches: dict[Any, list[Any]]) -> int | None:
    """Messages still behind the ends of the partitions these batches came from.

    Uses the high watermarks of the last fetch responses: no request to the broker.
    """
    lag = 0
    for tp, records in batches.items():
        highwater = consumer.highwater(tp)
        if highwater is None or not records:
            return None
        lag += max(0, highwater - records[-1].offset - 1)
    return lag


class BrokerContact:
    """When a polling consumer last had a broker: past ``outage_s`` without one, it fails.

    A poll that brings records, or any connected broker connection, is contact; an outage
    shorter than ``outage_s`` is ridden out (kafka-python reconnects by itself).
    """

    def __init__(self, consumer: Any, outage_s: float) -> None:
        self._consumer = consumer
        self._outage_s = outage_s
        self._last = time.monotonic()

    def after_poll(self, polled: bool) -> None:
        """:raises KafkaUnavailableError: no contact for over ``outage_s``."""
        if polled or has_broker_connection(self._consumer):
            self._last = time.monotonic()
        elif time.monotonic() - self._last > self._outage_s:
            raise KafkaUnavailableError(f"lost contact with Kafka for over {self._outage_s:g} s")
