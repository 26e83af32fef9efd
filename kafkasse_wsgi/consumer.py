"""Everything that talks to Kafka before a stream starts: connect, check topics, find offsets.

Runs in the request's greenlet, before ``start_response``, so every failure here can still
become an HTTP error: unreachable brokers → 503, a missing or forbidden topic → 404, no
topic at all → 500. Once this module has assigned and positioned the consumer, the pump
(``pump.py``) takes over.
"""

from __future__ import annotations

import logging
import selectors
import socket
import ssl
import time
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from kafka import KafkaConsumer, TopicPartition
from kafka import errors as kafka_errors

from .assignments import Assignment, StartPosition
from .errors import (
    ConfigurationError,
    KafkaSSEError,
    KafkaUnavailableError,
    OffsetOutOfRangeError,
    TopicNotAvailableError,
)
from .kafka_config import consumer_config
from .options import Options, ResumePolicy

if TYPE_CHECKING:
    from .options import WSGIEnvironment

#: Seconds a client is told to wait (``Retry-After``) when the brokers cannot be reached.
UNAVAILABLE_RETRY_AFTER_S = 5
#: Bound on the one connection :func:`explain_unavailable` opens to find out why.
AUTHENTICATION_PROBE_TIMEOUT_S = 3.0

TLS_FAILED_MESSAGE = (
    "Kafka cannot be reached: the TLS handshake failed (certificate not trusted or TLS "
    "settings wrong); try again later"
)
AUTHENTICATION_FAILED_MESSAGE = (
    "Kafka cannot be reached: SASL authentication failed (credentials refused); try again later"
)


def _unavailable(exc: BaseException, message: str) -> KafkaUnavailableError:
    """The 503 for a Kafka failure; a TLS failure says so (it is never a passing outage)."""
    if isinstance(exc, ssl.SSLError):
        message = TLS_FAILED_MESSAGE
    return KafkaUnavailableError(message, retry_after_s=UNAVAILABLE_RETRY_AFTER_S)


def open_consumer(options: Options, request_id: str) -> KafkaConsumer:
    """A consumer with no group and no commits, connected to the brokers.

    :raises KafkaUnavailableError: the brokers did not answer in ``api_version_auto_timeout_ms``.
    """
    config = consumer_config(options.kafka_config, request_id)
    # kafka-python captures selectors.EpollSelector at import time; taking the default now
    # picks up gevent's cooperative selector when the server monkey-patched after that import.
    config.setdefault("selector", selectors.DefaultSelector)
    try:
        return KafkaConsumer(**config)
    except kafka_errors.KafkaConfigurationError as exc:
        raise ConfigurationError("kafka_config is not valid for kafka-python") from exc
    except (kafka_errors.KafkaError, OSError) as exc:
        raise _unavailable(exc, "Kafka cannot be reached right now; try again later") from exc


def explain_unavailable(options: Options, request_id: str) -> KafkaUnavailableError | None:
    """After a setup that timed out: was it the brokers refusing our SASL credentials?

    kafka-python does not raise on a failed SASL authentication: it logs, reconnects and tries
    again until the caller gives up, so the stream's setup only sees a timeout. One bounded
    connection to a bootstrap server, whose failures are recorded, tells the two apart.

    :returns: the 503 naming the authentication failure, or ``None`` if it was not that.
    """
    from kafka.conn import BrokerConnection

    config = consumer_config(options.kafka_config, f"{request_id}-probe")
    if not str(config.get("security_protocol", "")).startswith("SASL"):
        return None
    servers = config["bootstrap_servers"]
    host, _, port = (servers[0] if isinstance(servers, list) else servers).rpartition(":")
    settings = {k: v for k, v in config.items() if k in BrokerConnection.DEFAULT_CONFIG}
    settings["selector"] = selectors.DefaultSelector
    connection = BrokerConnection(host, int(port), socket.AF_UNSPEC, **settings)
    failures: list[BaseException | None] = []
    close = connection.close

    def recording_close(error: BaseException | None = None) -> None:
        failures.append(error)
        close(error)

    connection.close = recording_close
    try:
        connection.connect_blocking(timeout=AUTHENTICATION_PROBE_TIMEOUT_S)
    except ssl.SSLError:
        return KafkaUnavailableError(TLS_FAILED_MESSAGE, retry_after_s=UNAVAILABLE_RETRY_AFTER_S)
    except (kafka_errors.KafkaError, OSError) as exc:
        failures.append(exc)
    finally:
        close()
    refused = (
        kafka_errors.SaslAuthenticationFailedError,
        kafka_errors.UnsupportedSaslMechanismError,
        kafka_errors.IllegalSaslStateError,
    )
    if any(isinstance(failure, refused) for failure in failures):
        return KafkaUnavailableError(
            AUTHENTICATION_FAILED_MESSAGE, retry_after_s=UNAVAILABLE_RETRY_AFTER_S
        )
    return None


