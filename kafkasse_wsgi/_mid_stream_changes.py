"""What a stream's own pump does when its topics change under it.

Two changes move a running stream's consumer other than its records: partitions added to a
topic it reads whole join it (:func:`join_added_partitions`), and next offsets Kafka no
longer holds (retention, ``delete_records``, a truncated log) move as ``resume_policy``
says, told to the client as a :class:`~kafkasse_wsgi._protocol.Reset`
(:func:`continue_in_range`). Either way the stream's positions, and so its ids, follow.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

from ._assignments import Assignment, StartPosition
from ._consumer import partitions_to_join
from ._positions import Positions
from ._protocol import Reset
from ._replay import ReplayEnd
from ._start_offsets import apply_resume_policy
from .options import ResumePolicy


def join_added_partitions(
    consumer: Any,
    topics: Sequence[str],
    positions: Positions,
    replay: ReplayEnd | None,
    log: logging.Logger | logging.LoggerAdapter,
) -> None:
    """Partitions added to ``topics`` (read whole) join the stream from their first offset.

    Looked at after each metadata refresh (``metadata_max_age_ms``, see _kafka_config.py).
    ``assign`` keeps the positions of the partitions already assigned; ids name the new
    ones from now on, so a resume continues them too. A partition without a leader yet
    waits for the next refresh, asked for at once.
    """
    added = partitions_to_join(consumer, topics)
    if not added:
        return
    assigned = consumer.assignment()
    first = consumer.beginning_offsets(added)
    consumer.assign([*assigned, *added])
    for tp in added:
        consumer.seek(tp, first[tp])
        # timestamp 0: from the start of its log, a resume by time starts there too.
        start = StartPosition(tp.topic, tp.partition, first[tp], "added", timestamp=0)
        positions.add(start)
        if replay is not None:
            replay.add(start)
    log.info(
        "partitions added to the topic join the stream: %s",
        ", ".join(f"{tp.topic}/{tp.partition}@{first[tp]}" for tp in added),
    )


def continue_in_range(
    consumer: Any,
    out_of_range: dict[Any, int],
    positions: Positions,
    resume_policy: ResumePolicy,
    log: logging.Logger | logging.LoggerAdapter,
) -> Reset | None:
    """Kafka no longer holds these partitions' next offsets: apply ``resume_policy``; the
    :class:`Reset` to queue before the events from there (``None``: nothing moved).

    Retention or ``delete_records`` removed data the stream had not read yet (too old),
    or the log was truncated under it (too new). Each partition moves as the policy says;
    with ``error`` this raises and the stream ends, its id still naming the first offset
    not delivered.
    """
    partitions = list(out_of_range)
    first = consumer.beginning_offsets(partitions)
    end = consumer.end_offsets(partitions)
    now_ms = int(time.time() * 1000)
    moved = []
    for tp, offset in out_of_range.items():
        wanted = Assignment(tp.topic, tp.partition, offset=offset)
        position = apply_resume_policy(tp, wanted, first[tp], end[tp], resume_policy, log, now_ms)
        # In range again (a race with the deletion): the same offset, nothing to tell.
        consumer.seek(tp, position.offset)
        if position.source == "reset":
            positions.move(tp.topic, tp.partition, position.offset, position.timestamp or 0)
            moved.append(position)
    return Reset(moved, positions.event_id()) if moved else None
