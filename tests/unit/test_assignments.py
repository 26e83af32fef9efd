"""_assignments.py parsing: topic names, assignment objects, Last-Event-ID and ``since``.

Resolving against brokers lives in _start_offsets.py and is tested with a real Kafka elsewhere.
"""

from __future__ import annotations

from typing import Any

import pytest

from kafkasse_wsgi._assignments import (
    Assignment,
    parse_assignments,
    parse_last_event_id,
    parse_since,
    topics_of,
)
from kafkasse_wsgi.errors import InvalidAssignmentError

A = Assignment


# -- parse_assignments: valid input ---------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(["a"], [A("a")], id="one-name"),
        pytest.param(["a", "b"], [A("a"), A("b")], id="list-of-names"),
        pytest.param(("a", "b"), [A("a"), A("b")], id="tuple-of-names"),
        pytest.param("a", [A("a")], id="plain-string"),
        pytest.param("a,b", [A("a"), A("b")], id="comma-string"),
        pytest.param(" a , b ", [A("a"), A("b")], id="comma-string-spaces-stripped"),
        pytest.param(["a,b"], [A("a"), A("b")], id="comma-string-in-list"),
        pytest.param(["a,b", "c"], [A("a"), A("b"), A("c")], id="mixed-comma-and-names"),
        pytest.param(["a", "b", "a"], [A("a"), A("b")], id="duplicate-names-collapse"),
        pytest.param("a,a", [A("a")], id="duplicate-in-comma-string-collapse"),
        pytest.param(
            ["a", {"topic": "a"}], [A("a")], id="duplicate-name-and-topic-object-collapse"
        ),
        pytest.param([{"topic": "a"}], [A("a")], id="object-without-partition"),
        pytest.param([{"topic": "a", "partition": 0}], [A("a", 0)], id="object-with-partition"),
        pytest.param(
            [{"topic": "a", "partition": 1, "offset": 42}],
            [A("a", 1, offset=42)],
            id="object-with-offset",
        ),
        pytest.param(
            [{"topic": "a", "partition": 1, "timestamp": 1527858324658}],
            [A("a", 1, timestamp=1527858324658)],
            id="object-with-timestamp",
        ),
        pytest.param(
            [{"topic": "a", "partition": 1, "offset": 3, "timestamp": 9}],
            [A("a", 1, offset=3, timestamp=9)],
            id="object-with-offset-and-timestamp-keeps-both",
        ),
        pytest.param(
            [{"topic": "a", "partition": 0, "offset": 0}, {"topic": "a", "partition": 1}],
            [A("a", 0, offset=0), A("a", 1)],
            id="two-partitions-of-one-topic",
        ),
        pytest.param(
            [{"topic": "a", "partition": 0, "offset": None}],
            [A("a", 0)],
            id="null-offset-is-absent",
        ),
        pytest.param(
            [{"topic": "a", "partition": 2**31 - 1, "offset": 2**63 - 1}],
            [A("a", 2**31 - 1, offset=2**63 - 1)],
            id="largest-partition-and-offset",
        ),
        pytest.param(["a" * 249], [A("a" * 249)], id="longest-name"),
        pytest.param(["Az09._-"], [A("Az09._-")], id="every-allowed-character"),
        pytest.param(["..."], [A("...")], id="three-dots-is-a-name"),
        pytest.param(["__consumer_offsets"], [A("__consumer_offsets")], id="internal-name-parses"),
    ],
)
def test_parse_assignments_accepts(value: Any, expected: list[Assignment]) -> None:
    assert parse_assignments(value) == expected


# -- parse_assignments: invalid input --------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("", id="empty"),
        pytest.param("a" * 250, id="too-long"),
        pytest.param("a%b", id="percent"),
        pytest.param("a b", id="inner-space"),
        pytest.param("a/b", id="slash"),
        pytest.param("a:b", id="colon"),
        pytest.param("é", id="unicode-letter"),
        pytest.param("a\u0660", id="unicode-digit"),
        pytest.param("a\x00", id="nul"),
        pytest.param("a\x07b", id="bell"),
        pytest.param("a\x7f", id="del"),
        pytest.param(".", id="dot"),
        pytest.param("..", id="dot-dot"),
    ],
)
@pytest.mark.parametrize("form", ["name", "object"])
def test_parse_assignments_rejects_invalid_topic_name(name: str, form: str) -> None:
    value = [name] if form == "name" else [{"topic": name}]
    with pytest.raises(InvalidAssignmentError, match="invalid topic name"):
        parse_assignments(value)


