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
Each schema gets a converter compiled once (:func:`converter_of`) that visits only the parts
of a value its schema says may need converting, and none at all for a schema of plain strings,
numbers other than floats, booleans, enums and their records, arrays and maps.
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

Convert = Callable[[Any], Any]

#: Avro types whose values are JSON values as fastavro reads them.
_AS_THEY_ARE = frozenset(("null", "boolean", "int", "long", "string", "enum"))


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
    convert = converter_of(parsed, named)
    read = _reader(parsed, named)
    if convert is None:
        return read
    return lambda payload: convert(read(payload))


def _reader(parsed: Any, named: dict[str, Any]) -> Callable[[bytes], Any]:
    """fastavro's reader of one parsed schema. Its ``schemaless_reader`` parses the (parsed)
    schema again on every call, a seventh of its time: its compiled core is called directly
    when it reads a probe exactly as ``schemaless_reader`` does, else the public function."""
    if _read_data is None:
        return lambda payload: fastavro.schemaless_reader(io.BytesIO(payload), parsed, None)
    read_data = _read_data
    schemas = {"writer": named, "reader": {}}
    return lambda payload: read_data(io.BytesIO(payload), parsed, schemas, None, _OPTIONS)


#: schemaless_reader's options, at their defaults.
_OPTIONS = {
    "return_record_name": False,
    "return_record_name_override": False,
    "handle_unicode_errors": "strict",
    "return_named_type": False,
    "return_named_type_override": False,
}


def _core() -> Callable[..., Any] | None:
    """fastavro's compiled ``_read_data`` when it answers a probe as the public reader does."""
    probe_schema = {
        "type": "record",
        "name": "Probe",
        "fields": [
            {"name": "u", "type": ["null", "string", {"type": "fixed", "name": "F", "size": 1}]},
            {"name": "e", "type": {"type": "enum", "name": "E", "symbols": ["A", "B"]}},
            {"name": "m", "type": {"type": "map", "values": {"type": "array", "items": "long"}}},
        ],
    }
    probe = {"u": "hé", "e": "B", "m": {"k": [1, -1]}}
    try:
        from fastavro._read import _read_data as core  # type: ignore[attr-defined]

        named: dict[str, Any] = {}
        parsed = fastavro.parse_schema(probe_schema, named_schemas=named)
        written = io.BytesIO()
        fastavro.schemaless_writer(written, parsed, probe)
        payload = written.getvalue()
        expected = fastavro.schemaless_reader(io.BytesIO(payload), parsed, None)
        schemas = {"writer": named, "reader": {}}
        if core(io.BytesIO(payload), parsed, schemas, None, _OPTIONS) == expected:
            return core
    except Exception:  # another fastavro: the public reader
        pass
    return None


def converter_of(
    schema: Any, named: dict[str, Any], compiling: frozenset[str] = frozenset()
) -> Convert | None:
    """What turns fastavro's value of ``schema`` into its JSON value, or ``None`` when it is
    one already. Gives the same result as :func:`to_json` on the whole value, which decides
    by the values' Python types: this only skips the parts that cannot hold a value
    :func:`to_json` would change, and calls it on the others.

    :param named: fastavro's named types by full name.
    :param compiling: the named records being compiled around this one (a recursive record
        is converted by :func:`to_json`).
    """
    if isinstance(schema, list):  # a union: its value's type tells the branch
        branches = [converter_of(branch, named, compiling) for branch in schema]
        return None if all(branch is None for branch in branches) else to_json
    if isinstance(schema, str):
        if schema in _AS_THEY_ARE:
            return None
        if schema in ("float", "double"):
            return _float
        if schema in ("bytes", "fixed"):
            return to_json
        if schema in compiling or schema not in named:
            return to_json
        return converter_of(named[schema], named, compiling | {schema})
    if not isinstance(schema, dict) or "logicalType" in schema:
        return to_json
    kind = schema.get("type")
    if kind == "record" or kind == "error":
        inside = compiling | {schema.get("name", "")}
        fields = [
            (field["name"], converter_of(field["type"], named, inside))
            for field in schema["fields"]
        ]
        return _record([(name, convert) for name, convert in fields if convert is not None])
    if kind == "array":
        return _each(converter_of(schema["items"], named, compiling))
    if kind == "map":
        return _each_value(converter_of(schema["values"], named, compiling))
    if kind == "enum":
        return None
    return converter_of(kind, named, compiling)  # {"type": "long"}, {"type": "fixed", …}


def _record(fields: list[tuple[str, Convert]]) -> Convert | None:
    if not fields:
        return None

    def convert(value: dict[str, Any]) -> dict[str, Any]:
        for name, field in fields:
            value[name] = field(value[name])
        return value

    return convert


def _each(item: Convert | None) -> Convert | None:
    return None if item is None else lambda values: [item(value) for value in values]


def _each_value(item: Convert | None) -> Convert | None:
    if item is None:
        return None
    return lambda values: {key: item(value) for key, value in values.items()}


def _float(value: float) -> Any:
    return value if math.isfinite(value) else to_json(value)


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


_read_data = _core()
