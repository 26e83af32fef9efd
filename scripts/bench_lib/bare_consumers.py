"""N bare kafka-python consumers under gevent, set up and polled as a stream's would be
(same config, topics(), end offsets, assign, seek, ``poll(timeout_ms=idle_delay_ms)``), but
with no HTTP, queue or formatting: the consumer's own share of an idle stream's cost.

Run as ``python -m scripts.bench_lib.bare_consumers BOOTSTRAP TOPIC N``; prints ``BASE`` when
warm and idle, ``READY`` when all N consumers poll, and exits when stdin closes.
"""

from gevent import monkey

monkey.patch_all()

import resource  # noqa: E402
import sys  # noqa: E402
import uuid  # noqa: E402

import gevent  # noqa: E402
from gevent.lock import Semaphore  # noqa: E402
from kafka import KafkaConsumer, TopicPartition  # noqa: E402

from kafkasse_wsgi._kafka_config import consumer_config  # noqa: E402
from kafkasse_wsgi.options import Options  # noqa: E402


def open_one(bootstrap: str, topic: str) -> KafkaConsumer:
    import selectors

    config = consumer_config({"bootstrap_servers": bootstrap}, str(uuid.uuid4()))
    config.setdefault("selector", selectors.DefaultSelector)
    consumer = KafkaConsumer(**config)
    consumer.topics()
    consumer.partitions_for_topic(topic)
    tp = TopicPartition(topic, 0)
    end = consumer.end_offsets([tp])[tp]
    consumer.assign([tp])
    consumer.seek(tp, end)
    return consumer


def poll_forever(consumer: KafkaConsumer) -> None:
    timeout_ms = Options.DEFAULT_IDLE_DELAY_MS
    batch = Options.DEFAULT_BATCH_SIZE
    while True:
        consumer.poll(timeout_ms=timeout_ms, max_records=batch)


def main() -> None:
    bootstrap, topic, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    warm = open_one(bootstrap, topic)  # imports, protocol classes: not per-consumer costs
    warm.poll(timeout_ms=100)
    warm.close()
    gevent.sleep(0.5)
    print("BASE", flush=True)
    sys.stdin.readline()
    gate = Semaphore(50)
    consumers = []

    def start() -> None:
        with gate:
            consumer = open_one(bootstrap, topic)
        consumers.append(consumer)
        poll_forever(consumer)

    greenlets = [gevent.spawn(start) for _ in range(n)]
    while len(consumers) < n and not any(g.dead for g in greenlets):
        gevent.sleep(0.05)
    print("READY", flush=True)
    sys.stdin.readline()


if __name__ == "__main__":
    main()
