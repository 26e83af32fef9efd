"""_positions.py: the event id lists every assigned partition with where to resume it."""

from __future__ import annotations

import json

import pytest

from kafkasse_wsgi._assignments import StartPosition
from kafkasse_wsgi._positions import Positions


def start(topic: str, partition: int, offset: int, timestamp: int | None = None) -> StartPosition:
    return StartPosition(topic, partition, offset, "latest", timestamp=timestamp)


def test_id_lists_every_partition_with_its_concrete_start_offset() -> None:
    positions = Positions([start("a", 0, 12), start("a", 1, 0), start("b", 0, 78)])
    assert positions.event_id() == (
        '[{"topic":"a","partition":0,"offset":12},'
        '{"topic":"a","partition":1,"offset":0},'
        '{"topic":"b","partition":0,"offset":78}]'
    )


def test_id_of_no_partitions_is_empty_array() -> None:
    assert Positions([]).event_id() == "[]"


def test_advance_moves_only_the_partition_that_sent_to_offset_plus_one() -> None:
    positions = Positions([start("a", 0, 12), start("a", 1, 5), start("b", 0, 78)])
    positions.advance("a", 1, 5, timestamp=1000)
    assert positions.event_id() == (
        '[{"topic":"a","partition":0,"offset":12},'
        '{"topic":"a","partition":1,"offset":6},'
        '{"topic":"b","partition":0,"offset":78}]'
    )


def test_resume_skips_nothing_on_quiet_partition() -> None:
    """A partition that sent nothing keeps the offset it started at: never -1."""
    positions = Positions([start("a", 0, 40), start("a", 1, 7)])
    for offset in range(40, 45):
        positions.advance("a", 0, offset, timestamp=0)
    assert positions.as_list() == [
        {"topic": "a", "partition": 0, "offset": 45},
        {"topic": "a", "partition": 1, "offset": 7},
    ]


def test_advance_never_moves_an_offset_back() -> None:
    positions = Positions([start("a", 0, 10)])
    positions.advance("a", 0, 20, timestamp=0)
    positions.advance("a", 0, 15, timestamp=0)
    assert positions.as_list() == [{"topic": "a", "partition": 0, "offset": 21}]


def test_event_id_is_cached_until_a_position_moves() -> None:
    positions = Positions([start("a", 0, 0)])
    first = positions.event_id()
    assert positions.event_id() is first
    positions.advance("a", 0, 0, timestamp=0)
    assert positions.event_id() == '[{"topic":"a","partition":0,"offset":1}]'


def test_advance_of_an_unassigned_partition_raises() -> None:
    positions = Positions([start("a", 0, 0)])
    with pytest.raises(KeyError):
        positions.advance("a", 1, 0, timestamp=0)


# -- use_timestamp_for_id --------------------------------------------------------------------


def test_timestamp_mode_starts_at_the_resolved_timestamp() -> None:
    positions = Positions(
        [start("a", 0, 12, timestamp=1_000), start("a", 1, 3, timestamp=2_000)],
        id_mode="timestamp",
    )
    assert positions.event_id() == (
        '[{"topic":"a","partition":0,"timestamp":1000},'
        '{"topic":"a","partition":1,"timestamp":2000}]'
    )


def test_timestamp_mode_without_a_start_timestamp_uses_zero() -> None:
    positions = Positions([start("a", 0, 12)], id_mode="timestamp")
    assert positions.as_list() == [{"topic": "a", "partition": 0, "timestamp": 0}]


def test_timestamp_mode_advances_to_timestamp_plus_one() -> None:
    positions = Positions([start("a", 0, 0, timestamp=1_000)], id_mode="timestamp")
    positions.advance("a", 0, 7, timestamp=1_527_858_324_658)
    assert positions.event_id() == '[{"topic":"a","partition":0,"timestamp":1527858324659}]'


@pytest.mark.parametrize(
    ("timestamps", "expected"),
    [
        pytest.param([5_000, 4_000], 5_001, id="older-producer-timestamp"),
        pytest.param([5_000, 5_000], 5_001, id="same-timestamp"),
        pytest.param([5_000, 6_000, 5_500], 6_001, id="late-arrival"),
        pytest.param([500], 1_000, id="before-the-start-time"),
        pytest.param([-1], 1_000, id="no-timestamp"),
    ],
)
def test_timestamp_mode_never_moves_backwards(timestamps: list[int], expected: int) -> None:
    positions = Positions([start("a", 0, 0, timestamp=1_000)], id_mode="timestamp")
    for offset, timestamp in enumerate(timestamps):
        positions.advance("a", 0, offset, timestamp)
    assert positions.as_list() == [{"topic": "a", "partition": 0, "timestamp": expected}]


