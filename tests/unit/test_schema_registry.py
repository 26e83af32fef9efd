"""The schema registry's pure parts: the option, the framing, the Avro → JSON rule, the cache."""

from __future__ import annotations

import argparse
import datetime
import decimal
import json
import uuid

import gevent
import pytest

from kafkasse_wsgi import Options
from kafkasse_wsgi._serve.config import add_arguments, resolve
from kafkasse_wsgi.errors import ConfigurationError
from kafkasse_wsgi.schema_registry import RegistryConfig
from kafkasse_wsgi.schema_registry import client as client_module
from kafkasse_wsgi.schema_registry.avro import to_json
from kafkasse_wsgi.schema_registry.client import SchemaCache, UnknownSchema
from kafkasse_wsgi.schema_registry.framing import read_message_indexes, schema_id_of

# --- The option ------------------------------------------------------------------------


def test_a_url_with_credentials_gives_them_to_basic_auth_and_keeps_them_out_of_repr():
    config = RegistryConfig.from_option("https://bob:s%40cret@registry.example/apis/ccompat/v7/")
    assert config.url == "https://registry.example/apis/ccompat/v7"
    assert (config.username, config.password) == ("bob", "s@cret")
    assert "s@cret" not in repr(config) and "cret" not in config.safe_url


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (42, "must be a URL or a mapping"),
        ("ftp://registry", "http(s)://"),
        ("https://bob:hunter2@", "http(s)://"),
        ({"url": "http://r", "pasword": "x"}, "unknown key(s) pasword"),
        ({"url": "http://r", "cache_size": 0}, "cache_size"),
        ({"url": "http://r", "ca_file": "/no/such.pem"}, "no such ca_file"),
        ({"url": "http://r", "validate_json": "yes"}, "validate_json"),
    ],
)
def test_a_bad_option_fails_at_construction_naming_it(value, message):
    with pytest.raises(ConfigurationError) as caught:
        Options(schema_registry=value)
    assert message in caught.value.message
    assert "hunter2" not in caught.value.message


def test_the_registry_becomes_the_deserializer_shared_by_every_options_with_it():
    first = Options(schema_registry="http://127.0.0.1:1/apis/ccompat/v7")
    second = Options(schema_registry={"url": "http://127.0.0.1:1/apis/ccompat/v7"})
    assert first.deserializer is second.deserializer is not None
    assert first.replace(schema_registry=None).deserializer is None

    def own(kafka_message):
        return kafka_message

    assert Options(deserializer=own, schema_registry="http://127.0.0.1:1").deserializer is own


def test_print_config_masks_the_registry_password_from_a_flag_or_the_file(tmp_path):
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    flag = resolve(parser.parse_args(["--schema-registry", "https://bob:hunter2@r.example/x"]), {})
    assert "hunter2" not in flag.describe()
    assert "bob:***@r.example" in flag.describe()
    file = tmp_path / "serve.toml"
    file.write_text('[schema_registry]\nurl = "https://r.example"\npassword = "hunter2"\n')
    described = resolve(parser.parse_args(["--config", str(file)]), {}).describe()
    assert "hunter2" not in described and 'password = "***"' in described


# --- Framing ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "schema_id"),
    [
        (b"\x00\x00\x00\x00\x07rest", 7),
        (b"\x00\x00\x01\x00\x00", 65536),
        (b'{"a":1}', None),
        (b"\x00\x00\x00", None),  # too short
        (b"\x00\x00\x00\x00\x00\x00\x00\x2a", None),  # id 0: a big-endian long, not a frame
        (None, None),
    ],
)
def test_schema_id_of(data, schema_id):
    assert schema_id_of(data) == schema_id


@pytest.mark.parametrize(
    ("data", "indexes", "position"),
    [
        (b"\x00rest", [0], 1),  # the single 0 byte: the first message
        (b"\x02\x02", [1], 2),
        (b"\x04\x02\x00", [1, 0], 3),
    ],
)
def test_message_indexes(data, indexes, position):
    assert read_message_indexes(data, 0) == (indexes, position)


