"""Everything that talks to Kafka before a stream starts: connect, check topics, find offsets.

Runs in the request's greenlet, before ``start_response``, so every failure here can still
become an HTTP error: unreachable brokers → 503, a missing or forbidden topic → 404, no
topic at all → 500. Once this module has assigned and positioned the consumer, the pump
(``_pump.py``) takes over.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import selectors
import socket
import ssl
import time
import weakref
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import gevent
from kafka import KafkaConsumer, TopicPartition
from kafka import errors as kafka_errors

from ._assignments import Assignment, StartPosition
from ._kafka_config import consumer_config
from ._kafka_internals import connect_to_leaders, fetch_while_draining, metadata_of
from .errors import (
    RETRY_AFTER_S,
    ConfigurationError,
    KafkaSSEError,
    KafkaUnavailableError,
    OffsetOutOfRangeError,
    TopicNotAvailableError,
)
from .options import Options, ResumePolicy

if TYPE_CHECKING:
    from .options import WSGIEnvironment
    from .tokens import TokenGrant

#: Seconds a client is told to wait (``Retry-After``) when the brokers cannot be reached.
UNAVAILABLE_RETRY_AFTER_S = RETRY_AFTER_S
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


def check_allowed(
    requested: Sequence[str],
    options: Options,
    environ: WSGIEnvironment,
    grant: TokenGrant | None = None,
    existing: Collection[str] | None = None,
) -> None:
    """Every requested topic must be allowed, granted by the subscriber token (if any) and,
    when ``existing`` is known, exist; a 404 never says which was the case."""
    missing = [
        t
        for t in requested
        if (existing is not None and t not in existing)
        or not options.is_topic_allowed(t, environ)
        or (grant is not None and not grant.allows(t))
    ]
    if missing:
        raise topics_not_available(missing)


def partition_not_available(topic: str, partition: int) -> TopicNotAvailableError:
    """The 404 for a partition the topic does not have."""
    return TopicNotAvailableError(
        f"Partition {partition} of topic {topic} not available for consumption", topics=[topic]
    )


def topics_not_available(topics: Sequence[str]) -> TopicNotAvailableError:
    """The 404 for topics that don't exist, aren't allowed or aren't granted."""
    return TopicNotAvailableError(
        f"Topic(s) {', '.join(topics)} not available for consumption", topics=list(topics)
    )


def resolve_start_positions(
    consumer: KafkaConsumer,
    assignments: Iterable[Assignment],
    at_timestamp: int | None,
    policy: ResumePolicy,
    log: logging.Logger | logging.LoggerAdapter,
    id_mode: str = "offset",
) -> list[StartPosition]:
    """Turn assignments into concrete offsets, asking Kafka as few times as possible.

    Precedence per partition: explicit offset > timestamp (its own, else ``at_timestamp``)
    > the end offset ("latest"). A timestamp with no message at or after it resolves to the
    end offset, said in the log. An explicit offset outside the partition's current range
    (retention passed it, or it comes from another cluster) is moved as ``policy`` says and
    marked ``source="reset"`` so the stream can tell the client: never a silent jump.

    Every start also gets a timestamp no later than its first message (timestamp and cursor
    ids show it until the partition delivers something; a later one would make a resume
    skip the replay): the requested time for a timestamp start; 0 for the log start.
    An offset inside the log gets the timestamp the client sent with it (cursor ids carry
    the one we computed), else, with ``id_mode`` ``timestamp`` or ``cursor`` only, its
    record's own timestamp, fetched here: one fetch per such partition, paid only by
    offset starts in those modes, instead of ids that replay the partition from 0. A start
    at the end gets, in those modes, the last record's timestamp + 1 (fetched too; 0 for an
    empty partition): the stream's first id then names a record's own time, which no clock
    can make later than an event produced afterwards (see ``Positions.first_id``); in offset
    mode the time this setup began, taken before any end offset was asked for.
    """
    started = _now_ms()
    # A cursor id from another cluster (a mirror in a second datacenter): its offsets mean
    # nothing here, its timestamps do. check_topics has fetched the metadata naming ours.
    cluster = cluster_id_of(consumer)
    foreign: dict[TopicPartition, int] = {}
    foreign_cluster: str | None = None
    wanted: list[tuple[TopicPartition, Assignment]] = []
    for assignment in assignments:
        if assignment.cluster not in (None, cluster) and assignment.offset is not None:
            assert assignment.partition is not None  # cursor entries name one
            foreign[TopicPartition(assignment.topic, assignment.partition)] = assignment.offset
            foreign_cluster = assignment.cluster
            assignment = dataclasses.replace(assignment, offset=None)
        if assignment.partition is not None:
            partitions = _partitions(consumer, assignment.topic)
            if assignment.partition not in partitions:
                raise partition_not_available(assignment.topic, assignment.partition)
            wanted.append((TopicPartition(assignment.topic, assignment.partition), assignment))
        else:
            for partition in sorted(_partitions(consumer, assignment.topic)):
                wanted.append((TopicPartition(assignment.topic, partition), assignment))
    if foreign:
        log.info(
            "the id comes from Kafka cluster %s, this is %s: %d partition(s) resume by timestamp",
            foreign_cluster,
            cluster,
            len(foreign),
        )

    connect_to_leaders(consumer, [tp for tp, _ in wanted])
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
                apply_resume_policy(tp, assignment, first[tp], last[tp], policy, log, started)
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
            if tp in foreign:
                positions.append(
                    StartPosition(
                        tp.topic,
                        tp.partition,
                        offset,
                        "reset",
                        timestamp=by_time[tp],
                        requested_offset=foreign[tp],
                        reason="cluster",
                    )
                )
                continue
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
                    timestamp=started if id_mode == "offset" else None,
                )
            )
    if id_mode != "offset":
        positions = _with_record_timestamps(consumer, positions, log, started)
    return positions