@pytest.mark.parametrize("name", ["a\n", "a\r\n", "\na", "a\nb"])
def test_parse_assignments_rejects_newline_in_topic_object(name: str) -> None:
    """Regression: the topic pattern ended in ``$``, which also matches before a final
    newline, so ``{"topic": "a\\n"}`` was accepted."""
    with pytest.raises(InvalidAssignmentError, match="invalid topic name"):
        parse_assignments([{"topic": name}])


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("a,,b", id="empty-between-commas"),
        pytest.param("a,", id="trailing-comma"),
        pytest.param(",", id="only-comma"),
        pytest.param("", id="empty-string"),
    ],
)
def test_parse_assignments_rejects_empty_names_in_comma_string(value: str) -> None:
    with pytest.raises(InvalidAssignmentError, match="invalid topic name"):
        parse_assignments(value)


@pytest.mark.parametrize("key", ["partition", "offset", "timestamp"])
@pytest.mark.parametrize(
    "bad",
    [
        pytest.param(True, id="true"),
        pytest.param(False, id="false"),
        pytest.param(-1, id="negative"),
        pytest.param(1.0, id="float"),
        pytest.param(1.5, id="fraction"),
        pytest.param("1", id="string"),
        pytest.param([1], id="list"),
        pytest.param(2**63, id="beyond-int64"),
    ],
)
def test_parse_assignments_rejects_non_integer_numbers(key: str, bad: Any) -> None:
    item = {"topic": "a", "partition": 0, key: bad}
    with pytest.raises(InvalidAssignmentError, match=f"{key} must be a non-negative integer"):
        parse_assignments([item])


def test_parse_assignments_rejects_partition_beyond_int32() -> None:
    with pytest.raises(InvalidAssignmentError, match="partition is out of range"):
        parse_assignments([{"topic": "a", "partition": 2**31}])


@pytest.mark.parametrize(
    "item",
    [
        pytest.param({"topic": "a", "partition": 0, "extra": 1}, id="extra-key"),
        pytest.param({"topic": "a", "Partition": 0}, id="wrong-case"),
        pytest.param({"name": "a"}, id="name-instead-of-topic"),
    ],
)
def test_parse_assignments_rejects_unknown_keys(item: dict) -> None:
    with pytest.raises(InvalidAssignmentError, match="take only topic, partition, offset"):
        parse_assignments([item])


@pytest.mark.parametrize(
    "item",
    [{"partition": 0}, {"topic": None}, {"topic": 5}, {"topic": ["a"]}],
)
def test_parse_assignments_rejects_object_without_string_topic(item: dict) -> None:
    with pytest.raises(InvalidAssignmentError, match="invalid topic name"):
        parse_assignments([item])


@pytest.mark.parametrize("key", ["offset", "timestamp"])
def test_parse_assignments_rejects_offset_or_timestamp_without_partition(key: str) -> None:
    with pytest.raises(InvalidAssignmentError, match="needs a partition"):
        parse_assignments([{"topic": "a", key: 5}])


