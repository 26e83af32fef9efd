"""The deserializer of schema registry topics: framed values and keys decoded into JSON.

It runs where any deserializer runs (the hub once per record for all its clients, or a
private stream's pump), so ``?filter=`` sees the decoded fields. A value that is not framed
takes today's path (UTF-8 JSON); a key that is not framed stays its UTF-8 text.

The event's data is what a JSON record's would be: the fields at the top level and ``_kafka``,
with ``key`` the decoded key and ``value_schema_id`` / ``key_schema_id`` when framed.

A record whose value cannot be decoded (the registry is down, the id is unknown, the payload
does not match) is skipped with a log line and counted, like bad JSON. A framed key the
registry does not know, or that does not decode, keeps its raw text instead (binary keys can
start like a frame); a registry that is down skips the record, as for values.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

from .._message import (
    KafkaMessage,
    default_deserializer,
    default_event_data,
    kafka_meta_of,
    parse_value,
    serialize_message,
)
from ..errors import DeserializationError
from . import avro, json_schema, protobuf
from .client import RegistryClient, RegistryError, RegistrySchema, RegistryUnavailable, SchemaCache
from .config import RegistryConfig
from .framing import HEADER_BYTES, schema_id_of

log = logging.getLogger(__name__)

Decoder = Callable[[bytes], Any]


class RegistryDeserializer:
    """``(KafkaMessage) -> KafkaMessage``, with one schema cache for the process's streams."""

    #: Options tell this deserializer from an application's own by it.
    is_schema_registry = True

    def __init__(self, config: RegistryConfig) -> None:
        self.config = config
        self.client = RegistryClient(config)
        self._decoders = SchemaCache(config.cache_size)
        self._references = SchemaCache(config.cache_size)
        #: The last record :meth:`ready` read the ids of, and those ids: the hub and the
        #: pump ask :meth:`ready` then :meth:`event_data` of each record.
        self._last_ids: tuple[Any, tuple[int | None, int | None]] = (None, (None, None))

    def __repr__(self) -> str:
        return f"RegistryDeserializer({self.config.safe_url!r})"

    def __call__(self, kafka_message: KafkaMessage) -> KafkaMessage:
        """As any deserializer: ``message`` set to the event (a user's hooks see this)."""
        value_id, key_id = self._ids(kafka_message)
        if value_id is None and key_id is None:
            return default_deserializer(kafka_message)
        kafka_message.message = self._event(kafka_message, value_id, key_id)
        return kafka_message

    def event_data(self, record: Any) -> str:
        """The event's text straight from a record, for the paths without hooks (a private
        stream with no filter, the hub): no ``KafkaMessage``, one dump.

        :raises DeserializationError: as :meth:`__call__`.
        """
        last, ids = self._last_ids
        value_id, key_id = ids if last is record else self._ids(record)
        if value_id is None and key_id is None:
            return default_event_data(record)
        message, key = self._parts(record, value_id, key_id)
        if _orjson_dumps is not None:
            if value_id is not None and isinstance(message, dict) and "_kafka" not in message:
                try:
                    return _event_text(record, message, value_id, key_id, key)
                except TypeError:  # an integer beyond 64 bits: the json module writes it
                    pass
            event = _with_meta(record, message, value_id, key_id, key)
            try:
                return _orjson_dumps(event).decode("utf-8")
            except TypeError:
                pass
        return serialize_message(_with_meta(record, message, value_id, key_id, key))

    def ready(self, record: Any) -> bool:
        """Whether decoding ``record`` needs no registry call (its schemas are cached, or
        it is not framed): a caller holding a processing slot lends it otherwise."""
        value_id, key_id = ids = self._ids(record)
        self._last_ids = (record, ids)
        has = self._decoders.has
        return (value_id is None or has(value_id)) and (key_id is None or has(key_id))

    def _ids(self, record: Any) -> tuple[int | None, int | None]:
        key_id = schema_id_of(record.key) if self.config.decode_keys else None
        return schema_id_of(record.value), key_id

    def _event(self, record: Any, value_id: int | None, key_id: int | None) -> Any:
        message, key = self._parts(record, value_id, key_id)
        return _with_meta(record, message, value_id, key_id, key)

    def _parts(self, record: Any, value_id: int | None, key_id: int | None) -> tuple[Any, Any]:
        """The record's value decoded, and its key decoded (``_RAW``: left as its text)."""
        if value_id is None:
            message = parse_value(record)
        else:
            message = self._decode(value_id, record.value, "value")
        if key_id is None or not isinstance(message, dict):
            return message, _RAW
        return message, self._decode_key(key_id, record.key)

    def _decode(self, schema_id: int, data: bytes, what: str) -> Any:
        """:raises DeserializationError: the schema cannot be had, or the payload not read."""
        try:
            decoder = self._decoders.get(schema_id, lambda: self._build(schema_id))
        except RegistryError as exc:
            raise DeserializationError(f"{what} schema {schema_id}: {exc}") from None
        try:
            return decoder(data[HEADER_BYTES:])
        except Exception as exc:  # fastavro, protobuf, jsonschema: each raises its own
            raise DeserializationError(
                f"{what} does not decode with schema {schema_id}: {type(exc).__name__}: {exc}"
            ) from None

    def _decode_key(self, schema_id: int, data: bytes) -> Any:
        try:
            return self._decode(schema_id, data, "key")
        except DeserializationError as exc:
            if isinstance(exc.__context__, RegistryUnavailable) or self._unavailable(schema_id):
                raise
            log.debug("key left as text: %s", exc)
            return _RAW

    def _unavailable(self, schema_id: int) -> bool:
        """Whether the last try for this id failed because the registry did not answer."""
        failure = self._decoders.failure(schema_id)
        return isinstance(failure, RegistryUnavailable)

    def _build(self, schema_id: int) -> Decoder:
        """The decoder of a schema id.

        :raises RegistryError: the schema cannot be had, or cannot be built (what fastavro,
            protobuf or jsonschema raised is wrapped: it is this schema's failure, remembered
            like an unknown id's, never the stream's).
        """
        schema = self.client.schema_by_id(schema_id)
        try:
            return self._decoder_of(schema_id, schema)
        except RegistryError:
            raise
        except Exception as exc:
            raise RegistryError(f"the schema cannot be used: {type(exc).__name__}: {exc}") from None

    def _decoder_of(self, schema_id: int, schema: RegistrySchema) -> Decoder:
        if schema.schema_type == "AVRO":
            return avro.build(schema, lambda s: [item for _, item in self._resolve(s)])
        if schema.schema_type == "PROTOBUF":
            return protobuf.build(schema_id, schema, self._resolve)
        if schema.schema_type == "JSON":
            return json_schema.build(schema, self._resolve, self.config.validate_json)
        raise RegistryError(f"schema type {schema.schema_type} is not supported")

    def _resolve(self, schema: RegistrySchema) -> list[tuple[str, RegistrySchema]]:
        """Every schema ``schema`` references, transitively, as (name, schema), deepest first."""
        ordered: list[tuple[str, RegistrySchema]] = []
        seen: set[tuple[str, int]] = set()

        def visit(current: RegistrySchema, depth: int) -> None:
            if depth > 32:
                raise RegistryError("schema references nest deeper than 32")
            for ref in current.references:
                if (ref.subject, ref.version) in seen:
                    continue
                seen.add((ref.subject, ref.version))
                referenced: RegistrySchema = self._references.get(
                    (ref.subject, ref.version),
                    functools.partial(self.client.schema_version, ref.subject, ref.version),
                )
                visit(referenced, depth + 1)
                ordered.append((ref.name, referenced))

        visit(schema, 0)
        return ordered