#: Longest wait for the records whose timestamps an offset start needs; past it, 0.
RECORD_TIMESTAMP_WAIT_S = 3.0


def _with_record_timestamps(
    consumer: KafkaConsumer,
    positions: list[StartPosition],
    log: logging.Logger | logging.LoggerAdapter,
    started: int,
) -> list[StartPosition]:
    """Fill in the timestamp of each start that has none: the record's at an offset start,
    the last record's + 1 at a start at the end (0 for an empty partition).

    Reads the first record from there (those partitions assigned alone, each paused as it
    answers); ``assign_and_seek`` assigns and positions everything again afterwards. An
    offset start whose record doesn't come in time gets 0 (never later than the first
    undelivered), an end start ``started``, the time its setup began.
    """
    missing = [p for p in positions if p.timestamp is None]
    at_end = {TopicPartition(p.topic, p.partition) for p in missing if p.source == "latest"}
    first = (
        kafka_call("beginning offsets", consumer.beginning_offsets, list(at_end)) if at_end else {}
    )
    empty = {
        TopicPartition(p.topic, p.partition)
        for p in missing
        if p.source == "latest" and first[TopicPartition(p.topic, p.partition)] >= p.offset
    }
    pending = {
        TopicPartition(p.topic, p.partition): p.offset - 1 if p.source == "latest" else p.offset
        for p in missing
        if TopicPartition(p.topic, p.partition) not in empty
    }
    found: dict[TopicPartition, int] = {tp: 0 for tp in empty}
    if pending:
        consumer.assign(list(pending))
        for tp, offset in pending.items():
            consumer.seek(tp, offset)
        deadline = time.monotonic() + RECORD_TIMESTAMP_WAIT_S
        while len(found) < len(missing) and time.monotonic() < deadline:
            batches = kafka_call("first records", consumer.poll, 100)
            for tp, records in batches.items():
                if tp in pending and tp not in found and records:
                    # At the end: the last record is handled already (Positions' "+ 1").
                    found[tp] = max(records[0].timestamp, 0) + (1 if tp in at_end else 0)
                    consumer.pause(tp)
        consumer.resume(*(found.keys() & pending.keys()))
    for tp in pending.keys() - found.keys():
        log.warning(
            "no record at offset %d of %s/%d in %gs; its timestamp id starts at %d",
            pending[tp],
            tp.topic,
            tp.partition,
            RECORD_TIMESTAMP_WAIT_S,
            started if tp in at_end else 0,
        )
        found[tp] = started if tp in at_end else 0
    return [
        dataclasses.replace(p, timestamp=found[TopicPartition(p.topic, p.partition)])
        if p.timestamp is None
        else p
        for p in positions
    ]


def _now_ms() -> int:
    """Timestamp ids of partitions started at the end: the time the setup began."""
    return int(time.time() * 1000)


def _partitions(consumer: KafkaConsumer, topic: str) -> set[int]:
    return kafka_call("metadata", consumer.partitions_for_topic, topic) or set()


def apply_resume_policy(
    tp: TopicPartition,
    assignment: Assignment,
    first: int,
    end: int,
    policy: ResumePolicy,
    log: logging.Logger | logging.LoggerAdapter,
    started: int,
) -> StartPosition:
    """Where to read ``tp`` when the stream wants ``assignment.offset`` and Kafka holds
    ``first..end``.

    Used for a resume's offset, and by the pump when Kafka says mid-stream that the next
    offset is gone. Outside the range the position moves as ``policy`` says and is marked
    ``source="reset"`` (the client is told); inside it stays, ``source="offset"``.

    :param started: when the stream's setup began (the timestamp of an end-offset start).
    :raises OffsetOutOfRangeError: outside the range and ``policy`` says ``error``.
    """
    offset = assignment.offset
    assert offset is not None
    if first <= offset <= end:
        if assignment.timestamp is not None:
            timestamp: int | None = assignment.timestamp
        elif offset == end:
            timestamp = started  # nothing there yet: like a "latest" start
        elif offset == first:
            timestamp = 0  # the whole log: a resume by time 0 starts there too
        else:
            timestamp = None  # the record's own: see _with_record_timestamps
        return StartPosition(tp.topic, tp.partition, offset, "offset", timestamp=timestamp)
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
        timestamp=started if action == "latest" else 0,
        requested_offset=offset,
        reason=problem,
    )


def resolve_stop_offsets(
    consumer: KafkaConsumer, starts: Sequence[StartPosition], until: int
) -> dict[tuple[str, int], int | None]:
    """Where each partition of a ``?until=`` replay stops (see :mod:`~kafkasse_wsgi._replay`).

    The first offset with a timestamp at or after ``until``; for a partition without one,
    its end offset when ``until`` has already passed (what is written from now on comes
    later), else ``None``: the stream finds out as it reads.
    """
    now = _now_ms()
    partitions = [TopicPartition(s.topic, s.partition) for s in starts]
    found = kafka_call(
        "offsets for times", consumer.offsets_for_times, dict.fromkeys(partitions, until)
    )
    missing = [tp for tp in partitions if found.get(tp) is None]
    ends = (
        kafka_call("end offsets", consumer.end_offsets, missing) if missing and now >= until else {}
    )
    stops: dict[tuple[str, int], int | None] = {}
    for tp in partitions:
        hit = found.get(tp)
        stops[(tp.topic, tp.partition)] = hit.offset if hit is not None else ends.get(tp)
    return stops


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
