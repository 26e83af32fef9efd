"""The exact event text of Avro records, pinned: the Avro → JSON rule (docs/schema-registry.md)
applied through the registry deserializer's two paths, byte for byte. A faster decoder must
keep these strings."""

from __future__ import annotations

import datetime
import decimal
import io
import json
import types
import uuid

import fastavro
import pytest

from kafkasse_wsgi._message import KafkaMessage, serialize_message
from kafkasse_wsgi.schema_registry import RegistryConfig
from kafkasse_wsgi.schema_registry.client import Reference, RegistrySchema
from kafkasse_wsgi.schema_registry.deserializer import RegistryDeserializer

UTC = datetime.timezone.utc

MONEY = {
    "type": "record",
    "name": "Money",
    "namespace": "shop",
    "fields": [
        {
            "name": "cents",
            "type": {"type": "bytes", "logicalType": "decimal", "precision": 20, "scale": 2},
        },
        {
            "name": "currency",
            "type": {"type": "enum", "name": "Currency", "symbols": ["EUR", "USD"]},
        },
    ],
}

EVERY_RULE = {
    "type": "record",
    "name": "Order",
    "namespace": "shop",
    "fields": [
        {"name": "id", "type": "long"},
        {"name": "name", "type": "string"},
        {"name": "ok", "type": "boolean"},
        {"name": "ratio", "type": "float"},
        {"name": "score", "type": "double"},
        {"name": "raw", "type": "bytes"},
        {"name": "hash", "type": {"type": "fixed", "name": "Hash", "size": 4}},
        {"name": "total", "type": "shop.Money"},
        {
            "name": "exact",
            "type": {
                "type": "fixed",
                "name": "Dec",
                "size": 8,
                "logicalType": "decimal",
                "precision": 18,
                "scale": 4,
            },
        },
        {"name": "day", "type": {"type": "int", "logicalType": "date"}},
        {"name": "t_ms", "type": {"type": "int", "logicalType": "time-millis"}},
        {"name": "t_us", "type": {"type": "long", "logicalType": "time-micros"}},
        {"name": "ts_ms", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {"name": "ts_us", "type": {"type": "long", "logicalType": "timestamp-micros"}},
        {"name": "local_ms", "type": {"type": "long", "logicalType": "local-timestamp-millis"}},
        {"name": "local_us", "type": {"type": "long", "logicalType": "local-timestamp-micros"}},
        {"name": "uid", "type": {"type": "string", "logicalType": "uuid"}},
        {"name": "status", "type": {"type": "enum", "name": "Status", "symbols": ["NEW", "PAID"]}},
        {"name": "note", "type": ["null", "string"]},
        {"name": "maybe_total", "type": ["null", "shop.Money"]},
        {"name": "either", "type": ["null", "shop.Hash", "shop.Status", "double", "bytes"]},
        {
            "name": "line",
            "type": {
                "type": "record",
                "name": "Line",
                "fields": [
                    {"name": "sku", "type": "string"},
                    {"name": "qty", "type": "int"},
                    {
                        "name": "when",
                        "type": ["null", {"type": "long", "logicalType": "timestamp-millis"}],
                    },
                ],
            },
        },
        {"name": "lines", "type": {"type": "array", "items": "shop.Line"}},
        {"name": "tags", "type": {"type": "map", "values": "string"}},
        {"name": "blobs", "type": {"type": "map", "values": "bytes"}},
        {"name": "floats", "type": {"type": "array", "items": "double"}},
        {"name": "empty", "type": {"type": "array", "items": "long"}},
    ],
}

PLAIN = {
    "type": "record",
    "name": "Plain",
    "fields": [
        {"name": "id", "type": "long"},
        {"name": "text", "type": "string"},
        {"name": "flag", "type": "boolean"},
        {
            "name": "inner",
            "type": {"type": "record", "name": "Inner", "fields": [{"name": "n", "type": "int"}]},
        },
        {"name": "list", "type": {"type": "array", "items": "string"}},
        {"name": "opt", "type": ["null", "long"]},
    ],
}

KEY = {
    "type": "record",
    "name": "Key",
    "fields": [{"name": "day", "type": {"type": "int", "logicalType": "date"}}],
}

SCHEMAS = {
    1: RegistrySchema(json.dumps(MONEY), "AVRO", ()),
    2: RegistrySchema(json.dumps(EVERY_RULE), "AVRO", (Reference("shop.Money", "money", 1),)),
    3: RegistrySchema(json.dumps(PLAIN), "AVRO", ()),
    4: RegistrySchema(json.dumps(KEY), "AVRO", ()),
    5: RegistrySchema('"string"', "AVRO", ()),
}

LINE = {"sku": "é-1", "qty": 2, "when": datetime.datetime(2026, 12, 2, 15, 4, 5, 7000, tzinfo=UTC)}

ORDER = {
    "id": 2**62,
    "name": 'Zoë "quoted" \u2028 </script>',
    "ok": True,
    "ratio": 0.1,
    "score": -1e300,
    "raw": b"\x00\xff\x10",
    "hash": b"abcd",
    "total": {"cents": decimal.Decimal("12345678901234567.10"), "currency": "EUR"},
    "exact": decimal.Decimal("-3.1400"),
    "day": datetime.date(2026, 12, 2),
    "t_ms": datetime.time(9, 30, 0, 250000),
    "t_us": datetime.time(9, 30, 0, 250001),
    "ts_ms": datetime.datetime(2026, 12, 2, 15, 4, 5, 123000, tzinfo=UTC),
    "ts_us": datetime.datetime(2026, 12, 2, 15, 4, 5, 123456, tzinfo=UTC),
    "local_ms": datetime.datetime(2026, 12, 2, 15, 4, 5),
    "local_us": datetime.datetime(2026, 12, 2, 15, 4, 5, 5),
    "uid": uuid.UUID("6d3f3c1e-8c3a-4b1a-9a59-1f0e8a7c2b11"),
    "status": "PAID",
    "note": "n",
    "maybe_total": {"cents": decimal.Decimal("0.05"), "currency": "USD"},
    "either": b"wxyz",
    "line": LINE,
    "lines": [LINE, {**LINE, "when": None}],
    "tags": {"a": "1", "é": "2"},
    "blobs": {"x": b"\x01", "y": b""},
    "floats": [1.5, float("nan"), float("inf"), float("-inf"), 0.0],
    "empty": [],
}

ORDER_NONES = {**ORDER, "note": None, "maybe_total": None, "either": None, "lines": [], "tags": {}}
ORDER_BRANCHES = [
    {**ORDER, "either": ("shop.Hash", b"1234")},
    {**ORDER, "either": ("shop.Status", "NEW")},
    {**ORDER, "either": 2.5},
    {**ORDER, "either": float("nan")},
]

_LINE = '{"sku":"é-1","qty":2,"when":"2026-12-02T15:04:05.007Z"}'
_ORDER_HEAD = (
    '{"id":4611686018427387904,"name":"Zoë \\"quoted\\" \u2028 </script>","ok":true,'
    '"ratio":0.10000000149011612,"score":-1e+300,"raw":"AP8Q","hash":"YWJjZA==",'
    '"total":{"cents":"12345678901234567.10","currency":"EUR"},"exact":"-3.1400",'
    '"day":"2026-12-02","t_ms":"09:30:00.250","t_us":"09:30:00.250001",'
    '"ts_ms":"2026-12-02T15:04:05.123Z","ts_us":"2026-12-02T15:04:05.123456Z",'
    '"local_ms":"2026-12-02T15:04:05.000","local_us":"2026-12-02T15:04:05.000005",'
    '"uid":"6d3f3c1e-8c3a-4b1a-9a59-1f0e8a7c2b11","status":"PAID",'
)
_ORDER_TAIL = (
    f'"line":{_LINE},"lines":[{_LINE},{{"sku":"é-1","qty":2,"when":null}}],'
    '"tags":{"a":"1","é":"2"},"blobs":{"x":"AQ==","y":""},'
    '"floats":[1.5,"NaN","Infinity","-Infinity",0.0],"empty":[],'
)
_META = '"_kafka":{"topic":"t","partition":3,"offset":42,"timestamp":1700000000000,'


def _text(fields: str, key: str = '"key":null', ids: str = '"value_schema_id":2') -> str:
    return f"{_ORDER_HEAD}{fields}{_ORDER_TAIL}{_META}{key},{ids}}}}}"


CASES = [
    (
        2,
        ORDER,
        None,
        _text('"note":"n","maybe_total":{"cents":"0.05","currency":"USD"},"either":"d3h5eg==",'),
    ),
    (
        2,
        ORDER_NONES,
        None,
        _text('"note":null,"maybe_total":null,"either":null,')
        .replace(f'"lines":[{_LINE},{{"sku":"é-1","qty":2,"when":null}}]', '"lines":[]')
        .replace('"tags":{"a":"1","é":"2"}', '"tags":{}'),
    ),
    (
        2,
        ORDER_BRANCHES[0],
        None,
        _text('"note":"n","maybe_total":{"cents":"0.05","currency":"USD"},"either":"MTIzNA==",'),
    ),
    (
        2,
        ORDER_BRANCHES[1],
        None,
        _text('"note":"n","maybe_total":{"cents":"0.05","currency":"USD"},"either":"NEW",'),
    ),
    (
        2,
        ORDER_BRANCHES[2],
        None,
        _text('"note":"n","maybe_total":{"cents":"0.05","currency":"USD"},"either":2.5,'),
    ),
    (
        2,
        ORDER_BRANCHES[3],
        None,
        _text('"note":"n","maybe_total":{"cents":"0.05","currency":"USD"},"either":"NaN",'),
    ),
    (
        2,
        ORDER,
        (4, {"day": datetime.date(2026, 1, 31)}),
        _text(
            '"note":"n","maybe_total":{"cents":"0.05","currency":"USD"},"either":"d3h5eg==",',
            key='"key":{"day":"2026-01-31"}',
            ids='"key_schema_id":4,"value_schema_id":2',
        ),
    ),
    (
        3,
        {"id": -7, "text": "plain ☃", "flag": False, "inner": {"n": 1}, "list": ["a"], "opt": None},
        (5, "k"),
        '{"id":-7,"text":"plain ☃","flag":false,"inner":{"n":1},"list":["a"],"opt":null,'
        f'{_META}"key":"k","key_schema_id":5,"value_schema_id":3}}}}',
    ),
    (
        3,
        {"id": 2**63 - 1, "text": "", "flag": True, "inner": {"n": -1}, "list": [], "opt": 5},
        None,
        '{"id":9223372036854775807,"text":"","flag":true,"inner":{"n":-1},"list":[],"opt":5,'
        f'{_META}"key":null,"value_schema_id":3}}}}',
    ),
]


def _framed(schema_id: int, value: object) -> bytes:
    named: dict = {}
    if schema_id == 2:
        fastavro.parse_schema(MONEY, named_schemas=named)
    schema = json.loads(SCHEMAS[schema_id].text)
    parsed = fastavro.parse_schema(schema, named_schemas=named)
    out = io.BytesIO()
    fastavro.schemaless_writer(out, parsed, value)
    return b"\x00" + schema_id.to_bytes(4, "big") + out.getvalue()


@pytest.fixture
def deserializer(monkeypatch: pytest.MonkeyPatch) -> RegistryDeserializer:
    found = RegistryDeserializer(RegistryConfig("http://registry.invalid"))
    monkeypatch.setattr(found.client, "schema_by_id", SCHEMAS.__getitem__)
    monkeypatch.setattr(found.client, "schema_version", lambda subject, version: SCHEMAS[1])
    return found


@pytest.mark.parametrize(("schema_id", "value", "key", "expected"), CASES)
def test_an_avro_record_is_exactly_this_event_text(deserializer, schema_id, value, key, expected):
    record = types.SimpleNamespace(
        topic="t",
        partition=3,
        offset=42,
        timestamp=1700000000000,
        key=None if key is None else _framed(*key),
        value=_framed(schema_id, value),
    )
    assert deserializer.event_data(record) == expected
    # The hooks' path: the same event, dumped by serialize_message when no fast path applies.
    message = KafkaMessage("t", 3, 42, 1700000000000, record.key, record.value)
    assert json.loads(serialize_message(deserializer(message).message)) == json.loads(expected)


def test_ready_then_event_data_of_another_record_gives_that_records_text(deserializer):
    """``ready`` remembers the ids it read for the next ``event_data``: only for that record
    (another stream's may come between them when the slot is lent)."""
    schema_id, value, key, expected = CASES[7]
    framed = types.SimpleNamespace(
        topic="t",
        partition=3,
        offset=42,
        timestamp=1700000000000,
        key=_framed(*key),
        value=_framed(schema_id, value),
    )
    plain = types.SimpleNamespace(
        topic="t", partition=3, offset=42, timestamp=1700000000000, key=None, value=b'{"a":1}'
    )
    assert not deserializer.ready(framed)  # its schemas are not fetched yet
    assert deserializer.event_data(framed) == expected
    assert deserializer.ready(framed)
    assert deserializer.event_data(plain) == f'{{"a":1,{_META}"key":null}}}}'
    assert deserializer.ready(plain)
    assert deserializer.event_data(framed) == expected
