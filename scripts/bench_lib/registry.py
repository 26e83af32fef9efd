"""(j) Schema registry topics: one stream replaying Avro records against the same records as
JSON, and the registry's fetch count as clients grow.

The Avro records are the replay topic's JSON documents written by confluent-kafka's own
``AvroSerializer`` (what a user's producers do) against ``scripts/registry-local``, started
here unless one answers. The JSON rate is a default server's (today's path); the Avro rate a
server with ``schema_registry``; beside the rates, the worker's CPU per event, whose ratio is
what a busy worker sustains (steadier than wall-clock rates on a shared machine). The fetch
count is the worker's own count of registry calls.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from . import data, registry_cpu, streams
from .procs import ROOT, CpuMeter, Gunicorn, run_client

REGISTRY_LOCAL = ROOT / "scripts" / "registry-local"

SCHEMA = {
    "type": "record",
    "name": "Change",
    "namespace": "bench",
    "fields": [
        {"name": "bench_ts", "type": "long"},
        {"name": "id", "type": "long"},
        {"name": "type", "type": "string"},
        {"name": "title", "type": "string"},
        {"name": "user", "type": "string"},
        {"name": "bot", "type": "boolean"},
        {
            "name": "length",
            "type": {
                "type": "record",
                "name": "Length",
                "fields": [{"name": "old", "type": "long"}, {"name": "new", "type": "long"}],
            },
        },
        {"name": "comment", "type": "string"},
    ],
}


def start_registry() -> tuple[str, bool]:
    """The registry's base URL, and whether this run started it."""
    running = subprocess.run([str(REGISTRY_LOCAL), "status"], capture_output=True).returncode == 0
    out = subprocess.run(
        [str(REGISTRY_LOCAL), "start"], check=True, capture_output=True, text=True
    ).stdout
    return out.strip().splitlines()[-1], not running


def avro_topic(kafka: data.Kafka, url: str, messages: int, message_bytes: int, reuse: bool) -> str:
    """The replay topic's documents as Avro, produced now unless already there and ``reuse``
    (a registry this run started holds no schemas: its records' ids would be unknown)."""
    from confluent_kafka.schema_registry import SchemaRegistryClient
    from confluent_kafka.schema_registry.avro import AvroSerializer
    from confluent_kafka.serialization import MessageField, SerializationContext

    topic = f"kafkasse-bench-avro-{messages}x{message_bytes}"
    if reuse and kafka.end_offset(topic) == messages:
        return topic
    if kafka.end_offset(topic) is not None:
        kafka.delete(topic)
    kafka.create(topic)
    with SchemaRegistryClient({"url": url}) as registry:
        serializer = AvroSerializer(registry, json.dumps(SCHEMA))
        context = SerializationContext(topic, MessageField.VALUE)
        producer = kafka.producer(linger_ms=20, batch_size=1 << 20, max_request_size=8 << 20)
        for i in range(messages):
            document = json.loads(data.make_value(i, message_bytes))
            producer.send(topic, serializer(document, context), partition=0)
        producer.flush()
        producer.close()
    if kafka.end_offset(topic) != messages:
        raise RuntimeError(f"{topic} does not hold {messages} messages after producing")
    return topic


def fetches(server: Gunicorn) -> int:
    return int(server._status("/_bench/registry")["fetches"])


def run(
    bootstrap: str,
    kafka: data.Kafka,
    json_topic: str,
    messages: int,
    message_bytes: int,
    repeat: int,
    clients: int,
    log_dir: Path,
    log: Any,
) -> dict[str, Any]:
    url, started = start_registry()
    try:
        topic = avro_topic(kafka, url, messages, message_bytes, reuse=not started)
        registry_options = {"schema_registry": url}
        out: dict[str, Any] = {"messages": messages, "avro_topic": topic}
        for name, options, replayed in (
            ("json", {}, json_topic),
            ("avro", registry_options, topic),
        ):
            runs = []
            for _ in range(repeat):
                with Gunicorn(bootstrap, options, log_dir=log_dir) as server:
                    meter = CpuMeter(server.worker_pid)
                    run = streams.single_stream(server.port, server.worker_pid, replayed, messages)
                    run["worker_cpu_us_per_event"] = meter.seconds() / max(run["events"], 1) * 1e6
                    runs.append(run)
            out[name] = max(runs, key=lambda r: r["eps"])
            out[name]["worker_cpu_us_per_event"] = min(r["worker_cpu_us_per_event"] for r in runs)
            log(
                f"(j) {name}: {out[name]['eps']:,.0f} ev/s, worker "
                f"{out[name]['worker_cpu_us_per_event']:.1f} µs CPU per event"
            )
        # The decoding alone, in this process (no Kafka, no HTTP): CPU per event.
        out["in_process"] = registry_cpu.run(min(messages, 100_000), message_bytes, repeat=3)
        log(
            f"(j) in process: JSON {out['in_process']['json_cpu_us']:.2f} µs CPU per event, "
            f"Avro {out['in_process']['avro_cpu_us']:.2f} µs"
        )
        out["avro_over_json"] = out["avro"]["eps"] / out["json"]["eps"]
        # What a busy worker can sustain: events per CPU second, Avro over JSON. On a shared
        # machine the wall-clock rate above swings with the load; this much less.
        out["avro_over_json_cpu"] = (
            out["json"]["worker_cpu_us_per_event"] / out["avro"]["worker_cpu_us_per_event"]
        )
        # The same replay by 1 client, then by many, each on a fresh worker: fetches per worker.
        expect = min(messages, 2000)
        out["fetches"] = {}
        for count in (1, clients):
            with Gunicorn(bootstrap, registry_options, log_dir=log_dir) as server:
                run_client(
                    {
                        "host": "127.0.0.1",
                        "port": server.port,
                        "paths": [f"/{topic}"],
                        "clients": count,
                        "last_event_id": streams.replay_id(topic),
                        "expect": expect,
                        "timeout_s": 120,
                    }
                )
                out["fetches"][str(count)] = fetches(server)
        log(f"(j) registry fetches by clients: {out['fetches']}")
        return out
    finally:
        if started:
            subprocess.run([str(REGISTRY_LOCAL), "stop"], check=False, capture_output=True)