def close_quietly(
    consumer: KafkaConsumer | None, log: logging.Logger | logging.LoggerAdapter
) -> None:
    """Close a consumer, logging rather than raising: used on every way out of a stream."""
    if consumer is None:
        return
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


def check_topics(
    consumer: KafkaConsumer,
    requested: Sequence[str],
    options: Options,
    environ: WSGIEnvironment,
) -> None:
    """Every requested topic must exist and be allowed; a 404 never says which was the case."""
    existing = kafka_call("metadata", consumer.topics)
    if not existing or (
        not callable(options.allowed_topics)
        and not any(options.is_topic_allowed(topic, environ) for topic in existing)
    ):
        raise ConfigurationError("no topic is available to stream: none exists or is allowed")
    missing = [
        t for t in requested if t not in existing or not options.is_topic_allowed(t, environ)
    ]
    if missing:
        raise TopicNotAvailableError(
            f"Topic(s) {', '.join(missing)} not available for consumption",
            topics=missing,
        )


def resolve_start_positions(
    consumer: KafkaConsumer,
    assignments: Iterable[Assignment],
    at_timestamp: int | None,
    policy: ResumePolicy,
    log: logging.Logger | logging.LoggerAdapter,
) -> list[StartPosition]:
    """Turn assignments into concrete offsets, asking Kafka as few times as possible.

    Precedence per partition: explicit offset > timestamp (its own, else ``at_timestamp``)
    > the end offset ("latest"). A timestamp with no message at or after it resolves to the
    end offset, said in the log. An explicit offset outside the partition's current range
    (retention passed it, or it comes from another cluster) is moved as ``policy`` says and
    marked ``source="reset"`` so the stream can tell the client: never a silent jump.
    """
    wanted: list[tuple[TopicPartition, Assignment]] = []
    for assignment in assignments:
        if assignment.partition is not None:
            partitions = _partitions(consumer, assignment.topic)
            if assignment.partition not in partitions:
                raise TopicNotAvailableError(
                    f"Partition {assignment.partition} of topic {assignment.topic} "
                    f"not available for consumption",
                    topics=[assignment.topic],
                )
            wanted.append((TopicPartition(assignment.topic, assignment.partition), assignment))
        else:
            for partition in sorted(_partitions(consumer, assignment.topic)):
                wanted.append((TopicPartition(assignment.topic, partition), assignment))

    _connect_to_leaders(consumer, [tp for tp, _ in wanted])
    by_time: dict[TopicPartition, int] = {}
    for tp, assignment in wanted:
        if assignment.offset is None:
            timestamp = assignment.timestamp if assignment.timestamp is not None else at_timestamp
            if timestamp is not None:
                by_time[tp] = timestamp
    need_end = [tp for tp, a in wanted if a.offset is None]
    end_offsets = kafka_call("end offsets", consumer.end_offsets, need_end) if need_end else {}
    found = (
        kafka_call("offsets for times", consumer.offsets_for_times, dict(by_time))
        if by_time
        else {}
    )

    explicit = [tp for tp, a in wanted if a.offset is not None]
    if explicit:
        first = kafka_call("beginning offsets", consumer.beginning_offsets, explicit)
        last = kafka_call("end offsets", consumer.end_offsets, explicit)

    positions = []
    for tp, assignment in wanted:
        if assignment.offset is not None:
            positions.append(
                _explicit_offset(tp, assignment.offset, first[tp], last[tp], policy, log)
            )
        elif tp in by_time:
            hit = found.get(tp)
            if hit is None:
                log.info(
                    "no message at or after timestamp %d in %s/%d; starting at its end offset %d",
                    by_time[tp],
                    tp.topic,
                    tp.partition,
                    end_offsets[tp],
                )
                offset = end_offsets[tp]
            else:
                offset = hit.offset
            positions.append(
                StartPosition(tp.topic, tp.partition, offset, "timestamp", timestamp=by_time[tp])
            )
        else:
            positions.append(
                StartPosition(
                    tp.topic,
                    tp.partition,
                    end_offsets[tp],
                    "latest",
                    timestamp=_now_ms(),
                )
            )
    return positions


