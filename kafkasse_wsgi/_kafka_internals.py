"""Every use of kafka-python's private attributes, behind one small function each.

kafka-python offers no public way to do these; each function tolerates a kafka-python whose
internals differ (it then does nothing, or answers "can't tell"), so an upgrade degrades a
speed-up or a check, never a stream. When upgrading kafka-python, this is the file to read.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kafka import KafkaConsumer, TopicPartition


def metadata_of(consumer: Any) -> Any:
    """kafka-python's metadata cache of ``consumer`` (``None`` if it has none we know)."""
    return getattr(getattr(consumer, "_client", None), "cluster", None)


def has_broker_connection(consumer: Any) -> bool:
    """Whether the consumer holds at least one connected broker connection.

    kafka-python keeps retrying in the background and a poll just comes back empty while the
    brokers are away; this is how a stream tells "no new data" from "no Kafka".
    """
    connections = getattr(getattr(consumer, "_client", None), "_conns", None)
    if connections is None:
        return True  # can't tell: never declare an outage on a guess
    return any(connection.connected() for connection in list(connections.values()))


def fetch_while_draining(consumer: KafkaConsumer) -> None:
    """Keep a partition's fetched records from waiting behind a fetch of quiet partitions.

    A poll takes fewer records than a fetch brings (``max_records``). kafka-python then sends
    the next fetch for the other partitions only (the one still draining is left out), and
    the broker holds that fetch for ``fetch_max_wait_ms`` when they are quiet: the busy
    partition's next records wait behind it, seconds per drained fetch (a replay of one
    busy partition beside quiet ones crawled). kafka-python's own signal for "records still
    pending, don't fetch yet" covers whole fetch responses only; this counts a response
    half drained as pending too, so the next fetch asks for every partition at once.
    """
    fetcher: Any = getattr(consumer, "_fetcher", None)
    fetched_records = getattr(fetcher, "fetched_records", None)
    if fetched_records is None or not hasattr(fetcher, "_next_partition_records"):
        return  # another kafka-python: leave it as it is

    def fetched_records_pending_too(*args: Any, **kwargs: Any) -> tuple[Any, bool]:
        records, partial = fetched_records(*args, **kwargs)
        return records, partial or bool(fetcher._next_partition_records)

    fetcher.fetched_records = fetched_records_pending_too


def connect_to_leaders(consumer: KafkaConsumer, partitions: Sequence[TopicPartition]) -> None:
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
