"""_message.py: the default deserializer and the event's ``data`` serialisation."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import pytest

from kafkasse_wsgi._message import (
    KafkaMessage,
    default_deserializer,
    default_event_data,
    serialize_message,
)
from kafkasse_wsgi._sse import format_event
from kafkasse_wsgi.errors import DeserializationError


def make(value: Any, key: bytes | None = None) -> KafkaMessage:
    return KafkaMessage("topicA", 0, 12345, 1527858324658, key, value)


def test_json_object_gets_kafka_metadata() -> None:
    message = default_deserializer(make(b'{"some":"event"}', key=b"k1")).message
    assert message == {
        "some": "event",
        "_kafka": {
            "topic": "topicA",
            "partition": 0,
            "offset": 12345,
            "timestamp": 1527858324658,
            "key": "k1",
        },
    }


def test_missing_key_is_null_in_metadata() -> None:
    assert default_deserializer(make(b"{}")).message["_kafka"]["key"] is None


def test_non_utf8_key_is_replaced_not_fatal() -> None:
    assert default_deserializer(make(b"{}", key=b"\xff")).message["_kafka"]["key"] == "\ufffd"


def test_existing_kafka_field_is_overwritten() -> None:
    message = default_deserializer(make(b'{"_kafka":"spoof"}')).message
    assert message["_kafka"]["offset"] == 12345


def test_deserializer_returns_the_same_message_object() -> None:
    kafka_message = make(b"{}")
    assert default_deserializer(kafka_message) is kafka_message


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(b"[1,2]", [1, 2], id="array"),
        pytest.param(b'"text"', "text", id="string"),
        pytest.param(b"42", 42, id="number"),
        pytest.param(b"null", None, id="null"),
        pytest.param(b"true", True, id="bool"),
        pytest.param(b' \n{"a":1}\n ', {"a": 1}, id="surrounding-whitespace"),
    ],
)
def test_non_object_json_is_kept_without_metadata(value: bytes, expected: Any) -> None:
    message = default_deserializer(make(value)).message
    if isinstance(expected, dict):
        assert "_kafka" in message
        del message["_kafka"]
    assert message == expected


def test_utf8_text_is_decoded() -> None:
    assert default_deserializer(make('{"t":"é😀"}'.encode())).message["t"] == "é😀"


def test_str_value_from_a_value_deserializer_is_parsed() -> None:
    assert default_deserializer(make('{"a":1}')).message["a"] == 1


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(None, id="tombstone"),
        pytest.param(b"\xff\xfe", id="invalid-utf8"),
        pytest.param(b'"\xed\xa0\x80"', id="utf8-encoded-surrogate"),
        pytest.param("[1]".encode("utf-16"), id="utf16-with-bom"),
        pytest.param('{"a":1}'.encode("utf-16-le"), id="utf16-without-bom"),
        pytest.param('{"a":1}'.encode("utf-32"), id="utf32"),
        pytest.param(b"\xef\xbb\xbf{}", id="utf8-bom"),
        pytest.param(b"", id="empty"),
        pytest.param(b"not json", id="text"),
        pytest.param(b'{"a":1', id="truncated"),
        pytest.param(b"{'a':1}", id="single-quotes"),
        pytest.param(b"{} {}", id="two-documents"),
        pytest.param(b'{"a":NaN}', id="nan"),
        pytest.param(b"Infinity", id="infinity"),
        pytest.param(b"-Infinity", id="minus-infinity"),
        pytest.param(b"[" * 100_000, id="deeply-nested"),
    ],
)
def test_undecodable_value_raises_deserialization_error(value: Any) -> None:
    """UTF-16/32 and encoded surrogates used to pass (``json.loads(bytes)`` guesses the
    encoding); NaN passed and came out as a bare word browsers can't parse; deep nesting
    raised RecursionError."""
    kafka_message = make(value)
    with pytest.raises(DeserializationError):
        default_deserializer(kafka_message)
    assert kafka_message.message is None


def test_from_record_copies_the_consumer_record() -> None:
    record = SimpleNamespace(
        topic="t",
        partition=2,
        offset=9,
        timestamp=5,
        key=b"k",
        value=b"{}",
        headers=[("h", b"v")],
    )
    message = KafkaMessage.from_record(record)
    assert (message.topic, message.partition, message.offset, message.timestamp) == ("t", 2, 9, 5)
    assert (message.key, message.value, message.headers) == (b"k", b"{}", [("h", b"v")])
    assert message.message is None
    assert repr(message) == "KafkaMessage(t/2@9)"


def test_headers_default_to_empty_list() -> None:
    assert make(b"{}").headers == []


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        pytest.param({"a": 1, "b": [1, 2]}, '{"a":1,"b":[1,2]}', id="compact"),
        pytest.param({"t": "é😀"}, '{"t":"é😀"}', id="utf8-not-escaped"),
        pytest.param({"t": "a\nb"}, '{"t":"a\\nb"}', id="newline-escaped"),
        pytest.param("x", '"x"', id="string"),
        pytest.param(None, "null", id="null"),
        pytest.param({"b": 1, "a": 2}, '{"b":1,"a":2}', id="key-order-kept"),
        pytest.param({"when": b"x"}, '{"when":"b\'x\'"}', id="unserialisable-as-str"),
    ],
)
def test_serialize_message(message: Any, expected: str) -> None:
    assert serialize_message(message) == expected


def test_deserialized_message_round_trips_to_event_bytes() -> None:
    kafka_message = default_deserializer(make(b'{"some":"event"}'))
    data = serialize_message(kafka_message.message)
    assert format_event(data, event_id="[]") == (
        b'event: message\nid: []\ndata: {"some":"event","_kafka":{"topic":"topicA",'
        b'"partition":0,"offset":12345,"timestamp":1527858324658,"key":null}}\n\n'
    )


def test_escaped_lone_surrogate_survives_to_the_wire() -> None:
    """Regression: ``"\\ud800"`` is valid JSON; formatting its event raised
    UnicodeEncodeError and ended the stream of every client reading that topic."""
    kafka_message = default_deserializer(make(b'{"a":"\\ud800"}'))
    event = format_event(serialize_message(kafka_message.message), event=None)
    assert event.startswith(b'data: {"a":"\\ud800",')
    assert json.loads(event[len(b"data: ") : -2])["a"] == "\ud800"


# --- The fast path: same events as default_deserializer + serialize_message ------------------

FAST_PATH_VALUES = [
    b'{"a": 1}',
    b"{}",
    b"{ }",
    b'{"a": {"b": [1, 2, {"c": null}]}, "s": "caf\xc3\xa9 \\u2603 \\ud800"}',
    b'{\n  "multi": "line",\n  "n": 2\n}\n',
    b'{"big": 123456789012345678901234567890}',
    b'{"_kafka": "theirs", "x": 1}',
    b"[1, 2, 3]",
    b'"just a string"',
    b"123456789012345678901234567890",
    b"null",
]
FAST_PATH_REJECTED = [
    None,
    b"",
    b"not json",
    b"\xff\xfe{}",
    b'{"a": NaN}',
    b"\xef\xbb\xbf{}",
    b"[" * 5000,
]


@pytest.fixture(params=["orjson", "json"], autouse=False)
def json_parser(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a test with orjson (the ``fast`` extra) and with the json module alone."""
    from kafkasse_wsgi import _message as message

    if request.param == "json":
        monkeypatch.setattr(message, "_orjson_loads", None)
    elif message._orjson_loads is None:
        pytest.importorskip("orjson")
    return str(request.param)


