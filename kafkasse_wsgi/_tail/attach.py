"""Whether a stream starts on the shared tail, and where: at the head, or back in a ring.

A stream that may share the tail (:func:`shares_the_tail`) and starts at the head, or
resumes by offsets its hubs' rings still hold, needs no consumer of its own: its setup
attaches it to its topics' hubs and it starts at their positions (:func:`start_on_the_hubs`).
Any other shared stream reads through its own consumer first and attaches for the handoff
(:func:`attach_for_handoff`, then :mod:`.source`). Runs in the request's greenlet, within
the setup's timeout; every hub attached is put in the caller's ``hubs`` at once, so a
failure part way leaves nothing the caller cannot release.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from .._access import check_allowed, partition_not_available
from .._assignments import Assignment, StartPosition, topics_of
from ..errors import TopicNotAvailableError
from ..options import Options
from . import registry
from .hub import TopicHub

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment

    from .._replay import ReplayBounds
    from .._request import StreamRequest
    from ..tokens import TokenGrant


def shares_the_tail(opts: Options, bounds: ReplayBounds) -> bool:
    """Whether the stream may read from the shared tail: the option is on, and nothing of
    the stream runs per record per stream (a ``filterer`` or ``message`` hook, which see
    each stream's own message) or ends it at a bound (``?until=``/``?limit=``)."""
    return (
        opts.shared_tail
        and not bounds
        and opts.filterer is None
        and "message" not in opts.kafka_event_handlers
    )


def start_on_the_hubs(
    request: StreamRequest,
    wanted: list[Assignment],
    timestamp: int | None,
    opts: Options,
    environ: WSGIEnvironment,
    grant: TokenGrant | None,
    hubs: dict[str, TopicHub],
) -> tuple[list[StartPosition], dict[str, int]] | None:
    """The starts and cursors of a shared stream that needs no consumer of its own, or
    ``None``: it reads through one (the hubs attached to stay in ``hubs`` for its handoff).
    """
    if _at_the_head(request, wanted, timestamp):
        # No consumer of its own: the stream starts on its topics' hubs.
        _attach_hubs(wanted, opts, environ, grant, hubs)
        return _starts_at_the_head(wanted, hubs)
    if _resumes_by_offset(wanted, timestamp, opts):
        # Back after a moment away: its next offsets may all be in the rings still.
        _attach_hubs(wanted, opts, environ, grant, hubs)
        return _starts_in_the_rings(wanted, hubs)
    return None


def attach_for_handoff(topics: Sequence[str], opts: Options, hubs: dict[str, TopicHub]) -> None:
    """Attach to the hubs of ``topics`` not in ``hubs`` yet: the stream reads through its own
    consumer until it has caught up with them."""
    for topic in topics:
        if topic not in hubs:
            hubs[topic] = registry.attach(topic, opts)


def _at_the_head(request: StreamRequest, wanted: list[Assignment], timestamp: int | None) -> bool:
    """Whether every partition starts at its end offset: no id, no time, no offset."""
    return (
        not request.last_event_id
        and timestamp is None
        and all(a.offset is None and a.timestamp is None for a in wanted)
    )


def _resumes_by_offset(wanted: list[Assignment], timestamp: int | None, opts: Options) -> bool:
    """Whether the stream resumes from offsets alone, in ids of offsets: then it may start
    in the hubs' rings (:func:`_starts_in_the_rings`)."""
    return (
        timestamp is None and opts.id_mode == "offset" and any(a.offset is not None for a in wanted)
    )


def _attach_hubs(
    wanted: list[Assignment],
    opts: Options,
    environ: WSGIEnvironment,
    grant: TokenGrant | None,
    hubs: dict[str, TopicHub],
) -> None:
    """Attach to the hub of every topic (into ``hubs``, whatever happens)."""
    check_allowed(topics_of(wanted), opts, environ, grant)  # existence: the hub's to find
    try:
        for topic in topics_of(wanted):
            hubs[topic] = registry.attach(topic, opts)
    except TopicNotAvailableError as missing:
        # Refused exactly as a stream of its own would be (a 404), on the hub's look at the
        # cluster's topics.
        if missing.existing is not None:
            check_allowed(topics_of(wanted), opts, environ, grant, missing.existing)
        raise


def _starts_in_the_rings(
    wanted: list[Assignment], hubs: dict[str, TopicHub]
) -> tuple[list[StartPosition], dict[str, int]] | None:
    """The starts and cursors of a resume whose every next offset lies in its hub's ring
    (the client was away a moment): it reads from there, as a stream that caught up does.
    ``None`` when one does not, or the resume needs Kafka (a partition the id leaves out,
    a timestamp, another cluster's cursor): the stream then reads through its own consumer.
    """
    offsets: dict[str, dict[tuple[str, int], int]] = {topic: {} for topic in hubs}
    starts = []
    for a in wanted:
        if a.partition is None:
            continue  # its other partitions: see below
        if a.offset is None or a.timestamp is not None or a.cluster is not None:
            return None
        offsets[a.topic][(a.topic, a.partition)] = a.offset
        starts.append(StartPosition(a.topic, a.partition, a.offset, "offset"))
    for a in wanted:
        if a.partition is None and set(hubs[a.topic].head.partitions) - offsets[a.topic].keys():
            return None  # partitions the id leaves out start at their first record
    if not all(topic_hub.covers(offsets[topic]) for topic, topic_hub in hubs.items()):
        return None
    cursors = {
        topic: topic_hub.ring.first_unhandled(offsets[topic]) for topic, topic_hub in hubs.items()
    }
    return starts, cursors


def _starts_at_the_head(
    wanted: list[Assignment], hubs: dict[str, TopicHub]
) -> tuple[list[StartPosition], dict[str, int]]:
    """Every wanted partition where its hub is now, and each hub's next batch: from there
    the stream reads every batch whole."""
    starts = []
    for assignment in wanted:
        topic_hub = hubs[assignment.topic]
        if assignment.partition is None:
            keys = list(topic_hub.head.partitions)
        else:
            keys = [(assignment.topic, assignment.partition)]
        for key in keys:
            position = topic_hub.head.position(key)
            if position is None:
                raise partition_not_available(*key)
            offset, timestamp = position
            starts.append(StartPosition(key[0], key[1], offset, "latest", timestamp=timestamp))
    return starts, {topic: topic_hub.ring.next_seq for topic, topic_hub in hubs.items()}
