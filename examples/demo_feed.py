"""A live demo feed: realistic edit events, a few per second, on a 3-partition topic.

Each event carries ``seq``, its number within its partition (equal to its Kafka offset, so
numbering continues across restarts), which lets the demo page prove that no event is lost
or duplicated across reconnects.

    python examples/demo_feed.py [--topic demo-events] [--rate 4] [--bootstrap 127.0.0.1:9092]

With ``--avro-registry URL`` the events are written in Avro instead, framed the Confluent way
by confluent-kafka's ``AvroSerializer`` against that schema registry (``dt`` then is a
``timestamp-millis``): a topic for ``kafkasse-wsgi serve --schema-registry URL``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sys
import time
from collections.abc import Callable
from typing import Any

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import TopicAlreadyExistsError

WIKIS = [
    "en.wikipedia.org",
    "de.wikipedia.org",
    "fr.wikipedia.org",
    "commons.wikimedia.org",
    "www.wikidata.org",
]
USERS = [
    "Ada",
    "Grace",
    "Linus",
    "Margaret",
    "Alan",
    "Barbara",
    "Ken",
    "Radia",
    "Edsger",
    "Frances",
]
TITLES = [
    "Apache Kafka",
    "Server-sent events",
    "Greenlet",
    "WSGI",
    "Event stream",
    "Backpressure",
    "Offset (computer science)",
    "Publish-subscribe pattern",
    "Long polling",
    "HTTP/1.1",
]
TYPES = ["edit", "edit", "edit", "new", "log", "categorize"]

#: The Avro schema of the events with ``--avro-registry``.
AVRO_SCHEMA = {
    "type": "record",
    "name": "Edit",
    "namespace": "kafkasse.demo",
    "fields": [
        {"name": "seq", "type": "long"},
        {"name": "partition", "type": "int"},
        {"name": "type", "type": "string"},
        {"name": "wiki", "type": "string"},
        {"name": "title", "type": "string"},
        {"name": "user", "type": "string"},
        {"name": "bytes_changed", "type": "int"},
        {"name": "minor", "type": "boolean"},
        {"name": "dt", "type": {"type": "long", "logicalType": "timestamp-millis"}},
    ],
}


def avro_encoder(registry_url: str, topic: str) -> Callable[[dict[str, Any]], bytes]:
    """Events as Avro in the Confluent framing, as a user's producer writes them."""
    import datetime

    from confluent_kafka.schema_registry import SchemaRegistryClient
    from confluent_kafka.schema_registry.avro import AvroSerializer
    from confluent_kafka.serialization import MessageField, SerializationContext

    serializer = AvroSerializer(
        SchemaRegistryClient({"url": registry_url}), json.dumps(AVRO_SCHEMA)
    )
    context = SerializationContext(topic, MessageField.VALUE)

    def encode(event: dict[str, Any]) -> bytes:
        dt = datetime.datetime.now(datetime.timezone.utc)
        return serializer({**event, "dt": dt}, context)

    return encode


def ensure_topic(bootstrap: str, topic: str, partitions: int) -> None:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="kafkasse-demo-admin")
    try:
        admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)])
        print(f"demo_feed: created topic {topic} with {partitions} partitions", file=sys.stderr)
    except TopicAlreadyExistsError:
        pass
    finally:
        admin.close()


def next_offsets(bootstrap: str, topic: str, partitions: int) -> dict[int, int]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, client_id="kafkasse-demo-offsets")
    try:
        deadline = time.monotonic() + 20
        while len(consumer.partitions_for_topic(topic) or ()) < partitions:
            if time.monotonic() > deadline:
                raise SystemExit(f"demo_feed: topic {topic} has no {partitions} partitions")
            time.sleep(0.2)
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        return {tp.partition: offset for tp, offset in consumer.end_offsets(tps).items()}
    finally:
        consumer.close()


def make_event(partition: int, seq: int) -> dict[str, object]:
    size = random.randint(-400, 2400)
    return {
        "seq": seq,
        "partition": partition,
        "type": random.choice(TYPES),
        "wiki": random.choice(WIKIS),
        "title": random.choice(TITLES),
        "user": random.choice(USERS),
        "bytes_changed": size,
        "minor": random.random() < 0.3,
        "dt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--topic", default="demo-events")
    parser.add_argument("--partitions", type=int, default=3)
    parser.add_argument("--rate", type=float, default=4.0, help="events per second")
    parser.add_argument(
        "--bootstrap", default=os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
    )
    parser.add_argument(
        "--count", type=int, default=0, help="stop after this many (0: run until stopped)"
    )
    parser.add_argument(
        "--avro-registry", default=None, help="write Avro through this schema registry (URL)"
    )
    args = parser.parse_args()

    ensure_topic(args.bootstrap, args.topic, args.partitions)
    seqs = next_offsets(args.bootstrap, args.topic, args.partitions)
    producer = KafkaProducer(
        bootstrap_servers=args.bootstrap, acks=1, client_id="kafkasse-demo-feed"
    )
    encode: Callable[[dict[str, Any]], bytes] = lambda event: json.dumps(event).encode()  # noqa: E731
    if args.avro_registry:
        encode = avro_encoder(args.avro_registry, args.topic)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"demo_feed: producing {args.rate}/s to {args.topic}", file=sys.stderr)
    sent = 0
    try:
        while not args.count or sent < args.count:
            partition = random.randrange(args.partitions)
            event = make_event(partition, seqs[partition])
            producer.send(
                args.topic,
                encode(event),
                partition=partition,
                key=str(event["user"]).encode(),
            )
            seqs[partition] += 1
            sent += 1
            time.sleep(random.expovariate(args.rate))
    except KeyboardInterrupt:
        pass
    finally:
        producer.flush(5)
        producer.close(5)


if __name__ == "__main__":
    main()
