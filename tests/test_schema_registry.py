"""Schema registry topics, end to end: records written by confluent-kafka's own serializers
(Avro, Protobuf, JSON Schema, with its SchemaRegistryClient) against a real registry
(Apicurio, ``scripts/registry-local``), read as JSON events from a real server on the shared
tail, with default options but ``schema_registry``.
"""

from __future__ import annotations

import datetime
import decimal
import importlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from confluent_kafka.schema_registry import Schema, SchemaReference, SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.schema_registry.json_schema import JSONSerializer
from confluent_kafka.schema_registry.protobuf import ProtobufSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from kafkasse_wsgi.schema_registry.client import TIMEOUT_S
from tests.conftest import REGISTRY_LOCAL
from tests.support.clients import SSEReader, payloads_of
from tests.support.kafka import KafkaHelper
from tests.support.lean_reader import LeanReader
from tests.support.servers import Server, free_port

MONEY = {
    "type": "record",
    "name": "Money",
    "namespace": "shop",
    "fields": [
        {"name": "currency", "type": "string"},
        {
            "name": "amount",
            "type": {"type": "bytes", "logicalType": "decimal", "precision": 12, "scale": 2},
        },
    ],
}
ORDER_V1 = {
    "type": "record",
    "name": "Order",
    "namespace": "shop",
    "fields": [
        {"name": "id", "type": "string"},
        {"name": "total", "type": "shop.Money"},
        {"name": "status", "type": {"type": "enum", "name": "Status", "symbols": ["NEW", "PAID"]}},
        {"name": "note", "type": ["null", "string"], "default": None},
        {"name": "day", "type": {"type": "int", "logicalType": "date"}},
        {"name": "at", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {"name": "at_us", "type": {"type": "long", "logicalType": "timestamp-micros"}},
        {"name": "tm", "type": {"type": "int", "logicalType": "time-millis"}},
        {"name": "blob", "type": "bytes"},
        {"name": "tag", "type": {"type": "fixed", "name": "Tag", "size": 2}},
        {"name": "uid", "type": {"type": "string", "logicalType": "uuid"}},
    ],
}
ORDER_V2 = {
    **ORDER_V1,
    "fields": [*ORDER_V1["fields"], {"name": "channel", "type": "string", "default": "web"}],
}
KEY_SCHEMA = {
    "type": "record",
    "name": "OrderKey",
    "namespace": "shop",
    "fields": [{"name": "shop", "type": "int"}],
}
SIMPLE = {"type": "record", "name": "Tick", "fields": [{"name": "n", "type": "int"}]}
SIMPLE_V2 = {
    **SIMPLE,
    "fields": [*SIMPLE["fields"], {"name": "kind", "type": "string", "default": "a"}],
}

COMMON_PROTO = """syntax = "proto3";
package kafkasse.test.common;
message Money { string currency = 1; int64 cents = 2; }
enum Status { UNKNOWN = 0; PAID = 1; }
"""
ORDER_PROTO = """syntax = "proto3";
package kafkasse.test;
import "kafkasse_test_common.proto";
import "google/protobuf/timestamp.proto";
message Ping { int32 n = 1; }
message Order {
  string id = 1;
  kafkasse.test.common.Money total = 2;
  kafkasse.test.common.Status status = 3;
  google.protobuf.Timestamp at = 4;
  map<string, int32> counts = 5;
  bytes blob = 6;
  message Line { string sku = 1; }
  repeated Line lines = 7;
}
"""


# --- Helpers -----------------------------------------------------------------------------


def value_context(topic: str) -> SerializationContext:
    return SerializationContext(topic, MessageField.VALUE)


def key_context(topic: str) -> SerializationContext:
    return SerializationContext(topic, MessageField.KEY)


def send(kafka: KafkaHelper, topic: str, value: bytes, key: bytes | None = None) -> None:
    kafka.producer.send(topic, value=value, key=key).get(timeout=10)


def clients_on_hub(server: Server, topic: str) -> int:
    response = requests.get(f"{server.url}/_tail", timeout=10)
    hubs = [hub for hub in response.json()["hubs"] if hub["topic"] == topic]
    return int(hubs[0]["clients"]) if hubs else 0


def wait_until(condition: Callable[[], Any], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"not {what} within {timeout_s}s"
        time.sleep(0.05)


def on_hub(server: Server, topic: str, query: str = "") -> SSEReader:
    """A client at the head of ``topic``, on the shared tail."""
    reader = SSEReader(f"{server.url}/{topic}{query}")
    assert reader.status == 200
    wait_until(lambda: clients_on_hub(server, topic) >= 1, 10, "on the hub")
    return reader


def registry_gets(log_path: Path, kind: str = "/schemas/ids/") -> list[str]:
    return [line for line in log_path.read_text().splitlines() if "GET " in line and kind in line]


def messages(events: list[dict[str, str]]) -> list[Any]:
    """The data of the ``message`` events (a bounded replay ends with an ``end`` event)."""
    return payloads_of([event for event in events if event["event"] == "message"])


def metric(server: Server, name: str) -> float:
    for line in requests.get(f"{server.url}/metrics", timeout=10).text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return 0.0


@pytest.fixture
def registry(schema_registry: str) -> Iterator[SchemaRegistryClient]:
    """confluent-kafka's registry client, as a user's producers hold it."""
    with SchemaRegistryClient({"url": schema_registry}) as client:
        yield client


@pytest.fixture
def registry_server(serve: Callable[..., Server], schema_registry: str) -> Server:
    return serve({"schema_registry": schema_registry}, mode="server")


def order_v1(n: int) -> dict[str, Any]:
    return {
        "id": f"o{n}",
        "total": {"currency": "EUR", "amount": decimal.Decimal("1234567890.05") + n},
        "status": "PAID",
        "note": None if n % 2 else "gift",
        "day": datetime.date(2026, 12, 2),
        "at": datetime.datetime(2026, 12, 2, 15, 4, 5, 123000, tzinfo=datetime.timezone.utc),
        "at_us": datetime.datetime(2026, 12, 2, 15, 4, 5, 123456, tzinfo=datetime.timezone.utc),
        "tm": datetime.time(9, 30, 0, 250000),
        "blob": b"\x00\xff",
        "tag": b"ab",
        "uid": "6d3f3c1e-8c3a-4b1a-9a59-1f0e8a7c2b11",
    }


# --- The formats -------------------------------------------------------------------------


def test_avro_v1_and_v2_interleaved_with_references_logical_types_and_framed_keys(
    kafka, make_topic, registry, registry_server
):
    """Two versions of a schema in one partition, a named type from another subject, every
    logical type, a framed Avro key, and a plain JSON record in between: each event is the
    record's fields by the documented rule plus ``_kafka`` with the decoded key and ids."""
    topic = make_topic()
    money_subject = f"{topic}-money"
    registry.register_schema(money_subject, Schema(json.dumps(MONEY), "AVRO"))
    version = registry.get_latest_version(money_subject).version
    references = [SchemaReference("shop.Money", money_subject, version)]
    v1 = AvroSerializer(registry, Schema(json.dumps(ORDER_V1), "AVRO", references))
    v2 = AvroSerializer(registry, Schema(json.dumps(ORDER_V2), "AVRO", references))
    keys = AvroSerializer(registry, json.dumps(KEY_SCHEMA))
    reader = on_hub(registry_server, topic)
    for n in range(4):
        serializer, record = (
            (v1, order_v1(n)) if n % 2 == 0 else (v2, {**order_v1(n), "channel": "app"})
        )
        send(
            kafka,
            topic,
            serializer(record, value_context(topic)),
            keys({"shop": n}, key_context(topic)),
        )
    send(kafka, topic, b'{"plain": true}', b"k")
    events = payloads_of(reader.read(5))
    reader.close()
    assert len(events) == 5
    value_ids = [event["_kafka"]["value_schema_id"] for event in events[:4]]
    assert value_ids[0] == value_ids[2] != value_ids[1] == value_ids[3]
    first = events[0]
    meta = first.pop("_kafka")
    assert meta["key"] == {"shop": 0} and isinstance(meta["key_schema_id"], int)
    assert first == {
        "id": "o0",
        "total": {"currency": "EUR", "amount": "1234567890.05"},
        "status": "PAID",
        "note": "gift",
        "day": "2026-12-02",
        "at": "2026-12-02T15:04:05.123Z",
        "at_us": "2026-12-02T15:04:05.123456Z",
        "tm": "09:30:00.250",
        "blob": "AP8=",
        "tag": "YWI=",
        "uid": "6d3f3c1e-8c3a-4b1a-9a59-1f0e8a7c2b11",
    }
    assert events[1]["channel"] == "app" and events[1]["note"] is None
    assert "channel" not in events[2]
    assert events[4] == {
        "plain": True,
        "_kafka": {**events[4]["_kafka"], "key": "k"},
    }
    assert "value_schema_id" not in events[4]["_kafka"]


@pytest.fixture
def order_pb2(tmp_path: Path) -> Iterator[Any]:
    """The test's .proto files compiled as a producer's build would (protoc, Python out)."""
    from grpc_tools import protoc

    (tmp_path / "kafkasse_test_common.proto").write_text(COMMON_PROTO)
    (tmp_path / "kafkasse_test_order.proto").write_text(ORDER_PROTO)
    include = Path(protoc.__file__).parent / "_proto"
    status = protoc.main(
        [
            "protoc",
            f"-I{tmp_path}",
            f"-I{include}",
            f"--python_out={tmp_path}",
            "kafkasse_test_common.proto",
            "kafkasse_test_order.proto",
        ]
    )
    assert status == 0
    sys.path.insert(0, str(tmp_path))
    try:
        yield importlib.import_module("kafkasse_test_order_pb2")
    finally:
        sys.path.remove(str(tmp_path))


def test_protobuf_with_an_import_nested_messages_and_well_known_types(
    kafka, make_topic, registry, registry_server, order_pb2
):
    """ProtobufSerializer registers the file (and its import, as a reference) as serialized
    descriptors; the second message of the file and a nested one are told by their indexes."""
    topic = make_topic()
    orders = ProtobufSerializer(order_pb2.Order, registry, {"use.deprecated.format": False})
    pings = ProtobufSerializer(order_pb2.Ping, registry, {"use.deprecated.format": False})
    lines = ProtobufSerializer(order_pb2.Order.Line, registry, {"use.deprecated.format": False})
    order = order_pb2.Order(id="o1", blob=b"\x01\x02", status=1)
    order.total.currency, order.total.cents = "EUR", 12_345_678_901
    order.at.FromSeconds(1_764_687_845)
    order.counts["apples"] = 3
    order.lines.add(sku="s-1")
    reader = on_hub(registry_server, topic)
    send(kafka, topic, orders(order, value_context(topic)))
    send(kafka, topic, pings(order_pb2.Ping(n=7), value_context(topic)))
    send(kafka, topic, lines(order_pb2.Order.Line(sku="s-9"), value_context(topic)))
    events = payloads_of(reader.read(3))
    reader.close()
    assert len(events) == 3
    order_event, ping_event, line_event = events
    assert line_event["sku"] == "s-9"
    assert order_event.pop("_kafka")["value_schema_id"] > 0
    assert order_event == {
        "id": "o1",
        "total": {"currency": "EUR", "cents": "12345678901"},
        "status": "PAID",
        "at": "2025-12-02T15:04:05Z",
        "counts": {"apples": 3},
        "blob": "AQI=",
        "lines": [{"sku": "s-1"}],
    }
    assert ping_event["n"] == 7


def test_json_schema_records_and_validation(kafka, make_topic, registry, serve, schema_registry):
    """JSON Schema payloads are JSON; with ``validate_json`` one that breaks its schema is
    skipped (framed by hand: the serializer would refuse to write it)."""
    topic = make_topic()
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    serializer = JSONSerializer(json.dumps(schema), registry)
    server = serve(
        {"schema_registry": {"url": schema_registry, "validate_json": True}}, mode="server"
    )
    reader = on_hub(server, topic)
    good = serializer({"n": 1}, value_context(topic))
    send(kafka, topic, good)
    send(kafka, topic, good[:5] + b'{"n": "not a number"}')
    send(kafka, topic, serializer({"n": 2}, value_context(topic)))
    events = payloads_of(reader.read(2))
    reader.close()
    assert [event["n"] for event in events] == [1, 2]
    assert events[0]["_kafka"]["value_schema_id"] == int.from_bytes(good[1:5], "big")


# --- The shared tail, filters ---------------------------------------------------------------


def test_100_tail_clients_cost_one_fetch_per_schema_and_filter_on_decoded_fields(
    kafka, make_topic, registry, serve, schema_registry, tmp_path
):
    """100 clients at the head of an Avro topic (half with ``?filter=`` on a decoded field)
    get every record of two interleaved schema versions; the server fetched each schema
    once, whatever the client count."""
    topic = make_topic()
    server = serve({"schema_registry": schema_registry}, mode="server")
    records = 20
    clients = 100
    query = "?filter=" + urllib.parse.quote("kind == 'b'")
    readers = [
        LeanReader(
            f"{server.url}/{topic}{query if i % 2 else ''}",
            records if i % 2 == 0 else records // 4,
            30,
        )
        for i in range(clients)
    ]
    wait_until(lambda: clients_on_hub(server, topic) == clients, 20, "all on the hub")
    for reader in readers:
        reader.go()
    v1 = AvroSerializer(registry, json.dumps(SIMPLE))
    v2 = AvroSerializer(registry, json.dumps(SIMPLE_V2))
    for n in range(records):
        if n % 2 == 0:
            send(kafka, topic, v1({"n": n}, value_context(topic)))
        else:
            send(
                kafka, topic, v2({"n": n, "kind": "b" if n % 4 == 1 else "c"}, value_context(topic))
            )
    everything = [n for n in range(records)]
    filtered = [n for n in range(records) if n % 4 == 1]
    for i, reader in enumerate(readers):
        payloads = reader.result()["payloads"]
        assert [p["n"] for p in payloads] == (filtered if i % 2 else everything), i
    gets = registry_gets(tmp_path / "server-0.log")
    assert len(gets) == 2, gets


# --- When it goes wrong -------------------------------------------------------------------


@pytest.fixture
def own_registry() -> Iterator[tuple[str, Callable[[], None]]]:
    """A registry of the test's own (its URL, and a function that stops it)."""
    env = {**os.environ, "REGISTRY_PORT": str(free_port())}
    out = subprocess.run(
        [str(REGISTRY_LOCAL), "start"], env=env, check=True, capture_output=True, text=True
    )

    def stop() -> None:
        subprocess.run([str(REGISTRY_LOCAL), "stop"], env=env, check=False, capture_output=True)

    try:
        yield out.stdout.strip().splitlines()[-1], stop
    finally:
        stop()


def test_registry_stopped_mid_stream_unknown_ids_and_garbage_skip_records_and_the_stream_goes_on(
    kafka, make_topic, serve, own_registry, tmp_path, request
):
    """Known schemas keep decoding from the cache once the registry is gone; a record whose
    schema was never fetched, one with an id no registry has, and one whose payload does not
    match its schema are each skipped with a log line and counted, like bad JSON; the
    stream goes on, and a new request is served though the registry is down."""
    url, stop_registry = own_registry
    registry = SchemaRegistryClient({"url": url})
    request.addfinalizer(registry.close)
    topic = make_topic()
    server = serve({"schema_registry": url}, mode="server")
    known = AvroSerializer(registry, json.dumps(SIMPLE))
    unseen = AvroSerializer(registry, json.dumps(SIMPLE_V2))
    unseen_record = unseen({"n": 99, "kind": "never"}, value_context(topic))
    reader = on_hub(server, topic)
    skipped_before = metric(server, "kafkasse_events_skipped_total")
    send(kafka, topic, b"\x00\x7f\xff\xff\xff\x02")  # an id the registry never gave
    send(kafka, topic, known({"n": 1}, value_context(topic)))
    assert [e["n"] for e in payloads_of(reader.read(1))] == [1]
    stop_registry()
    send(kafka, topic, unseen_record)
    send(kafka, topic, known({"n": 2}, value_context(topic))[:5] + b"\xff\xff\xff")  # garbage
    send(kafka, topic, known({"n": 3}, value_context(topic)))
    send(kafka, topic, b'{"n": 4}')
    send(kafka, topic, known({"n": 5}, value_context(topic)))
    events = reader.read(3, types=("message", "error"))
    assert [e["event"] for e in events] == ["message"] * 3
    assert [e["n"] for e in payloads_of(events)] == [3, 4, 5]
    reader.close()
    skips = [
        line for line in (tmp_path / "server-0.log").read_text().splitlines() if "skipping" in line
    ]
    assert len(skips) == 3, skips
    assert "2147483647" in skips[0] and "does not know" in skips[0]
    assert "could not be read" in skips[1]
    assert "does not decode" in skips[2]
    assert metric(server, "kafkasse_events_skipped_total") - skipped_before == 3
    began = time.monotonic()
    with SSEReader(f"{server.url}/{topic}?since=0") as late:
        assert late.status == 200
        assert time.monotonic() - began < TIMEOUT_S


@pytest.fixture
def silent_registry() -> Iterator[str]:
    """The URL of a registry that accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def hold() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=hold, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/apis/ccompat/v7"
    finally:
        stop.set()
        thread.join(5)
        for connection in held:
            connection.close()
        listener.close()


def test_a_silent_registry_delays_no_request_and_no_json_record(
    kafka, make_topic, serve, silent_registry
):
    """Requests start at once (no schema is fetched before a stream), and JSON records on
    the topic flow meanwhile."""
    topic = make_topic()
    server = serve({"schema_registry": silent_registry}, mode="server")
    began = time.monotonic()
    reader = on_hub(server, topic)
    assert time.monotonic() - began < TIMEOUT_S
    send(kafka, topic, b'{"n": 1}')
    assert [e["n"] for e in payloads_of(reader.read(1, timeout_s=TIMEOUT_S))] == [1]
    reader.close()


def test_streams_waiting_on_a_silent_registry_hold_up_no_other_stream(
    kafka, make_topic, serve, silent_registry
):
    """Two replays meet a framed record while the registry does not answer (each waits up
    to the client's timeout for its schema); a third replay of a JSON topic on the same
    worker gets its events meanwhile. Broke: the waiting streams held the worker's
    processing slots (there are two), and the third waited for the registry's timeout."""
    framed, plain = make_topic(), make_topic()
    send(kafka, framed, b"\x00\x00\x00\x00\x01\x02")
    for n in range(3):
        send(kafka, plain, json.dumps({"n": n}).encode())
    server = serve({"schema_registry": silent_registry}, mode="server")
    waiting = [SSEReader(f"{server.url}/{framed}?since=0") for _ in range(2)]
    time.sleep(0.5)  # both now wait for the schema
    began = time.monotonic()
    with SSEReader(f"{server.url}/{plain}?since=0") as reader:
        events = payloads_of(reader.read(3, timeout_s=TIMEOUT_S))
    took = time.monotonic() - began
    for other in waiting:
        other.close()
    assert [e["n"] for e in events] == [0, 1, 2]
    assert took < TIMEOUT_S / 2, took


def test_a_framed_record_on_a_server_without_schema_registry_is_skipped_like_bad_json(
    kafka, make_topic, registry, serve
):
    topic = make_topic()
    server = serve(mode="server")
    reader = on_hub(server, topic)
    send(kafka, topic, AvroSerializer(registry, json.dumps(SIMPLE))({"n": 1}, value_context(topic)))
    send(kafka, topic, b'{"n": 2}')
    assert [e["n"] for e in payloads_of(reader.read(1))] == [2]
    reader.close()


def test_a_replay_through_a_private_consumer_decodes_and_filters_the_same_way(
    kafka, make_topic, registry, registry_server
):
    """``?since=0`` reads through a consumer of the stream's own (the pump runs the
    registry's deserializer there): the same events, and a filter on a decoded field."""
    topic = make_topic()
    serializer = AvroSerializer(registry, json.dumps(SIMPLE_V2))
    for n in range(4):
        send(
            kafka, topic, serializer({"n": n, "kind": "b" if n % 2 else "a"}, value_context(topic))
        )
    until = int(time.time() * 1000) + 1
    with SSEReader(f"{registry_server.url}/{topic}?since=0&until={until}") as everything:
        assert [e["n"] for e in messages(everything.read_until_end())] == [0, 1, 2, 3]
    query = f"?since=0&until={until}&filter=" + urllib.parse.quote("kind == 'b'")
    with SSEReader(f"{registry_server.url}/{topic}{query}") as filtered:
        events = messages(filtered.read_until_end())
    assert [(e["n"], e["kind"]) for e in events] == [(1, "b"), (3, "b")]
    assert all(e["_kafka"]["value_schema_id"] > 0 for e in events)


def test_registry_credentials_go_in_basic_auth_and_never_into_a_log(caplog):
    """A registry that records what it is sent: the user and password arrive as basic auth,
    and no log line of ours (the fetch, the failure) holds the password."""
    import base64
    import http.server

    from kafkasse_wsgi._message import KafkaMessage
    from kafkasse_wsgi.schema_registry import deserializer_for

    seen: list[str | None] = []

    class Registry(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.headers.get("Authorization"))
            self.send_response(404)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Registry)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://reader:s3cret-pw@127.0.0.1:{server.server_address[1]}/apis/ccompat/v7"
        deserializer = deserializer_for(url)
        caplog.set_level("DEBUG", logger="kafkasse_wsgi")
        with pytest.raises(Exception) as caught:
            deserializer(KafkaMessage("t", 0, 0, 0, None, b"\x00\x00\x00\x00\x05payload"))
    finally:
        server.shutdown()
        server.server_close()
    assert seen == ["Basic " + base64.b64encode(b"reader:s3cret-pw").decode()]
    assert "does not know" in str(caught.value)
    assert caplog.records and all("s3cret" not in r.getMessage() for r in caplog.records)
    assert "s3cret" not in str(caught.value) and "s3cret" not in repr(deserializer)


def test_a_schema_the_registry_holds_but_that_cannot_be_built_skips_its_records_only(
    kafka, make_topic, schema_registry, registry_server
):
    """A Protobuf descriptor whose import is neither a reference nor well known (a producer
    registered it by hand): its records are skipped like those of an unknown id, and the
    stream goes on. Broke: the descriptor pool's TypeError escaped as a stream error."""
    import base64

    from google.protobuf import descriptor_pb2

    topic = make_topic()
    file_proto = descriptor_pb2.FileDescriptorProto(
        name=f"{topic}.proto", package="broken", syntax="proto3", dependency=["nosuch/dep.proto"]
    )
    message = file_proto.message_type.add(name="M")
    message.field.add(name="t", number=1, type=11, type_name=".nosuch.T", label=1)
    body = {
        "schemaType": "PROTOBUF",
        "schema": base64.b64encode(file_proto.SerializeToString()).decode(),
    }
    answer = requests.post(
        f"{schema_registry}/subjects/{topic}-value/versions",
        json=body,
        headers={"Content-Type": "application/vnd.schemaregistry.v1+json"},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    schema_id = answer.json()["id"]
    reader = on_hub(registry_server, topic)
    send(kafka, topic, b"\x00" + schema_id.to_bytes(4, "big") + b"\x00\x08\x01")
    send(kafka, topic, b'{"n": 2}')
    events = reader.read(1, types=("message", "error"))
    reader.close()
    assert [(e["event"], json.loads(e["data"]).get("n")) for e in events] == [("message", 2)]


def test_protobuf_schemas_held_as_proto_text_compile_with_their_imports(
    kafka, make_topic, registry, registry_server, order_pb2
):
    """The registry holds ``.proto`` text (what Confluent's registry returns, and what Java
    producers register), the import as a reference: protoc compiles it in the server."""
    topic = make_topic()
    common = f"{topic}-common"
    registry.register_schema(common, Schema(COMMON_PROTO, "PROTOBUF"))
    version = registry.get_latest_version(common).version
    schema_id = registry.register_schema(
        f"{topic}-value",
        Schema(
            ORDER_PROTO,
            "PROTOBUF",
            [SchemaReference("kafkasse_test_common.proto", common, version)],
        ),
    )
    order = order_pb2.Order(id="o2", status=1)
    order.total.currency, order.total.cents = "USD", 5
    order.lines.add(sku="s-2")
    frame = b"\x00" + schema_id.to_bytes(4, "big")
    reader = on_hub(registry_server, topic)
    send(kafka, topic, frame + b"\x02\x02" + order.SerializeToString())  # indexes [1]: Order
    # Order.Line is [1, 1]: the map field's entry type (CountsEntry) comes first.
    send(kafka, topic, frame + b"\x04\x02\x02" + order.lines[0].SerializeToString())
    events = payloads_of(reader.read(2))
    reader.close()
    assert [{k: v for k, v in e.items() if k != "_kafka"} for e in events] == [
        {
            "id": "o2",
            "total": {"currency": "USD", "cents": "5"},
            "status": "PAID",
            "counts": {},
            "blob": "",
            "lines": [{"sku": "s-2"}],
        },
        {"sku": "s-2"},
    ]