def test_parse_assignments_rejects_same_partition_twice() -> None:
    with pytest.raises(InvalidAssignmentError, match="partition 0 of topic 'a' more than once"):
        parse_assignments(
            [{"topic": "a", "partition": 0}, {"topic": "a", "partition": 0, "offset": 1}]
        )


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(["a", {"topic": "a", "partition": 0}], id="name-then-partition"),
        pytest.param([{"topic": "a", "partition": 0}, "a"], id="partition-then-name"),
        pytest.param([{"topic": "a"}, {"topic": "a", "partition": 1}], id="topic-object"),
        pytest.param(["b,a", {"topic": "a", "partition": 0, "offset": 3}], id="comma-string"),
    ],
)
def test_parse_assignments_rejects_whole_topic_and_one_of_its_partitions(value: list) -> None:
    with pytest.raises(InvalidAssignmentError, match=r"same topic: a$"):
        parse_assignments(value)


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(None, id="none"),
        pytest.param(5, id="int"),
        pytest.param({"topic": "a"}, id="bare-object"),
        pytest.param(b"a", id="bytes"),
        pytest.param({"a", "b"}, id="set"),
    ],
)
def test_parse_assignments_rejects_non_list(value: Any) -> None:
    with pytest.raises(InvalidAssignmentError, match="must be a list"):
        parse_assignments(value)


@pytest.mark.parametrize("item", [None, 1, True, ["a"], b"a"])
def test_parse_assignments_rejects_items_that_are_neither_names_nor_objects(item: Any) -> None:
    with pytest.raises(InvalidAssignmentError, match="items must be topic names or objects"):
        parse_assignments([item])


@pytest.mark.parametrize("value", [[], ()])
def test_parse_assignments_rejects_empty_list(value: Any) -> None:
    with pytest.raises(InvalidAssignmentError, match="names no topic"):
        parse_assignments(value)


def test_parse_assignments_error_is_400_and_names_its_origin() -> None:
    with pytest.raises(InvalidAssignmentError) as caught:
        parse_assignments([{"topic": "a", "bogus": 1}], origin="Last-Event-ID")
    assert caught.value.status == 400
    assert caught.value.message.startswith("Last-Event-ID:")


# -- parse_last_event_id ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        pytest.param(
            '[{"topic":"a","partition":0,"offset":12346},{"topic":"b","partition":0,"offset":78}]',
            [A("a", 0, offset=12346), A("b", 0, offset=78)],
            id="our-own-event-id",
        ),
        pytest.param(
            '[{"topic":"a","partition":2,"timestamp":1527858324659}]',
            [A("a", 2, timestamp=1527858324659)],
            id="timestamp-id",
        ),
        pytest.param('["a","b"]', [A("a"), A("b")], id="topic-names"),
        pytest.param('["a,b"]', [A("a"), A("b")], id="comma-string-in-array"),
        pytest.param(' [ "a" ] ', [A("a")], id="whitespace-around-json"),
    ],
)
def test_parse_last_event_id_accepts(header: str, expected: list[Assignment]) -> None:
    assert parse_last_event_id(header) == expected


@pytest.mark.parametrize(
    "header",
    [
        pytest.param('"a"', id="json-string"),
        pytest.param('{"topic":"a","partition":0}', id="json-object"),
        pytest.param("5", id="json-number"),
        pytest.param("null", id="json-null"),
        pytest.param("true", id="json-bool"),
        pytest.param("NaN", id="json-nan"),
    ],
)
def test_parse_last_event_id_rejects_non_array_json(header: str) -> None:
    with pytest.raises(InvalidAssignmentError, match="must be a JSON array"):
        parse_last_event_id(header)


@pytest.mark.parametrize(
    "header",
    [
        pytest.param("a,b", id="bare-comma-string"),
        pytest.param("[", id="truncated"),
        pytest.param("[{'topic':'a'}]", id="single-quotes"),
        pytest.param("", id="empty"),
        pytest.param('["a"] x', id="trailing-garbage"),
        pytest.param("[" * 100_000, id="deeply-nested"),
    ],
)
def test_parse_last_event_id_rejects_unparseable(header: str) -> None:
    """Deeply nested arrays used to raise RecursionError: a 500 instead of a 400."""
    with pytest.raises(InvalidAssignmentError, match="not valid JSON"):
        parse_last_event_id(header)


