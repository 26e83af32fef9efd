"""Avro payloads (fastavro) into JSON values, by one rule.

The mapping, the same for every record:

- a record is an object of its fields; a map an object; an array a list;
- a union is its value (no ``{"type": value}`` wrapper); an enum its symbol;
- ``bytes`` and ``fixed`` are base64 (standard alphabet, padded);
- ``decimal`` is a string of its exact digits (``"12.30"``): no precision lost to floats;
- ``date`` is ``"2026-12-02"``, ``time-*`` ``"15:04:05.123"``; ``timestamp-*`` are ISO-8601
  in UTC with ``Z`` (``"2026-12-02T15:04:05.123Z"``); ``local-timestamp-*`` the same without
  ``Z``; fractions of a second are shown to the millisecond, or the microsecond when there are
  any (``.123456``); ``uuid`` a string;
- floats JSON cannot hold are the strings ``"NaN"``, ``"Infinity"``, ``"-Infinity"`` (as in
  Protobuf's JSON mapping).

Named types from other subjects (schema references) are parsed first, in dependency order.
"""

from __future__ import annotations

import base64
import datetime
import decimal
import io
import json
import math
import uuid
from collections.abc import Callable
from typing import Any

import fastavro

from .client import RegistrySchema

#: Words in a schema's text that mean its values may need converting for JSON.
_CONVERTED = ('"bytes"', '"fixed"', "logicalType", '"float"', '"double"')


def build(
    schema: RegistrySchema, resolve: Callable[[RegistrySchema], list[RegistrySchema]]
) -> Callable[[bytes], Any]:
    """A function from an Avro payload (no frame) to its JSON value.

    :param resolve: the schemas ``schema`` references, deepest first.
    """
    named: dict[str, Any] = {}
    references = resolve(schema)
    for referenced in references:
        fastavro.parse_schema(json.loads(referenced.text), named_schemas=named)
    parsed = fastavro.parse_schema(json.loads(schema.text), named_schemas=named)
    texts = [schema.text, *(ref.text for ref in references)]
    needs_walk = any(word in text for text in texts for word in _CONVERTED)
    reader = fastavro.schemaless_reader

    def decode(payload: bytes) -> Any:
        value = reader(io.BytesIO(payload), parsed, None)
        return to_json(value) if needs_walk else value

    return decode


def to_json(value: Any) -> Any:
    """fastavro's Python value as a JSON value, by the module's rule."""
    if isinstance(value, dict):
        return {key: to_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [to_json(item) for item in value]
    if isinstance(value, (str, int, bool)) or value is None:
        return value
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, decimal.Decimal):
        return format(value, "f")
    if isinstance(value, datetime.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(datetime.timezone.utc)
        text = value.replace(tzinfo=None).isoformat(timespec=_timespec(value.microsecond))
        return text + "Z" if value.tzinfo is not None else text
    if isinstance(value, datetime.time):
        return value.isoformat(timespec=_timespec(value.microsecond))
    if isinstance(value, (datetime.date, uuid.UUID)):
        return str(value)
    return str(value)


def _timespec(microsecond: int) -> str:
    return "microseconds" if microsecond % 1000 else "milliseconds"
