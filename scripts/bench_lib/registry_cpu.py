"""(j, in process) CPU per event of decoding Avro against the same records as JSON.

The bench's replay documents (``data.make_value``) framed as confluent-kafka's
``AvroSerializer`` frames them (byte 0, the schema id, fastavro's payload), decoded as the
hub does (the registry deserializer's ``ready``, then ``event_data``) with the schema served
from memory; the JSON records by the default path (``default_event_data``). Each side is
timed in CPU seconds (``time.process_time``) over the same records, best of ``repeat``
rounds, alternating: on a loaded machine that is far steadier than a worker's wall-clock
rate, and it measures only our decoding (no Kafka, no HTTP).

    PYTHONPATH=. .venv/bin/python -m scripts.bench_lib.registry_cpu [records] [bytes] [repeat]
"""

from __future__ import annotations

import io
import json
import sys
import time
import types
from typing import Any

import fastavro

from kafkasse_wsgi._message import default_event_data
from kafkasse_wsgi.schema_registry import RegistryConfig
from kafkasse_wsgi.schema_registry.client import RegistrySchema
from kafkasse_wsgi.schema_registry.deserializer import RegistryDeserializer

from . import data, registry

SCHEMA_ID = 7


def records(count: int, size: int) -> tuple[list[Any], list[Any]]:
    """The same documents as JSON records and as framed Avro records."""
    parsed = fastavro.parse_schema(registry.SCHEMA)
    frame = b"\x00" + SCHEMA_ID.to_bytes(4, "big")
    as_json, as_avro = [], []
    for i in range(count):
        value = data.make_value(i, size)
        out = io.BytesIO()
        fastavro.schemaless_writer(out, parsed, json.loads(value))
        for target, payload in ((as_json, value), (as_avro, frame + out.getvalue())):
            target.append(
                types.SimpleNamespace(
                    topic="kafkasse-bench",
                    partition=0,
                    offset=i,
                    timestamp=i,
                    key=None,
                    value=payload,
                )
            )
    return as_json, as_avro


def deserializer() -> RegistryDeserializer:
    found = RegistryDeserializer(RegistryConfig("http://registry.invalid"))
    schema = RegistrySchema(json.dumps(registry.SCHEMA), "AVRO", ())
    found.client.schema_by_id = lambda schema_id: schema  # type: ignore[method-assign]
    return found


def as_the_hub_does(deserializer: RegistryDeserializer) -> Any:
    """The hub's call: ``ready`` (may it wait on the registry?), then ``event_data``."""

    def decode(record: Any) -> str | None:
        return deserializer.event_data(record) if deserializer.ready(record) else None

    return decode


def cpu_us_per_event(decode: Any, batch: list[Any]) -> float:
    start = time.process_time()
    for record in batch:
        decode(record)
    return (time.process_time() - start) / len(batch) * 1e6


def run(count: int = 100_000, size: int = 300, repeat: int = 5) -> dict[str, float]:
    as_json, as_avro = records(count, size)
    avro = deserializer()
    event = json.loads(avro.event_data(as_avro[1]))
    del event["_kafka"]["value_schema_id"]
    if event != json.loads(default_event_data(as_json[1])):
        raise RuntimeError("the Avro and JSON events differ")
    json_us, avro_us = [], []
    for _ in range(repeat):
        json_us.append(cpu_us_per_event(default_event_data, as_json))
        avro_us.append(cpu_us_per_event(as_the_hub_does(avro), as_avro))
    out = {"records": count, "json_cpu_us": min(json_us), "avro_cpu_us": min(avro_us)}
    out["avro_over_json_cpu"] = out["json_cpu_us"] / out["avro_cpu_us"]
    return out


def main(argv: list[str]) -> None:
    args = [int(arg) for arg in argv]
    out = run(*args)
    print(
        f"{out['records']:,} records: JSON {out['json_cpu_us']:.2f} µs CPU per event, "
        f"Avro {out['avro_cpu_us']:.2f} µs; Avro/JSON rate {out['avro_over_json_cpu']:.2f}x"
    )


if __name__ == "__main__":
    main(sys.argv[1:])
