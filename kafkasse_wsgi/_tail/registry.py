"""The hubs of this process: one per topic and hub settings, found or opened for a request.

A request attaches to its topics' hubs (:func:`attach`) under its setup timeout: the first
opens a hub, the next wait for it. A hub leaves the registry when it closes (after its
linger, or failed), so the next client opens a new one. ``max_hubs`` bounds how many one
process holds; hubs lingering without clients close first to make room. Hubs are per
process: under gunicorn each worker has its own.
"""

from __future__ import annotations

from typing import Any

from .._admission import RETRY_AFTER_S
from .._kafka_config import translate
from ..errors import KafkaUnavailableError, TooManyStreamsError
from ..options import Options
from .hub import TopicHub

_hubs: dict[tuple[Any, ...], TopicHub] = {}


def _key(topic: str, options: Options) -> tuple[Any, ...]:
    """What makes two requests' hubs the same: the topic, the Kafka connection, the
    deserializer (the hub runs it for everyone) and the hub's own settings."""
    return (
        topic,
        repr(sorted(translate(options.kafka_config).items())),
        options.deserializer,
        options.tail_ring_events,
        options.tail_ring_bytes,
        options.tail_ring_age_s,
        options.tail_linger_s,
        options.tail_batch_interval_ms,
        options.broker_outage_timeout_s,
        options.idle_delay_ms,
        options.batch_size,
        options.id_mode != "offset",  # whose start timestamps are its records' (_start_offsets.py)
    )


def attach(topic: str, options: Options) -> TopicHub:
    """The hub of ``topic`` for these options, opened if there is none; the caller is one
    of its clients until it calls :meth:`TopicHub.release`.

    Opening (or waiting for another request opening it) blocks on Kafka: call it under the
    request's setup timeout.

    :raises KafkaSSEError: the topic does not exist, or Kafka did not answer.
    """
    key = _key(topic, options)
    found = _hubs.get(key)
    opening = found is None or found.closed
    if opening:
        _make_room(options.max_hubs)
    hub = (
        TopicHub(topic, options, on_closed=lambda closed: _forget(key, closed))
        if found is None or opening
        else found
    )
    if opening:
        _hubs[key] = hub
    hub.take()
    try:
        if opening:
            hub.open()
        else:
            hub.wait_open()
            hub.check_contact()
    except BaseException:  # a refusal, or the request's setup timeout
        hub.release()
        raise
    return hub


def _forget(key: tuple[Any, ...], hub: TopicHub) -> None:
    """A hub closed: the next client of its key opens a new one."""
    if _hubs.get(key) is hub:
        del _hubs[key]


def _make_room(max_hubs: int | None) -> None:
    """Room for one more hub under ``max_hubs``: hubs lingering without clients close first.

    :raises TooManyStreamsError: every hub has clients (503 with ``Retry-After``).
    """
    if max_hubs is None or len(_hubs) < max_hubs:
        return
    for idle in [hub for hub in _hubs.values() if hub.clients == 0]:
        idle.close()
        if len(_hubs) < max_hubs:
            return
    raise TooManyStreamsError(
        f"this server follows as many topics as it can (max_hubs {max_hubs}); try again later",
        status=503,
        retry_after_s=RETRY_AFTER_S,
    )


def describe_hubs() -> list[dict[str, Any]]:
    """The hubs of this process, for the status page and tests."""
    return [hub.describe() for hub in list(_hubs.values())]


def close_all_hubs() -> None:
    """Close every hub of this process now (its clients end with the error of a closed hub)."""
    for hub in list(_hubs.values()):
        hub.fail(KafkaUnavailableError("the shared tail was closed; reconnect"))
