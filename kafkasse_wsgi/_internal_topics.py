"""Which topics belong to the Kafka ecosystem's own machinery, and are never served by default.

Kafka (``__consumer_offsets``), a schema registry (``_schemas``), Confluent's components
(``_confluent-*``), Kafka Connect (``connect-configs`` holds connector configurations, often
with credentials) and Kafka Streams (``*-changelog``, ``*-repartition``) keep their state in
topics beside the application's. With ``allowed_topics=None`` they are not served, and a glob
in a subscriber token never matches them: only a name listed exactly serves one. Pure.
"""

from __future__ import annotations

__all__ = ["is_internal_topic"]

#: Kafka Connect's default topic names (distributed mode).
CONNECT_TOPICS = frozenset({"connect-configs", "connect-offsets", "connect-status"})
#: Kafka Streams' internal topics: ``<application.id>-<store or operator>-<suffix>``.
STREAMS_SUFFIXES = ("-changelog", "-repartition")


def is_internal_topic(topic: str) -> bool:
    """Whether ``topic`` is the machinery's: served only when ``allowed_topics`` names it."""
    return topic.startswith("_") or topic in CONNECT_TOPICS or topic.endswith(STREAMS_SUFFIXES)
