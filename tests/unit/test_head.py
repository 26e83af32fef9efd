"""_tail/head.py: where a hub stands, and which next offsets its ring covers (no broker)."""

from __future__ import annotations

import json

from kafkasse_wsgi._assignments import StartPosition
from kafkasse_wsgi._tail.head import HeadPositions
from kafkasse_wsgi._tail.ring import SharedRecord


def record(partition: int, offset: int) -> SharedRecord:
    return SharedRecord("t", partition, offset, 1_000 + offset, json.dumps({"n": offset}))


def head_at(*offsets: int) -> HeadPositions:
    head = HeadPositions()
    for partition, offset in enumerate(offsets):
        head.add(StartPosition("t", partition, offset, "latest", timestamp=500))
    return head


def test_a_batch_carries_the_positions_before_it_and_moves_the_head_past_it() -> None:
    head = head_at(5, 9)
    batch = head.batch(0, [record(0, 5), record(0, 6), record(1, 9)])
    assert (batch.before_offsets, batch.before_timestamps) == ((5, 9), (500, 500))
    assert head.position(("t", 0)) == (7, 1_007)
    assert head.position(("t", 1)) == (10, 1_010)
    assert head.position(("t", 2)) is None


def test_with_an_empty_ring_only_the_heads_own_positions_are_covered() -> None:
    head = head_at(5, 9)
    assert head.covers({("t", 0): 5, ("t", 1): 9}, None)
    assert not head.covers({("t", 0): 4}, None)
    assert not head.covers({("t", 2): 0}, None)  # a partition the hub does not read


def test_the_ring_covers_from_its_oldest_batch_to_the_head() -> None:
    head = head_at(5, 9)
    oldest = head.batch(0, [record(0, 5), record(0, 6)])
    head.batch(1, [record(0, 7)])
    assert head.covers({("t", 0): 5}, oldest)
    assert head.covers({("t", 0): 8}, oldest)  # the head's position itself
    assert not head.covers({("t", 0): 4}, oldest)
    assert not head.covers({("t", 0): 9}, oldest)  # past the head


def test_a_joined_partition_is_covered_from_where_it_joined_and_told_with_the_next_batch() -> None:
    head = head_at(5)
    oldest = head.batch(0, [record(0, 5)])
    head.join(StartPosition("t", 1, 3, "added", timestamp=0))
    assert head.covers({("t", 1): 3}, oldest)  # not in the oldest batch: from its first offset
    assert not head.covers({("t", 1): 2}, oldest)
    joined = head.batch(1, [record(1, 3)])
    assert [(start.topic, start.partition) for start in joined.added] == [("t", 1)]
    assert head.joined == []
    assert joined.partitions == (("t", 0), ("t", 1))
