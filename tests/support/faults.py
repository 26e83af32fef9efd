"""Faults a test server process injects into itself, named in the app's config (``faults``).

Some failures on the default path cannot be provoked from outside on demand: a Kafka error
at the moment a hub client detaches, a bug between a stream's setup and its first byte.
Each fault here replaces one call inside the package with one that fails the way the real
one can, so the test drives the real server, broker and client through that path.
"""

from __future__ import annotations

from typing import Any

from kafka import errors as kafka_errors


def _detach_kafka_error() -> None:
    """A hub client that fell off the ring gets a Kafka error positioning its own consumer."""
    from kafkasse_wsgi import tail_source

    def failing(consumer: Any, starts: Any) -> None:
        raise kafka_errors.KafkaConnectionError("injected: connection lost while detaching")

    tail_source.assign_and_seek = failing  # type: ignore[assignment]


FAULTS = {
    "detach_kafka_error": _detach_kafka_error,
}


def inject(names: list[str]) -> None:
    """Apply the named faults to this process."""
    for name in names:
        FAULTS[name]()
