"""``/healthz?kafka=1``: whether the brokers answer, asked once for many probes.

Probes come from load balancers, orchestrators and anyone on the internet. Each check opens
a consumer and asks the brokers for metadata: one check runs at a time, every probe that
arrives meanwhile waits for its answer, and the answer is reused for ``REUSE_S``. The check's
consumer is not a stream's, so it does not count against ``max_private_consumers``.
"""

from __future__ import annotations

import logging
import time

import gevent
from gevent.event import AsyncResult

from .._consumer import close_quietly, kafka_call, open_consumer, within
from ..errors import KafkaSSEError
from ..log import RequestLogAdapter
from ..options import Options

log = logging.getLogger(__name__)


class KafkaHealth:
    """The brokers' health, checked at most once per ``REUSE_S`` and one check at a time."""

    #: Seconds an answer is reused: a few, so a probe still sees an outage within seconds.
    REUSE_S = 3.0

    def __init__(self, options: Options, timeout_s: float) -> None:
        self._options = options
        self._timeout_s = timeout_s
        self._answer: AsyncResult | None = None
        self._answered_at = 0.0

    def unavailable(self) -> str | None:
        """``None`` when the brokers answered, else the name of the error."""
        answer = self._answer
        fresh = time.monotonic() - self._answered_at < self.REUSE_S
        if answer is None or (answer.ready() and not fresh):
            answer = self._answer = AsyncResult()
            gevent.spawn(self._check, answer)
        return answer.get()

    def _check(self, answer: AsyncResult) -> None:
        consumer = None
        adapter = RequestLogAdapter(self._options.logger or log, "healthz")
        unavailable = None
        try:
            with within(self._timeout_s):  # past it: KafkaUnavailableError
                consumer = open_consumer(self._options, "healthz", private=False)
                kafka_call("metadata", consumer.topics)
        except KafkaSSEError as error:
            unavailable = error.name
        except Exception:
            adapter.exception("the Kafka health check failed")
            unavailable = KafkaSSEError.__name__
        finally:
            close_quietly(consumer, adapter)
            self._answered_at = time.monotonic()
            answer.set(unavailable)
