"""The lifecycle hooks of ``kafka_event_handlers``: which events there are, how the option
is checked, and how a hook is called.

One place for the hooks' contract: a hook observes a stream, it never steers it, so one
that raises is logged and the stream goes on. (The ``message`` hook on the hot path is
called by the pump itself, under the same rule.) Pure.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from ..errors import ConfigurationError

#: The lifecycle hooks ``kafka_event_handlers`` may name, and what each receives.
KAFKA_EVENTS: dict[str, str] = {
    "connected": "(consumer) once the consumer reached the brokers; None on the shared tail",
    "assigned": "(positions) the concrete starting positions, a list of dicts",
    "message": "(kafka_message) every message polled, before deserialisation",
    "error": "(exception) any error that ends the stream",
    "disconnected": "() after the consumer is closed, however the stream ended",
}


def event_handlers(name: str, value: Any) -> Any:
    """The check of ``kafka_event_handlers``: known events, callable handlers."""
    if value is None:
        return {}  # readers call ``.get()`` on it for every stream: keep it a mapping
    if not isinstance(value, Mapping):
        raise ConfigurationError(f"{name} must be a mapping of event → callable")
    for event, handler in value.items():
        if event not in KAFKA_EVENTS:
            raise ConfigurationError(
                f"{name}: unknown event {event!r}; known: {', '.join(sorted(KAFKA_EVENTS))}"
            )
        if not callable(handler):
            raise ConfigurationError(f"{name}[{event!r}] must be callable")
    return value


def call_hook(
    handlers: Mapping[str, Callable[..., Any]],
    event: str,
    log: logging.Logger | logging.LoggerAdapter,
    *args: Any,
) -> None:
    """Call ``handlers[event]`` if set; a hook observes, so if it raises that is logged and
    the stream goes on."""
    handler = handlers.get(event)
    if handler is None:
        return
    try:
        handler(*args)
    except Exception:
        log.warning("kafka_event_handlers[%r] raised", event, exc_info=True)
