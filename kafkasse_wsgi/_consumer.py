"""The consumer and the calls made with it before a stream starts: open, check topics, assign.

Runs in the request's greenlet, before ``start_response``, so every failure here can still
become an HTTP error: unreachable brokers → 503, a missing or forbidden topic → 404, no
topic at all → 500. Where a stream starts is :mod:`~kafkasse_wsgi._start_offsets`, why a
setup timed out :mod:`~kafkasse_wsgi._broker_probe`, the checks that need no Kafka
:mod:`~kafkasse_wsgi._access`. Once the consumer is assigned and positioned, the pump
(``_pump.py``) takes over.
"""

from __future__ import annotations

import contextlib
import logging
import selectors
import ssl
import weakref
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import gevent
from kafka import KafkaConsumer, TopicPartition
from kafka import errors as kafka_errors

from ._access import check_allowed
from ._assignments import StartPosition
from ._kafka_config import consumer_config
from ._kafka_internals import fetch_while_draining, metadata_of
from .errors import (
    RETRY_AFTER_S,
    ConfigurationError,
    KafkaSSEError,
    KafkaUnavailableError,
)
from .options import Options

if TYPE_CHECKING:
    from .options import WSGIEnvironment
    from .tokens import TokenGrant

#: Seconds a client is told to wait (``Retry-After``) when the brokers cannot be reached.
UNAVAILABLE_RETRY_AFTER_S = RETRY_AFTER_S
TLS_FAILED_MESSAGE = (
    "Kafka cannot be reached: the TLS handshake failed (certificate not trusted or TLS "
    "settings wrong); try again later"
)


def _unavailable(exc: BaseException, message: str) -> KafkaUnavailableError:
    """The 503 for a Kafka failure; a TLS failure says so (it is never a passing outage)."""
    if isinstance(exc, ssl.SSLError):
        message = TLS_FAILED_MESSAGE
    return KafkaUnavailableError(message, retry_after_s=UNAVAILABLE_RETRY_AFTER_S)


#: The consumers of single streams open in this process (not the hubs').
_private_consumers: weakref.WeakSet[KafkaConsumer] = weakref.WeakSet()


def private_consumers_open() -> int:
    """How many streams of this process read through a consumer of their own."""
    return len(_private_consumers)


def open_consumer(options: Options, request_id: str, private: bool = True) -> KafkaConsumer:
    """A consumer with no group and no commits, connected to the brokers.

    :param private: it serves one stream (counted by :func:`private_consumers_open`); a
        hub's consumer is not.

    :raises KafkaUnavailableError: the brokers did not answer in ``api_version_auto_timeout_ms``.
    """
    config = consumer_config(options.kafka_config, request_id)
    # kafka-python captures selectors.EpollSelector at import time; taking the default now
    # picks up gevent's cooperative selector when the server monkey-patched after that import.
    config.setdefault("selector", selectors.DefaultSelector)
    try:
        consumer = KafkaConsumer(**config)
    except kafka_errors.KafkaConfigurationError as exc:
        raise ConfigurationError("kafka_config is not valid for kafka-python") from exc
    except (kafka_errors.KafkaError, OSError) as exc:
        raise _unavailable(exc, "Kafka cannot be reached right now; try again later") from exc
    fetch_while_draining(consumer)
    if private:
        _private_consumers.add(consumer)
    return consumer


def close_quietly(
    consumer: KafkaConsumer | None, log: logging.Logger | logging.LoggerAdapter
) -> None:
    """Close a consumer, logging rather than raising: used on every way out of a stream."""
    if consumer is None:
        return
    _private_consumers.discard(consumer)
    try:
        consumer.close(autocommit=False)
    except Exception:
        log.warning("closing the Kafka consumer failed", exc_info=True)


def kafka_call(what: str, call: Any, *args: Any) -> Any:
    """Run a consumer call before the stream starts, turning Kafka failures into 503s."""
    try:
        return call(*args)
    except KafkaSSEError:
        raise
    except (kafka_errors.KafkaError, OSError) as exc:
        raise _unavailable(exc, f"Kafka did not answer ({what}); try again later") from exc


@contextlib.contextmanager
def within(seconds: float, expired: Callable[[], BaseException] | None = None) -> Iterator[None]:
    """Bound a block of consumer calls: kafka-python has blocking calls without a timeout
    (metadata). Past ``seconds`` the block raises ``expired()`` instead; another
    ``gevent.Timeout`` (the caller's own) passes through untouched. By default ``expired``
    is a 503: Kafka did not answer in time."""
    timeout = gevent.Timeout(seconds)
    timeout.start()
    try:
        yield
    except gevent.Timeout as raised:
        if raised is not timeout:
            raise
        raise (expired or did_not_answer)() from None
    finally:
        timeout.close()


def did_not_answer() -> KafkaUnavailableError:
    return KafkaUnavailableError("Kafka did not answer in time; try again later")


def partitions_to_join(consumer: Any, topics: Sequence[str]) -> list[TopicPartition]:
    """Partitions of ``topics`` the consumer is not assigned yet (added to the topics since).

    Reads kafka-python's metadata cache only. A partition without a leader yet waits for
    the next refresh, asked for at once.
    """
    cluster = metadata_of(consumer)
    if cluster is None:
        return []
    assigned = consumer.assignment()
    added = []
    for topic in topics:
        for partition in sorted(cluster.partitions_for_topic(topic) or ()):
            tp = TopicPartition(topic, partition)
            if tp in assigned:
                continue
            if cluster.leader_for_partition(tp) in (None, -1):
                cluster.request_update()
                continue
            added.append(tp)
    return added


def cluster_id_of(consumer: Any) -> str | None:
    """The cluster id the brokers reported in the last metadata (``None`` if they didn't)."""
    return getattr(metadata_of(consumer), "cluster_id", None)


def check_topics(
    consumer: KafkaConsumer,
    requested: Sequence[str],
    options: Options,
    environ: WSGIEnvironment,
    grant: TokenGrant | None = None,
) -> None:
    """Every requested topic must exist, be allowed, and be granted by the subscriber token
    (if any); a 404 never says which was the case. An allowed topic not created yet is a
    404 too, even when no allowed topic exists: it may be created later."""
    existing = kafka_call("metadata", consumer.topics)
    check_allowed(requested, options, environ, grant, existing)


def end_offsets_of(
    consumer: KafkaConsumer, partitions: Sequence[tuple[str, int]]
) -> dict[tuple[str, int], int]:
    """The current end offsets of ``partitions`` (asked of Kafka)."""
    tps = [TopicPartition(topic, partition) for topic, partition in partitions]
    ends = kafka_call("end offsets", consumer.end_offsets, tps)
    return {(tp.topic, tp.partition): offset for tp, offset in ends.items()}


def assign_and_seek(consumer: KafkaConsumer, positions: Sequence[StartPosition]) -> None:
    """Assign exactly these partitions (never ``subscribe()``: no group, no rebalance)."""
    partitions = [TopicPartition(p.topic, p.partition) for p in positions]
    consumer.assign(partitions)
    for tp, position in zip(partitions, positions, strict=False):
        consumer.seek(tp, position.offset)