@pytest.mark.parametrize(
    "data", [b"", b"\x04\x02", b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff"]
)
def test_broken_message_indexes_raise(data):
    with pytest.raises(ValueError):
        read_message_indexes(data, 0)


# --- The Avro → JSON rule ----------------------------------------------------------------


def test_avro_values_map_to_json_by_one_rule():
    utc = datetime.timezone.utc
    value = {
        "bytes": b"\x00\xff",
        "decimal": decimal.Decimal("12345678901234567890.10"),
        "date": datetime.date(2026, 12, 2),
        "ts_ms": datetime.datetime(2026, 12, 2, 15, 4, 5, 123000, tzinfo=utc),
        "ts_us": datetime.datetime(2026, 12, 2, 15, 4, 5, 123456, tzinfo=utc),
        "ts_other_zone": datetime.datetime(
            2026, 12, 2, 16, 4, 5, tzinfo=datetime.timezone(datetime.timedelta(hours=1))
        ),
        "local": datetime.datetime(2026, 12, 2, 15, 4, 5),
        "time": datetime.time(9, 30, 0, 250000),
        "uuid": uuid.UUID("6d3f3c1e-8c3a-4b1a-9a59-1f0e8a7c2b11"),
        "floats": [1.5, float("nan"), float("inf"), float("-inf")],
        "nested": {"enum": "PAID", "none": None, "flag": True},
    }
    assert to_json(value) == {
        "bytes": "AP8=",
        "decimal": "12345678901234567890.10",
        "date": "2026-12-02",
        "ts_ms": "2026-12-02T15:04:05.123Z",
        "ts_us": "2026-12-02T15:04:05.123456Z",
        "ts_other_zone": "2026-12-02T15:04:05.000Z",
        "local": "2026-12-02T15:04:05.000",
        "time": "09:30:00.250",
        "uuid": "6d3f3c1e-8c3a-4b1a-9a59-1f0e8a7c2b11",
        "floats": [1.5, "NaN", "Infinity", "-Infinity"],
        "nested": {"enum": "PAID", "none": None, "flag": True},
    }


# --- The cache ---------------------------------------------------------------------------


def test_one_load_in_flight_per_key_whatever_the_waiters():
    cache = SchemaCache(10)
    loads = []

    def load():
        loads.append(1)
        gevent.sleep(0.05)
        return "schema"

    greenlets = [gevent.spawn(cache.get, 7, load) for _ in range(50)]
    gevent.joinall(greenlets, raise_error=True)
    assert [g.value for g in greenlets] == ["schema"] * 50
    assert len(loads) == 1


def test_the_cache_is_bounded_and_forgets_the_least_recently_used():
    cache = SchemaCache(3)
    for key in range(3):
        cache.get(key, lambda key=key: f"s{key}")
    cache.get(0, lambda: pytest.fail("cached"))  # 0 is now the most recent
    cache.get(3, lambda: "s3")
    assert cache.get(0, lambda: "again") == "s0"
    assert cache.get(1, lambda: "reloaded") == "reloaded"


def test_a_failure_is_remembered_for_a_while_and_failures_are_bounded(monkeypatch):
    now = [100.0]
    monkeypatch.setattr(client_module.time, "monotonic", lambda: now[0])
    cache = SchemaCache(4)
    calls = []

    def failing():
        calls.append(1)
        raise UnknownSchema("no such id")

    for _ in range(3):
        with pytest.raises(UnknownSchema):
            cache.get(9, failing)
    assert len(calls) == 1
    now[0] += client_module.RETRY_AFTER_S
    assert cache.get(9, lambda: "registered since") == "registered since"
    # A producer writing random ids: what is remembered stays bounded.
    for key in range(100, 200):
        with pytest.raises(UnknownSchema):
            cache.get(key, failing)
    assert len(cache._failures) <= 4


def test_waiters_are_released_when_the_fetching_greenlet_is_killed():
    """A stream ends (its greenlet killed) while it fetches a schema others wait for: they
    get an error for that record at once. Broke: they waited forever on the dead fetch."""
    cache = SchemaCache(10)
    fetcher = gevent.spawn(cache.get, 5, lambda: gevent.sleep(60))
    gevent.sleep(0.01)
    waiter = gevent.spawn(cache.get, 5, lambda: pytest.fail("one fetch in flight"))
    gevent.sleep(0.01)
    fetcher.kill()
    waiter.join(timeout=1)
    assert waiter.ready(), "the waiter still waits for a fetch nobody is doing"
    assert isinstance(waiter.exception, client_module.RegistryUnavailable)
    assert cache.get(5, lambda: "fetched again") == "fetched again"


def test_json_schema_validation_resolves_references_by_their_registered_names():
    """A JSON Schema that ``$ref``s another subject by the name it was registered under, as
    JSONSerializer's references do; neither schema names its draft. Broke: the referenced
    schema could not be loaded without a ``$schema``."""
    from kafkasse_wsgi.schema_registry import json_schema
    from kafkasse_wsgi.schema_registry.client import Reference, RegistrySchema

    money = RegistrySchema(
        json.dumps({"type": "object", "properties": {"cents": {"type": "integer"}}}), "JSON", ()
    )
    order = RegistrySchema(
        json.dumps({"type": "object", "properties": {"total": {"$ref": "money.json"}}}),
        "JSON",
        (Reference("money.json", "money", 1),),
    )
    decode = json_schema.build(order, lambda schema: [("money.json", money)], validate=True)
    assert decode(b'{"total": {"cents": 5}}') == {"total": {"cents": 5}}
    with pytest.raises(Exception, match="is not of type 'integer'"):
        decode(b'{"total": {"cents": "five"}}')
