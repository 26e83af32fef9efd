"""Which requested topics a client may read: allowed, granted by its token and, when known,
existing. Never talks to Kafka; every refusal is the same 404, which never says why.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING

from .errors import TopicNotAvailableError
from .options import Options

if TYPE_CHECKING:
    from .options import WSGIEnvironment
    from .tokens import TokenGrant


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
