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
    from kafkasse_wsgi._tail import source as tail_source

    def failing(consumer: Any, starts: Any) -> None:
        raise kafka_errors.KafkaConnectionError("injected: connection lost while detaching")

    tail_source.assign_and_seek = failing  # type: ignore[assignment]


def _stream_setup_fails() -> None:
    """A bug in building a stream's response, after its setup (admitted, attached, assigned)."""
    from kafkasse_wsgi import _app as app

    def failing(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("injected: the stream could not be built")

    app.EventStream = failing  # type: ignore[assignment,misc]


#: The value that makes a hub's poll fail (``hub_poll_fails``), once.
HUB_FAULT_MARK = b'"hub_fault"'


def _hub_poll_fails() -> None:
    """A hub's poll fails with a Kafka error (a connection lost mid-fetch) the first time
    it would return a record holding :data:`HUB_FAULT_MARK`."""
    from kafkasse_wsgi._tail import hub

    opened = hub.open_consumer
    fired = False

    def open_failing(*args: Any, **kwargs: Any) -> Any:
        consumer = opened(*args, **kwargs)
        poll = consumer.poll

        def failing_poll(*args: Any, **kwargs: Any) -> Any:
            nonlocal fired
            polled = poll(*args, **kwargs)
            marked = any(
                HUB_FAULT_MARK in (record.value or b"")
                for records in polled.values()
                for record in records
            )
            if marked and not fired:
                fired = True
                raise kafka_errors.KafkaConnectionError("injected: connection lost mid-fetch")
            return polled

        consumer.poll = failing_poll
        return consumer

    hub.open_consumer = open_failing  # type: ignore[assignment]


#: Kafka consumers this process opened (see :func:`count_consumers`).
consumers_opened = 0


def count_consumers() -> None:
    """Count every consumer the package opens (``/_debug`` reports it): not a fault, a
    probe, so a test can tell how many consumers a request cost."""
    from kafkasse_wsgi import _consumer as consumer

    class Counted(consumer.KafkaConsumer):  # type: ignore[misc,name-defined]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            global consumers_opened
            consumers_opened += 1
            super().__init__(*args, **kwargs)

    consumer.KafkaConsumer = Counted  # type: ignore[misc]


FAULTS = {
    "detach_kafka_error": _detach_kafka_error,
    "stream_setup_fails": _stream_setup_fails,
    "hub_poll_fails": _hub_poll_fails,
    "start_response_fails": lambda: None,  # see wrap_app
}


def inject(names: list[str]) -> None:
    """Apply the named faults to this process."""
    for name in names:
        FAULTS[name]()


def wrap_app(app: Any, names: list[str]) -> Any:
    """``app`` behind the server-side faults named: ``start_response_fails`` makes the
    server's ``start_response`` raise for a stream (a 200), as a server may on a header it
    does not accept."""
    if "start_response_fails" not in names:
        return app

    def faulty(environ: Any, start_response: Any) -> Any:
        def failing_start(status: str, headers: Any, exc_info: Any = None) -> Any:
            if status.startswith("200") and any(
                value.startswith("text/event-stream") for _name, value in headers
            ):
                raise RuntimeError("injected: start_response failed")
            return start_response(status, headers, exc_info)

        return app(environ, failing_start)

    return faulty
