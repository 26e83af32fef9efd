"""Where a stream starts in each partition (explicit offset, timestamp or the end), the
resume policy for an offset Kafka no longer (or not yet) holds, and where a ``?until=``
replay stops. Asks Kafka as few times as possible, before the stream starts.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Iterable, Sequence

from kafka import KafkaConsumer, TopicPartition

from ._access import partition_not_available
from ._assignments import Assignment, StartPosition
from ._consumer import cluster_id_of, kafka_call
from ._kafka_internals import connect_to_leaders
from .errors import ResumeOutOfRangeError
from .options import ResumePolicy


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
    :raises ResumeOutOfRangeError: outside the range and ``policy`` says ``error``.
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
        raise ResumeOutOfRangeError(
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