def _connect_to_leaders(consumer: KafkaConsumer, partitions: Sequence[TopicPartition]) -> None:
    """Open the connections to the partitions' leaders before asking them for offsets.

    kafka-python sends an offset request to a leader it is not connected to yet, gets "node
    not ready", sleeps ``retry_backoff_ms`` (100 ms) and tries again: 200 ms of every new
    stream's time to first byte went there. Connecting first takes one round trip. Bounded
    by the caller's setup timeout; on kafka-python internals it doesn't know, it does nothing.
    """
    client = getattr(consumer, "_client", None)
    if client is None or not hasattr(client, "ready"):
        return
    nodes = {client.cluster.leader_for_partition(tp) for tp in partitions}
    nodes = {node for node in nodes if node is not None and node >= 0}
    while not all([client.ready(node) for node in nodes]):
        client.poll(timeout_ms=10)


def _now_ms() -> int:
    """Timestamp ids of partitions started by offset or at the end: the stream's start time."""
    return int(time.time() * 1000)


def _partitions(consumer: KafkaConsumer, topic: str) -> set[int]:
    return kafka_call("metadata", consumer.partitions_for_topic, topic) or set()


def _explicit_offset(
    tp: TopicPartition,
    offset: int,
    first: int,
    end: int,
    policy: ResumePolicy,
    log: logging.Logger | logging.LoggerAdapter,
) -> StartPosition:
    if first <= offset <= end:
        return StartPosition(tp.topic, tp.partition, offset, "offset", timestamp=_now_ms())
    problem, action = ("too_old", policy.too_old) if offset < first else ("too_new", policy.too_new)
    if action == "error":
        raise OffsetOutOfRangeError(
            f"Offset {offset} of {tp.topic}/{tp.partition} is no longer available"
            if problem == "too_old"
            else f"Offset {offset} of {tp.topic}/{tp.partition} is past the end of the partition",
            topic=tp.topic,
            partition=tp.partition,
            requested_offset=offset,
            available_offsets=[first, end],
        )
    served = first if action == "earliest" else end
    log.warning(
        "requested offset %d of %s/%d is %s (available %d..%d); starting at %d",
        offset,
        tp.topic,
        tp.partition,
        problem.replace("_", " "),
        first,
        end,
        served,
    )
    return StartPosition(
        tp.topic,
        tp.partition,
        served,
        "reset",
        timestamp=_now_ms(),
        requested_offset=offset,
        reason=problem,
    )


def assign_and_seek(consumer: KafkaConsumer, positions: Sequence[StartPosition]) -> None:
    """Assign exactly these partitions (never ``subscribe()``: no group, no rebalance)."""
    partitions = [TopicPartition(p.topic, p.partition) for p in positions]
    consumer.assign(partitions)
    for tp, position in zip(partitions, positions, strict=False):
        consumer.seek(tp, position.offset)