def _record(value, key=b"k1"):
    from kafka.consumer.fetcher import ConsumerRecord

    return ConsumerRecord(
        "topic-\u00e9", 3, 0, 42, 1_700_000_000_000, 0, key, value, [], None, 0, 0, 0
    )


@pytest.mark.parametrize("value", FAST_PATH_VALUES)
def test_fast_path_gives_the_same_event_as_the_default_deserializer(
    value: bytes, json_parser: str
) -> None:
    record = _record(value)
    slow = serialize_message(default_deserializer(KafkaMessage.from_record(record)).message)
    fast = default_event_data(record)
    assert json.loads(fast) == json.loads(slow)


@pytest.mark.parametrize("value", FAST_PATH_REJECTED)
def test_fast_path_skips_exactly_what_the_default_deserializer_skips(value, json_parser) -> None:
    record = _record(value)
    with pytest.raises(DeserializationError):
        default_deserializer(KafkaMessage.from_record(record))
    with pytest.raises(DeserializationError):
        default_event_data(record)


def test_fast_path_keeps_big_integers_exact_when_it_reserialises(json_parser: str) -> None:
    """Regression: orjson reads integers beyond 64 bits as floats; a value that had to be
    re-serialised (it carried its own _kafka) lost digits."""
    data = json.loads(
        default_event_data(_record(b'{"_kafka": 1, "big": 123456789012345678901234567890}'))
    )
    assert data["big"] == 123456789012345678901234567890
    assert data["_kafka"]["topic"] == "topic-\u00e9" and data["_kafka"]["key"] == "k1"


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_serialize_message_refuses_nan_and_infinity_as_undeserialisable(value: float) -> None:
    with pytest.raises(DeserializationError, match="NaN or Infinity"):
        serialize_message({"reading": [1, {"x": value}]})


def test_serialize_message_lets_a_circular_structure_fail_as_a_bug() -> None:
    message: dict[str, object] = {}
    message["self"] = message
    with pytest.raises(ValueError, match="Circular") as raised:
        serialize_message(message)
    assert not isinstance(raised.value, DeserializationError)
