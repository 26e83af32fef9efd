"""The apps the tests serve, built from a JSON config so they can run in a server process.

``make_app(config)`` returns a :class:`KafkaSSE` app behind a small test middleware that
adds ``/_debug`` (greenlets, threads, open sockets) so tests can observe the server side.
Callables (deserializer, filterer...) are named in the config and looked up here.
"""

from __future__ import annotations

import gc
import json
import threading
from typing import Any

import gevent

from kafkasse_wsgi import KafkaMessage, KafkaSSE, kafka_sse
from kafkasse_wsgi import _admission as admission
from kafkasse_wsgi._consumer import private_consumers_open
from kafkasse_wsgi._message import default_deserializer
from kafkasse_wsgi._stopping import STOP_TIMEOUT_S
from tests.support import faults

#: How long the sleepy hooks block, cooperatively, per message.
SLEEPY_HOOK_S = 0.5


def upper_deserializer(kafka_message: KafkaMessage) -> KafkaMessage:
    """A custom deserializer as the Node original's tests use: reshapes the value."""
    value = json.loads(kafka_message.value)
    kafka_message.message = {"custom": True, "n": value.get("n"), "offset": kafka_message.offset}
    return kafka_message


def even_filter(kafka_message: KafkaMessage) -> bool:
    return kafka_message.message.get("n", 0) % 2 == 0


def exploding_filter(kafka_message: KafkaMessage) -> bool:
    if kafka_message.message.get("n") == 2:
        raise RuntimeError("filter failed on purpose")
    return True


def circular_on_n3(kafka_message: KafkaMessage) -> KafkaMessage:
    """A buggy deserializer: on ``n == 3`` its result refers to itself (no JSON form)."""
    message = json.loads(kafka_message.value)
    if message.get("n") == 3:
        message["self"] = message
    kafka_message.message = message
    return kafka_message


def non_finite_on_n1_n2(kafka_message: KafkaMessage) -> KafkaMessage:
    """A deserializer of sensor readings: ``n == 1`` reads NaN, ``n == 2`` Infinity."""
    message = json.loads(kafka_message.value)
    message["reading"] = {1: float("nan"), 2: float("-inf")}.get(message.get("n"), 0.5)
    kafka_message.message = message
    return kafka_message


def sleepy_deserializer(kafka_message: KafkaMessage) -> KafkaMessage:
    """A deserializer that waits on something slow (a lookup service) for every message."""
    gevent.sleep(SLEEPY_HOOK_S)
    return default_deserializer(kafka_message)


def sleepy_filter(kafka_message: KafkaMessage) -> bool:
    """A filterer that waits on something slow (a permission check) for every message."""
    gevent.sleep(SLEEPY_HOOK_S)
    return True


#: How long :func:`slow_on_n4` waits: longer than the heartbeat of the test using it.
SLOW_HOOK_S = 2.5


def slow_on_n4(kafka_message: KafkaMessage) -> KafkaMessage:
    """The default deserializer, but waiting (as on a remote service) for message n=4."""
    from kafkasse_wsgi._message import default_deserializer

    kafka_message = default_deserializer(kafka_message)
    if kafka_message.message.get("n") == 4:
        gevent.sleep(SLOW_HOOK_S)
    return kafka_message


#: How long :func:`stubborn_deserializer` takes to finish once told to stop: longer than a
#: stop waits for a greenlet (``STOP_TIMEOUT_S``).
STUBBORN_CLEANUP_S = STOP_TIMEOUT_S + 1


def stubborn_deserializer(kafka_message: KafkaMessage) -> KafkaMessage:
    """A deserializer that waits on a slow service and, interrupted, finishes its work
    first (it catches the kill, as a bare ``except:`` around a retry would)."""
    try:
        gevent.sleep(SLEEPY_HOOK_S)
    except BaseException:
        gevent.sleep(STUBBORN_CLEANUP_S)
    return default_deserializer(kafka_message)


CALLABLES = {
    "stubborn_deserializer": stubborn_deserializer,
    "upper_deserializer": upper_deserializer,
    "even_filter": even_filter,
    "exploding_filter": exploding_filter,
    "circular_on_n3": circular_on_n3,
    "non_finite_on_n1_n2": non_finite_on_n1_n2,
    "slow_on_n4": slow_on_n4,
    "sleepy_deserializer": sleepy_deserializer,
    "sleepy_filter": sleepy_filter,
}


def _debug_state() -> dict[str, Any]:
    import greenlet

    return {
        "greenlets": sum(
            1 for obj in gc.get_objects() if isinstance(obj, greenlet.greenlet) and not obj.dead
        ),
        "threads": threading.active_count(),
        "admitted": admission._open_total,  # tickets not yet released
        "private_consumers": private_consumers_open(),
        "consumers_opened": faults.consumers_opened,
    }


def recording_hooks(path: str) -> dict[str, Any]:
    """kafka_event_handlers that append one JSON line per call to ``path``."""

    def record(event: str) -> Any:
        def handler(*args: Any) -> None:
            detail: Any = None
            if event == "assigned":
                detail = args[0]
            elif event == "message":
                detail = [args[0].topic, args[0].partition, args[0].offset]
            elif event == "error":
                detail = type(args[0]).__name__
            with open(path, "a") as out:
                out.write(json.dumps({"event": event, "detail": detail}) + "\n")

        return handler

    return {
        name: record(name) for name in ("connected", "assigned", "message", "error", "disconnected")
    }


def _resolve_callables(options: dict[str, Any]) -> dict[str, Any]:
    options = dict(options)
    for key in ("deserializer", "filterer"):
        if isinstance(options.get(key), str):
            options[key] = CALLABLES[options[key]]
    return options


def make_app(config: dict[str, Any]) -> Any:
    faults.count_consumers()
    faults.inject(config.get("faults", []))
    options = _resolve_callables(config.get("options", {}))
    if config.get("record_hooks"):
        options["kafka_event_handlers"] = recording_hooks(config["record_hooks"])
    if isinstance(options.get("allowed_topics"), dict):
        # {"prefix": "x"}: a callable deciding per request and topic.
        prefix = options["allowed_topics"]["prefix"]
        options["allowed_topics"] = lambda environ, topic: topic.startswith(prefix)
    mode = config.get("mode", "app")
    if mode == "app":
        inner = KafkaSSE(**options)
    elif mode == "server":  # what ``kafkasse-wsgi serve`` runs: /healthz, /metrics, streams
        from kafkasse_wsgi._serve.server import StreamServer

        inner = StreamServer(**options)
    else:  # "function": the kafka_sse() entry point with fixed assignments
        assignments = config["assignments"]
        at_timestamp = config.get("at_timestamp")

        def inner(environ: Any, start_response: Any) -> Any:
            return kafka_sse(environ, start_response, assignments, options, at_timestamp)

    # {"/prefix": {options}}: more apps in the same process, their options over the base ones.
    mounts = {
        prefix: KafkaSSE(**{**options, **_resolve_callables(extra)})
        for prefix, extra in config.get("mounts", {}).items()
    }

    inner = faults.wrap_app(inner, config.get("faults", []))

    def app(environ: Any, start_response: Any) -> Any:
        path = environ.get("PATH_INFO", "")
        if path == "/_debug":
            gc.collect()
            body = json.dumps(_debug_state()).encode()
            start_response("200 OK", [("Content-Type", "application/json")])
            return [body]
        for prefix, mounted in mounts.items():
            if path.startswith(prefix + "/"):
                environ["PATH_INFO"] = path[len(prefix) :]
                return mounted(environ, start_response)
        return inner(environ, start_response)

    return app
