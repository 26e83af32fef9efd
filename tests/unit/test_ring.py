"""_tail/ring.py: a hub's batches, formatted once for aligned clients, exactly for the others."""

from __future__ import annotations

import json

import pytest

from kafkasse_wsgi._assignments import StartPosition
from kafkasse_wsgi._filters import compile_filter
from kafkasse_wsgi._positions import Positions
from kafkasse_wsgi._tail.ring import SharedRecord, TailBatch, TailRing, deliver

PARTITIONS = (("t", 0), ("t", 1), ("t", 2))


def record(partition: int, offset: int, value: int | None = None) -> SharedRecord:
    data = None if value is None else json.dumps({"n": value, "p": partition})
    return SharedRecord("t", partition, offset, 1_000 + offset, data)


def batch(seq: int, before: tuple[int, ...], records: list[SharedRecord]) -> TailBatch:
    return TailBatch(seq, records, PARTITIONS, before, (0, 0, 0))


def positions_at(offsets: tuple[int, ...], id_mode: str = "offset") -> Positions:
    starts = [
        StartPosition("t", p, offset, "latest", timestamp=0)
        for (_, p), offset in zip(PARTITIONS, offsets, strict=True)
    ]
    return Positions(starts, id_mode=id_mode, cluster_id="c")


def test_a_batch_knows_the_positions_after_it() -> None:
    b = batch(0, (5, 0, 9), [record(0, 5, 1), record(0, 6, 2), record(2, 9, 3)])
    assert b.after_offsets == (7, 0, 10)
    assert b.after_timestamps == (1_007, 0, 1_010)


@pytest.mark.parametrize("id_mode", ["offset", "timestamp", "cursor"])
@pytest.mark.parametrize("text", [None, "n > `1`"])
def test_the_shared_bytes_are_what_an_aligned_client_would_format_itself(
    id_mode: str, text: str | None
) -> None:
    event_filter = compile_filter(text, None) if text else None
    b = batch(0, (5, 0, 9), [record(0, 5, 1), record(1, 0), record(0, 6, 2), record(2, 9, 3)])
    shared = b.shared_delivery(id_mode, "c", True, event_filter)
    own = positions_at((5, 0, 9), id_mode)
    mine = deliver(b, own, True, event_filter, {})
    assert shared.chunk == mine.chunk
    assert (shared.sent, shared.filtered, shared.skipped) == (mine.sent, mine.filtered, 1)
    assert b.shared_delivery(id_mode, "c", True, event_filter) is shared  # formatted once


def test_a_client_skips_what_it_handled_and_partitions_it_does_not_read() -> None:
    b = batch(0, (5, 0, 9), [record(0, 5, 1), record(0, 6, 2), record(2, 9, 3)])
    starts = [StartPosition("t", 0, 6, "offset")]  # handled 5 already, reads partition 0 only
    own = Positions(starts)
    delivery = deliver(b, own, False, None, {})
    assert delivery.chunk.decode().splitlines() == ['{"n": 2, "p": 0}']
    assert own.next_offset("t", 0) == 7


def test_positions_at_the_hub_are_aligned_and_adopt_its_positions() -> None:
    b = batch(0, (5, 0, 9), [record(0, 5, 1)])
    own = positions_at((5, 0, 9))
    assert own.is_at(b.partitions, b.before_offsets, b.before_timestamps)
    assert not positions_at((4, 0, 9)).is_at(b.partitions, b.before_offsets, b.before_timestamps)
    shared = b.shared_delivery("offset", "c", True, None)
    assert shared.positions is not None
    own.adopt(shared.positions)
    assert own.next_offsets() == {("t", 0): 6, ("t", 1): 0, ("t", 2): 9}
    assert own.event_id() == shared.positions.event_id()


def test_the_ring_forgets_the_oldest_past_its_event_bound_but_keeps_the_newest() -> None:
    ring = TailRing(max_events=3, max_bytes=10**9, max_age_s=3600)
    for seq in range(3):
        ring.append(batch(seq, (seq * 2, 0, 0), [record(0, seq * 2, 1), record(0, seq * 2 + 1, 2)]))
    assert (ring.first_seq, ring.next_seq, ring.events) == (2, 3, 2)
    assert ring.get(1) is None and ring.get(2) is not None


def test_the_ring_forgets_by_bytes_and_by_age() -> None:
    ring = TailRing(max_events=10**6, max_bytes=1, max_age_s=3600)
    ring.append(batch(0, (0, 0, 0), [record(0, 0, 1)]))
    ring.append(batch(1, (1, 0, 0), [record(0, 1, 1)]))
    assert ring.first_seq == 1
    aged = TailRing(max_events=10**6, max_bytes=10**9, max_age_s=0.001)
    aged.append(batch(0, (0, 0, 0), [record(0, 0, 1)]))
    aged.append(batch(1, (1, 0, 0), [record(0, 1, 1)]))
    old = aged.get(0)
    assert old is not None
    old.born -= 1
    aged.trim()
    assert aged.first_seq == 1


def test_first_unhandled_is_the_first_batch_with_a_record_at_or_past_the_client() -> None:
    ring = TailRing(max_events=100, max_bytes=10**9, max_age_s=3600)
    ring.append(batch(0, (0, 0, 0), [record(0, 0, 1), record(1, 0, 1)]))
    ring.append(batch(1, (1, 1, 0), [record(0, 1, 1)]))
    ring.append(batch(2, (2, 1, 0), [record(2, 0, 1)]))
    assert ring.first_unhandled({("t", 0): 0, ("t", 1): 1, ("t", 2): 0}) == 0
    assert ring.first_unhandled({("t", 0): 1, ("t", 1): 1, ("t", 2): 0}) == 1
    assert ring.first_unhandled({("t", 0): 2, ("t", 1): 1, ("t", 2): 0}) == 2
    assert ring.first_unhandled({("t", 0): 2, ("t", 1): 1, ("t", 2): 1}) == 3


def test_bytes_formatted_for_clients_count_against_the_bound_at_once() -> None:
    """Between two hub polls clients format the batches (ids of every partition): the ring
    forgets its oldest batches then, not only when the hub polls again."""
    ring = TailRing(max_events=10**6, max_bytes=4_000, max_age_s=3600)
    for seq in range(3):
        ring.append(batch(seq, (seq, 0, 0), [record(0, seq, seq)]))
    assert ring.first_seq == 0
    for seq in range(3):
        formatted = ring.get(seq)
        assert formatted is not None
        formatted.shared_delivery("cursor", "c" * 2_000, True, None)
    assert ring.first_seq == ring.next_seq - 1  # past the bound: the newest batch only