@pytest.mark.parametrize(
    "header",
    [
        pytest.param("[]", id="empty-array"),
        pytest.param('[{"topic":"a","partition":-1,"offset":5}]', id="negative-partition"),
        pytest.param('[{"topic":"a","partition":0,"offset":-1}]', id="offset-minus-one"),
        pytest.param('[{"topic":"a","partition":0,"offset":1.0}]', id="float-offset"),
        pytest.param('[{"topic":"a","offset":1}]', id="offset-without-partition"),
        pytest.param('[[{"topic":"a"}]]', id="nested-array"),
        pytest.param('[{"topic":"a%"}]', id="bad-topic"),
    ],
)
def test_parse_last_event_id_validates_its_items(header: str) -> None:
    with pytest.raises(InvalidAssignmentError, match="Last-Event-ID"):
        parse_last_event_id(header)


# -- cursor ids --------------------------------------------------------------------------------


def test_parse_last_event_id_reads_a_cursor_naming_its_cluster() -> None:
    header = '{"cluster":"eUxRkwwCR9-bi6Uebkk6IA","positions":[["a",0,12,1001],["b",3,0,7]]}'
    assert parse_last_event_id(header) == [
        A("a", 0, offset=12, timestamp=1001, cluster="eUxRkwwCR9-bi6Uebkk6IA"),
        A("b", 3, offset=0, timestamp=7, cluster="eUxRkwwCR9-bi6Uebkk6IA"),
    ]


def test_parse_last_event_id_reads_a_cursor_of_a_broker_without_cluster_id() -> None:
    assert parse_last_event_id('{"cluster":null,"positions":[["a",0,1,2]]}') == [
        A("a", 0, offset=1, timestamp=2)
    ]


def test_a_cursor_is_our_own_id_read_back() -> None:
    """Every id a cursor-mode stream sends parses back to its own positions."""
    from kafkasse_wsgi._assignments import StartPosition
    from kafkasse_wsgi._positions import Positions

    positions = Positions(
        [StartPosition("we.ird-_9", 4, 10, "offset", timestamp=55)],
        id_mode="cursor",
        cluster_id="c1",
    )
    positions.advance("we.ird-_9", 4, 10, 60)
    assert parse_last_event_id(positions.event_id()) == [
        A("we.ird-_9", 4, offset=11, timestamp=61, cluster="c1")
    ]


@pytest.mark.parametrize(
    "header",
    [
        pytest.param('{"cluster":"c","positions":[]}', id="no-positions"),
        pytest.param('{"cluster":"c","positions":{}}', id="positions-not-a-list"),
        pytest.param('{"cluster":"c","positions":[["a",0,1]]}', id="three-fields"),
        pytest.param('{"cluster":"c","positions":[["a",0,1,2,3]]}', id="five-fields"),
        pytest.param('{"cluster":"c","positions":[["a",0,null,2]]}', id="null-offset"),
        pytest.param('{"cluster":"c","positions":[["a",0,-1,2]]}', id="negative-offset"),
        pytest.param('{"cluster":"c","positions":[["a",0,1,2.5]]}', id="float-timestamp"),
        pytest.param('{"cluster":"c","positions":[["a%",0,1,2]]}', id="bad-topic"),
        pytest.param('{"cluster":"c","positions":[[1,0,1,2]]}', id="topic-not-a-string"),
        pytest.param('{"cluster":"c","positions":[["a",0,1,2],["a",0,3,4]]}', id="twice"),
        pytest.param('{"cluster":"c","positions":[{"topic":"a"}]}', id="object-entry"),
        pytest.param('{"cluster":"c d","positions":[["a",0,1,2]]}', id="odd-cluster"),
        pytest.param('{"cluster":"' + "c" * 65 + '","positions":[["a",0,1,2]]}', id="long"),
        pytest.param('{"cluster":5,"positions":[["a",0,1,2]]}', id="cluster-number"),
        pytest.param('{"positions":[["a",0,1,2]]}', id="no-cluster"),
        pytest.param('{"cluster":"c","positions":[["a",0,1,2]],"x":1}', id="extra-key"),
    ],
)
def test_parse_last_event_id_validates_a_cursor(header: str) -> None:
    with pytest.raises(InvalidAssignmentError, match="Last-Event-ID"):
        parse_last_event_id(header)