_RAW = object()

_orjson_dumps: Callable[[Any], bytes] | None
try:  # the "fast" extra: one dump per record is most of what decoding costs after fastavro
    from orjson import dumps as _orjson_dumps
except ImportError:  # pragma: no cover - depends on the environment
    _orjson_dumps = None


def _with_meta(
    record: Any, message: Any, value_id: int | None, key_id: int | None, key: Any
) -> Any:
    """The event: ``message`` with its ``_kafka`` block when it is an object."""
    if isinstance(message, dict):
        meta = kafka_meta_of(record)
        if key is not _RAW:
            meta["key"] = key
            meta["key_schema_id"] = key_id
        if value_id is not None:
            meta["value_schema_id"] = value_id
        message["_kafka"] = meta
    return message


def _event_text(
    record: Any, message: dict[str, Any], value_id: int, key_id: int | None, key: Any
) -> str:
    """:func:`_with_meta`'s event as orjson dumps it, with ``_kafka`` written as text after
    the value's dump (as :func:`default_event_data` does): no dict for it.

    :raises TypeError: orjson cannot dump the value or the key.
    """
    assert _orjson_dumps is not None
    if key is not _RAW and key_id is not None:
        key_text = b'%s,"key_schema_id":%d' % (_orjson_dumps(key), key_id)
    elif record.key is None:
        key_text = b"null"
    else:
        key_text = _orjson_dumps(record.key.decode("utf-8", errors="replace"))
    meta = (
        b'"_kafka":{"topic":%s,"partition":%d,"offset":%d,"timestamp":%d,"key":%s,"value_schema_id":%d}}'
        % (
            _topic_text(record.topic),
            record.partition,
            record.offset,
            record.timestamp,
            key_text,
            value_id,
        )
    )
    body = _orjson_dumps(message)
    return (body[:-1] + b"," + meta if message else b"{" + meta).decode("utf-8")


@functools.lru_cache(maxsize=1024)
def _topic_text(topic: str) -> bytes:
    """A topic's name as JSON; there are few topics and many records."""
    assert _orjson_dumps is not None
    return _orjson_dumps(topic)


_deserializers: dict[RegistryConfig, RegistryDeserializer] = {}


def deserializer_for(config: RegistryConfig) -> RegistryDeserializer:
    """One deserializer (and schema cache) per registry per process: apps and requests with
    the same registry share it, and the shared tail's hubs see one deserializer."""
    found = _deserializers.get(config)
    if found is None:
        found = _deserializers[config] = RegistryDeserializer(config)
    return found