# -- topic names -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "topic",
    ['quo"te', "back\\slash", "new\nline", "tab\t", "é", "😀", "\x00", "\u2028"],
)
def test_topic_names_needing_json_escaping_round_trip(topic: str) -> None:
    positions = Positions([start(topic, 0, 1), start("plain", 0, 2)])
    positions.advance(topic, 0, 5, timestamp=0)
    event_id = positions.event_id()
    assert "\n" not in event_id and "\r" not in event_id and "\0" not in event_id
    assert event_id.isascii()
    assert json.loads(event_id) == [
        {"topic": topic, "partition": 0, "offset": 6},
        {"topic": "plain", "partition": 0, "offset": 2},
    ]


def test_id_matches_a_plain_json_encoding() -> None:
    """The fragment-joined id is byte-identical to encoding the whole list at once."""
    positions = Positions([start("a.b_c-d", 3, 0), start('x"y', 0, 9)])
    positions.advance("a.b_c-d", 3, 41, timestamp=0)
    expected = json.dumps(
        [
            {"topic": "a.b_c-d", "partition": 3, "offset": 42},
            {"topic": 'x"y', "partition": 0, "offset": 9},
        ],
        separators=(",", ":"),
    )
    assert positions.event_id() == expected


# -- cursor ids --------------------------------------------------------------------------------


def test_cursor_id_names_the_cluster_and_both_positions_of_every_partition() -> None:
    positions = Positions(
        [start("a", 0, 12, timestamp=1_000), start("b", 3, 0, timestamp=2_000)],
        id_mode="cursor",
        cluster_id="eUxRkwwCR9-bi6Uebkk6IA",
    )
    positions.advance("a", 0, 12, timestamp=1_500)
    assert positions.event_id() == (
        '{"cluster":"eUxRkwwCR9-bi6Uebkk6IA","positions":[["a",0,13,1501],["b",3,0,2000]]}'
    )
    assert positions.as_list() == [
        {"topic": "a", "partition": 0, "offset": 13, "timestamp": 1_501},
        {"topic": "b", "partition": 3, "offset": 0, "timestamp": 2_000},
    ]


def test_cursor_id_moves_each_position_forward_only() -> None:
    positions = Positions([start("a", 0, 0, timestamp=0)], id_mode="cursor", cluster_id="c")
    positions.advance("a", 0, 0, timestamp=5_000)
    positions.advance("a", 0, 1, timestamp=4_000)  # the producer's clock went back
    assert json.loads(positions.event_id()) == {"cluster": "c", "positions": [["a", 0, 2, 5_001]]}


def test_cursor_id_of_a_broker_without_cluster_id_says_null() -> None:
    positions = Positions([start("a", 0, 7, timestamp=9)], id_mode="cursor")
    assert positions.event_id() == '{"cluster":null,"positions":[["a",0,7,9]]}'


def test_cursor_id_escapes_topic_names_and_stays_one_ascii_line() -> None:
    positions = Positions(
        [start('q"\n\u2028', 0, 1, timestamp=2)], id_mode="cursor", cluster_id="x"
    )
    event_id = positions.event_id()
    assert event_id.isascii() and "\n" not in event_id
    assert json.loads(event_id)["positions"] == [['q"\n\u2028', 0, 1, 2]]


def test_offset_ids_by_default_and_unknown_modes_are_refused() -> None:
    positions = Positions([start("a", 0, 3, timestamp=4)])
    assert positions.event_id() == '[{"topic":"a","partition":0,"offset":3}]'
    with pytest.raises(ValueError, match="id_mode"):
        Positions([], id_mode="offsets")


def test_move_after_a_reset_follows_the_offset_either_way_and_the_timestamp_forward_only() -> None:
    positions = Positions([start("a", 0, 5, timestamp=100), start("b", 0, 1, timestamp=100)])
    positions.move("a", 0, 40)  # data deleted under the stream: forward
    assert positions.event_id() == (
        '[{"topic":"a","partition":0,"offset":40},{"topic":"b","partition":0,"offset":1}]'
    )
    positions.move("a", 0, 20)  # the log was truncated under it: back
    positions.advance("a", 0, 20, timestamp=300)
    assert positions.as_list()[0] == {"topic": "a", "partition": 0, "offset": 21}
    by_time = Positions([start("a", 0, 5, timestamp=100)], id_mode="timestamp")
    by_time.move("a", 0, 40, timestamp=0)  # to the earliest: the time reached stays
    assert by_time.event_id() == '[{"topic":"a","partition":0,"timestamp":100}]'
    by_time.move("a", 0, 90, timestamp=500)  # to the latest: the time of the jump
    assert by_time.event_id() == '[{"topic":"a","partition":0,"timestamp":500}]'