# -- parse_since -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(0, 0, id="int-zero"),
        pytest.param(1527858324658, 1527858324658, id="int-epoch-ms"),
        pytest.param("1527858324658", 1527858324658, id="string-epoch-ms"),
        pytest.param(" 1527858324658 ", 1527858324658, id="string-epoch-ms-spaces"),
        pytest.param("0", 0, id="string-zero"),
        pytest.param(2**63 - 1, 2**63 - 1, id="int64-max"),
        pytest.param("2026-11-26T10:00:00Z", 1795687200000, id="iso-z"),
        pytest.param("2026-11-26T10:00:00z", 1795687200000, id="iso-lowercase-z"),
        pytest.param("2026-11-26T10:00:00.123Z", 1795687200123, id="iso-milliseconds"),
        pytest.param("2026-11-26T10:00:00.001999Z", 1795687200001, id="iso-microseconds-floor"),
        pytest.param("2026-11-26T10:00:00+00:00", 1795687200000, id="iso-utc-offset"),
        pytest.param("2026-11-26T11:00:00+01:00", 1795687200000, id="iso-plus-offset"),
        pytest.param("2026-11-26T05:30:00-04:30", 1795687200000, id="iso-minus-offset"),
        pytest.param("2026-11-26T10:00:00", 1795687200000, id="iso-naive-is-utc"),
        pytest.param("2026-11-26 10:00:00", 1795687200000, id="iso-space-separator"),
        pytest.param("2026-11-26", 1795651200000, id="iso-date-only"),
        pytest.param("1970-01-01T00:00:00Z", 0, id="epoch"),
        pytest.param("1970-01-01T00:00:00.001Z", 1, id="epoch-plus-one-ms"),
        pytest.param("9999-12-31T23:59:59.999999Z", 253402300799999, id="far-future-exact"),
    ],
)
def test_parse_since_accepts(value: Any, expected: int) -> None:
    assert parse_since(value) == expected


def test_parse_since_milliseconds_are_exact_for_every_millisecond() -> None:
    """Regression: float seconds times 1000 could land one millisecond off."""
    got = [parse_since(f"2026-11-26T10:00:00.{ms:03d}Z") % 1000 for ms in range(1000)]
    assert got == list(range(1000))


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(-1, id="negative-int"),
        pytest.param(2**63, id="beyond-int64"),
        pytest.param("1969-12-31T23:59:59Z", id="before-epoch"),
        pytest.param("1969-12-31T23:59:59.9995Z", id="half-ms-before-epoch"),
        pytest.param("0001-01-01T00:00:00+01:00", id="year-one"),
    ],
)
def test_parse_since_rejects_negative_or_out_of_range(value: Any) -> None:
    with pytest.raises(InvalidAssignmentError, match="non-negative timestamp"):
        parse_since(value)


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("yesterday", id="word"),
        pytest.param("", id="empty"),
        pytest.param("-1", id="negative-string"),
        pytest.param("1.5", id="decimal-string"),
        pytest.param("1e3", id="exponent"),
        pytest.param("12345678901234567890", id="twenty-digits"),
        pytest.param("2026-13-01T00:00:00Z", id="month-13"),
        pytest.param("2026-11-26T25:00:00Z", id="hour-25"),
        pytest.param("2026-11-26T10:00:00+25:00", id="offset-too-big"),
        pytest.param("\u0661\u0662\u0663", id="arabic-indic-digits"),
        pytest.param(True, id="bool"),
        pytest.param(1.5, id="float"),
        pytest.param(None, id="none"),
    ],
)
def test_parse_since_rejects_garbage(value: Any) -> None:
    with pytest.raises(InvalidAssignmentError, match="epoch milliseconds or an ISO-8601"):
        parse_since(value)


# -- topics_of -------------------------------------------------------------------------------


def test_topics_of_lists_each_topic_once_in_first_named_order() -> None:
    assignments = [A("b", 0), A("a"), A("b", 1), A("c", 0, offset=1)]
    assert topics_of(assignments) == ["b", "a", "c"]


def test_topics_of_nothing_is_empty() -> None:
    assert topics_of([]) == []
