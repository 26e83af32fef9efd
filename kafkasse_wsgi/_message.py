"""One Kafka record on its way to a client, and the default way to turn it into an event.

A ``KafkaMessage`` is what ``deserializer`` and ``filterer`` see, as the Node original's
``kafkaMessage``: the record's fields plus ``message``, the value the client will receive.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any, Protocol

from .errors import DeserializationError


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


#: Strict JSON: ``NaN`` and ``Infinity`` would be re-serialised as bare words that a
#: browser's ``JSON.parse`` rejects, so a value holding them is skipped like any bad JSON.
_DECODER = json.JSONDecoder(parse_constant=_reject_constant)


class KafkaMessage:
    """A consumed record. ``message`` is set by the deserializer; ``topic``, ``partition``,
    ``offset`` and ``timestamp`` must be left as they are: event ids are built from them."""

    __slots__ = ("headers", "key", "message", "offset", "partition", "timestamp", "topic", "value")

    def __init__(
        self,
        topic: str,
        partition: int,
        offset: int,
        timestamp: int,
        key: bytes | None,
        value: bytes | None,
        headers: list[tuple[str, bytes | None]] | None = None,
    ) -> None:
        self.topic = topic
        self.partition = partition
        self.offset = offset
        self.timestamp = timestamp
        self.key = key
        self.value = value
        self.headers = headers or []
        self.message: Any = None

    @classmethod
    def from_record(cls, record: Any) -> KafkaMessage:
        """From a kafka-python ``ConsumerRecord``."""
        return cls(
            record.topic,
            record.partition,
            record.offset,
            record.timestamp,
            record.key,
            record.value,
            record.headers,
        )

    def kafka_meta(self) -> dict[str, Any]:
        """The ``_kafka`` block added to each event: where the message came from."""
        return kafka_meta_of(self)

    def __repr__(self) -> str:
        return f"KafkaMessage({self.topic}/{self.partition}@{self.offset})"


def _decode_key(key: bytes | None) -> str | None:
    if key is None:
        return None
    return key.decode("utf-8", errors="replace")


def deserialize(
    deserializer: Callable[[KafkaMessage], KafkaMessage | None], kafka_message: KafkaMessage
) -> KafkaMessage:
    """Run a user's deserializer: whatever it raises skips the message, never the stream.

    :raises DeserializationError: it raised (its own, or anything else, wrapped).
    """
    try:
        return deserializer(kafka_message) or kafka_message
    except DeserializationError:
        raise
    except Exception as exc:
        raise DeserializationError(f"deserializer raised {exc!r}") from exc


class DirectDeserializer(Protocol):
    """A deserializer that also makes an event's text straight from a record (the schema
    registry's), for the paths where no hook could see or change the message (a private
    stream without filters, the hub): no ``KafkaMessage``, one dump."""

    def event_data(self, record: Any) -> str: ...

    def ready(self, record: Any) -> bool:
        """Whether :meth:`event_data` will not wait (on a registry): a caller holding a
        processing slot lends it otherwise."""
        ...


def direct_of(deserializer: Any) -> DirectDeserializer | None:
    """``deserializer`` when it is a :class:`DirectDeserializer`, else ``None``."""
    if hasattr(deserializer, "event_data") and hasattr(deserializer, "ready"):
        return deserializer
    return None


def default_deserializer(kafka_message: KafkaMessage) -> KafkaMessage:
    """Parse the value as UTF-8 JSON and add ``_kafka`` metadata to it (when it's an object).

    :raises DeserializationError: the value is missing, not UTF-8 or not JSON.
    """
    message = _decode(_value_of(kafka_message), _UNPARSED)[0]
    if isinstance(message, dict):
        message["_kafka"] = kafka_message.kafka_meta()
    kafka_message.message = message
    return kafka_message


def serialize_message(message: Any) -> str:
    """The ``data`` of an event: compact JSON, UTF-8 left as it is.

    :raises DeserializationError: the message holds ``NaN`` or ``±Infinity``, which JSON has
        no form for (a browser's ``JSON.parse`` throws on them): per message, like a value
        that does not parse, the message is skipped and the stream goes on. Other failures
        (a circular structure: the deserializer is broken) propagate and end the stream.
    """
    try:
        return json.dumps(
            message, separators=(",", ":"), ensure_ascii=False, default=str, allow_nan=False
        )
    except ValueError:
        # Circular structures raise ValueError too: only NaN/Infinity are this message's data.
        json.dumps(message, default=str)
        raise DeserializationError("message holds NaN or Infinity, which are not JSON") from None


def default_event_data(record: Any) -> str:
    """The event data of the default deserializer, without re-serialising the value.

    Same result as :func:`default_deserializer` + :func:`serialize_message` (the value is
    parsed the same strict way, so the same messages are skipped), but a JSON object's own
    text is kept and ``"_kafka":{…}`` is appended before its closing brace: the hot path of
    a stream then does one parse and no dump. Used when no custom deserializer or filterer
    could change the message.

    :raises DeserializationError: the value is missing, not UTF-8 or not JSON.
    """
    message, text = decode_value(record)
    if not isinstance(message, dict):
        return text.strip()  # valid JSON as it is; no _kafka to add
    if "_kafka" in message:
        # Ours replaces theirs, so this one is re-serialised: parse it exactly (orjson reads
        # integers beyond 64 bits as floats).
        message = _DECODER.decode(text)
        message["_kafka"] = kafka_meta_of(record)
        return serialize_message(message)
    key = record.key
    meta = (
        f'"_kafka":{{"topic":{_json_string(record.topic)},"partition":{record.partition},'
        f'"offset":{record.offset},"timestamp":{record.timestamp},'
        f'"key":{"null" if key is None else json.dumps(_decode_key(key), ensure_ascii=False)}}}}}'
    )
    body = text.rstrip()[:-1]  # a JSON object's text ends with its closing brace
    return f"{body},{meta}" if message else f"{body}{meta}"


def decode_value(record: Any) -> tuple[Any, str]:
    """The record's value parsed (strict JSON, as :func:`default_deserializer`) and as text.

    :raises DeserializationError: the value is missing, not UTF-8 or not JSON.
    """
    value = _value_of(record)
    return _decode(value, _fast_loads(value))


def parse_value(record: Any) -> Any:
    """The record's value parsed as :func:`decode_value` does, without keeping its text.

    :raises DeserializationError: the value is missing, not UTF-8 or not JSON.
    """
    value = _value_of(record)
    message = _fast_loads(value)  # orjson parses only valid UTF-8
    return _decode(value, message)[0] if message is _UNPARSED else message


def parse_event_text(text: str) -> Any:
    """An event's data (JSON text we made or checked) parsed, for a filter to look at."""
    if _orjson_loads is not None:
        try:
            return _orjson_loads(text)
        except ValueError:
            pass  # the json module decides, as everywhere
    return _DECODER.decode(text)


def _value_of(record: Any) -> bytes:
    if record.value is None:
        raise DeserializationError("message has no value (a tombstone)")
    return record.value


def _decode(value: bytes | str, message: Any) -> tuple[Any, str]:
    """``value`` as text, and parsed unless orjson already did (``message``).

    Decoded strictly first: ``json.loads(bytes)`` would also guess UTF-16/32 and let
    UTF-8-encoded surrogates through ("surrogatepass"), which cannot be sent on.
    """
    try:
        text = value.decode("utf-8") if isinstance(value, (bytes, bytearray)) else value
        if message is _UNPARSED:
            message = _DECODER.decode(text)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise DeserializationError(f"value is not UTF-8 JSON: {exc}") from exc
    return message, text


def kafka_meta_of(record: Any) -> dict[str, Any]:
    """The ``_kafka`` block of a kafka-python record (see :meth:`KafkaMessage.kafka_meta`)."""
    return {
        "topic": record.topic,
        "partition": record.partition,
        "offset": record.offset,
        "timestamp": record.timestamp,
        "key": _decode_key(record.key),
    }


_UNPARSED = object()

_orjson_loads: Callable[[bytes | str], Any] | None
try:  # the "fast" extra: orjson parses several times faster than the json module
    from orjson import loads as _orjson_loads
except ImportError:  # pragma: no cover - depends on the environment
    _orjson_loads = None


def _fast_loads(value: bytes) -> Any:
    """Parse with orjson when it is installed and accepts the value, else ``_UNPARSED``.

    orjson is stricter than the json module in a few corners (lone surrogates, huge
    integers); whatever it refuses goes to the json module, which decides. So orjson only
    ever speeds up values both accept, and the same messages are skipped either way.
    """
    if _orjson_loads is None:
        return _UNPARSED
    try:
        return _orjson_loads(value)
    except ValueError:
        return _UNPARSED


@functools.lru_cache(maxsize=1024)
def _json_string(text: str) -> str:
    """A topic name as a JSON string; there are few topics and many messages."""
    return json.dumps(text)
