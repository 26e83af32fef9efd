"""What a client asked to read, and where each partition starts.

Two steps. Parsing (pure, no Kafka) turns topic names, comma strings, assignment objects,
``Last-Event-ID`` and ``since`` into :class:`Assignment` values or an
:class:`~kafkasse_wsgi.errors.InvalidAssignmentError`. Resolving asks the brokers (through
the consumer) for partitions and offsets and turns every assignment into a concrete
:class:`StartPosition`: an explicit offset wins over a timestamp, a timestamp wins over
"latest", and "latest" becomes the end offset at assignment time, so event ids never hold
``-1`` and a reconnect never skips what a quiet partition received in between.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from .errors import InvalidAssignmentError

# Kafka's own rule for topic names (kafka/common/internals/Topic.java). Used with
# ``fullmatch``: ``$`` would also match before a trailing newline and let "topic\n" through.
_TOPIC_NAME = re.compile(r"[a-zA-Z0-9._-]{1,249}")
# ASCII digits only: ``\d`` also matches other scripts' digits, which ``int`` accepts.
_EPOCH_MS = re.compile(r"[0-9]{1,19}")
_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
_ONE_MS = datetime.timedelta(milliseconds=1)
_MAX_INT64 = 2**63 - 1
_ASSIGNMENT_KEYS = frozenset({"topic", "partition", "offset", "timestamp"})
# Kafka cluster ids are 22 characters of URL-safe base64; leave room, refuse anything odd.
_CLUSTER_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


@dataclasses.dataclass(frozen=True)
class Assignment:
    """A requested topic, or one partition of it with an optional start offset or timestamp."""

    topic: str
    partition: int | None = None
    offset: int | None = None
    timestamp: int | None = None
    #: The Kafka cluster a cursor id's offset belongs to: on another, its timestamp is used.
    cluster: str | None = None


@dataclasses.dataclass(frozen=True)
class StartPosition:
    """Where one assigned partition starts, and why (``offset``, ``timestamp``, ``latest``)."""

    topic: str
    partition: int
    offset: int
    source: str
    #: The timestamp the position was resolved from, if any (used by timestamp ids).
    timestamp: int | None = None
    #: With ``source="reset"``: the offset the client asked for, and ``too_old``/``too_new``
    #: (outside the partition's range) or ``cluster`` (a cursor id of another cluster).
    requested_offset: int | None = None
    reason: str | None = None


def parse_assignments(value: Any, *, origin: str = "assignments") -> list[Assignment]:
    """Parse a list of topic names, a comma string, comma strings in a list, or objects.

    Duplicate topic names collapse into one; the same partition asked for twice is an error.
    """
    if isinstance(value, str):
        items: list[Any] = [value]
    elif isinstance(value, (list, tuple)):
        items = list(value)
    else:
        raise InvalidAssignmentError(
            f"{origin} must be a list of topic names or assignment objects, "
            f"or a comma-separated string of topic names",
            origin_of_assignments=origin,
        )
    result: list[Assignment] = []
    seen_topics: set[str] = set()
    seen_partitions: set[tuple[str, int]] = set()
    for item in items:
        if isinstance(item, str):
            for name in item.split(","):
                topic = _topic_name(name.strip(), origin)
                if topic not in seen_topics:
                    seen_topics.add(topic)
                    result.append(Assignment(topic))
        elif isinstance(item, Mapping):
            assignment = _assignment_object(item, origin)
            if assignment.partition is None:
                if assignment.topic not in seen_topics:
                    seen_topics.add(assignment.topic)
                    result.append(assignment)
                continue
            key = (assignment.topic, assignment.partition)
            if key in seen_partitions:
                raise InvalidAssignmentError(
                    f"{origin} names partition {assignment.partition} of topic "
                    f"{assignment.topic!r} more than once"
                )
            seen_partitions.add(key)
            result.append(assignment)
        else:
            raise InvalidAssignmentError(
                f"{origin} items must be topic names or objects with topic and partition"
            )
    if not result:
        raise InvalidAssignmentError(f"{origin} names no topic")
    mixed = seen_topics & {topic for topic, _ in seen_partitions}
    if mixed:
        raise InvalidAssignmentError(
            f"{origin} asks for whole topic(s) and single partitions of the same topic: "
            f"{', '.join(sorted(mixed))}"
        )
    return result


def parse_last_event_id(header: str) -> list[Assignment]:
    """``Last-Event-ID``: an event id of any id mode (or topic names).

    A JSON array as the offset and timestamp ids (the Node original's forms), or a cursor
    id: ``{"cluster": <id or null>, "positions": [[topic, partition, offset, timestamp], …]}``,
    whose assignments keep both positions and name the cluster.
    """
    try:
        value = json.loads(header)
    except (ValueError, RecursionError):  # deeply nested arrays exhaust the parser's stack
        raise InvalidAssignmentError("Last-Event-ID is not valid JSON") from None
    if isinstance(value, dict) and "positions" in value:
        return _cursor(value)
    if not isinstance(value, list):
        raise InvalidAssignmentError(
            'Last-Event-ID must be a JSON array of assignments, or a cursor {"cluster": …, '
            '"positions": […]}'
        )
    return parse_assignments(value, origin="Last-Event-ID")


def _cursor(value: dict[str, Any]) -> list[Assignment]:
    """The assignments of a cursor id, each naming the cluster its offset belongs to."""
    origin = "Last-Event-ID"
    cluster = value.get("cluster")
    if set(value) != {"cluster", "positions"}:
        raise InvalidAssignmentError(f"{origin}: a cursor takes only cluster and positions")
    if cluster is not None and not (isinstance(cluster, str) and _CLUSTER_ID.fullmatch(cluster)):
        raise InvalidAssignmentError(f"{origin}: the cursor's cluster is not a Kafka cluster id")
    entries = value["positions"]
    if not isinstance(entries, list) or not entries:
        raise InvalidAssignmentError(f"{origin}: a cursor's positions must be a non-empty list")
    objects = []
    for entry in entries:
        if not isinstance(entry, list) or len(entry) != 4 or None in entry:
            raise InvalidAssignmentError(
                f"{origin}: cursor positions are [topic, partition, offset, timestamp]"
            )
        objects.append(dict(zip(("topic", "partition", "offset", "timestamp"), entry, strict=True)))
    assignments = parse_assignments(objects, origin=origin)
    return [dataclasses.replace(a, cluster=cluster) for a in assignments]


def parse_since(value: str | int) -> int:
    """``since`` / ``at_timestamp``: epoch milliseconds, or ISO-8601 (naive means UTC)."""
    if isinstance(value, bool):
        raise InvalidAssignmentError("since must be epoch milliseconds or an ISO-8601 date-time")
    if isinstance(value, int):
        milliseconds = value
    else:
        text = str(value).strip()
        milliseconds = int(text) if _EPOCH_MS.fullmatch(text) else _iso8601_to_ms(text)
    if not 0 <= milliseconds <= _MAX_INT64:
        raise InvalidAssignmentError("since must be a non-negative timestamp")
    return milliseconds


def _iso8601_to_ms(text: str) -> int:
    candidate = text[:-1] + "+00:00" if text[-1:] in ("Z", "z") else text
    try:
        moment = datetime.datetime.fromisoformat(candidate)
    except ValueError:
        raise InvalidAssignmentError(
            "since must be epoch milliseconds or an ISO-8601 date-time (e.g. 2026-11-26T10:00:00Z)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    try:
        # Exact integer arithmetic, floored: float seconds lose microseconds far from 1970
        # and ``int()`` would round times just before the epoch up to 0.
        return (moment - _EPOCH) // _ONE_MS
    except (OverflowError, OSError, ValueError):
        raise InvalidAssignmentError("since is out of range") from None


def _topic_name(name: Any, origin: str) -> str:
    if not isinstance(name, str) or not _TOPIC_NAME.fullmatch(name) or name in (".", ".."):
        raise InvalidAssignmentError(
            f"{origin} holds an invalid topic name: topic names are 1-249 characters of "
            f"a-z, A-Z, 0-9, '.', '_' and '-'"
        )
    return name


def _non_negative_int(item: Mapping[str, Any], key: str, origin: str) -> int | None:
    value = item.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _MAX_INT64:
        raise InvalidAssignmentError(f"{origin}: {key} must be a non-negative integer")
    return value


def _assignment_object(item: Mapping[str, Any], origin: str) -> Assignment:
    unknown = set(item) - _ASSIGNMENT_KEYS
    if unknown:
        raise InvalidAssignmentError(
            f"{origin}: assignment objects take only topic, partition, offset and timestamp"
        )
    topic = _topic_name(item.get("topic"), origin)
    partition = _non_negative_int(item, "partition", origin)
    offset = _non_negative_int(item, "offset", origin)
    timestamp = _non_negative_int(item, "timestamp", origin)
    if partition is None and (offset is not None or timestamp is not None):
        raise InvalidAssignmentError(
            f"{origin}: an offset or timestamp needs a partition (topic {topic!r})"
        )
    if partition is not None and partition > 2**31 - 1:
        raise InvalidAssignmentError(f"{origin}: partition is out of range")
    return Assignment(topic, partition, offset, timestamp)


def topics_of(assignments: Iterable[Assignment]) -> list[str]:
    """The distinct topics, in the order first named."""
    return list(dict.fromkeys(a.topic for a in assignments))
