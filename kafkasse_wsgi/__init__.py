"""kafkasse_wsgi: stream Apache Kafka topics to HTTP Server-Sent Events from WSGI apps.

The public API (``__all__``); a module or subpackage whose name starts with ``_`` is internal:

- ``KafkaSSE``: a complete WSGI app, ``GET /<topic>[,<topic>…]`` streams those topics.
- ``kafka_sse``: ``kafka_sse(environ, start_response, assignments, options, at_timestamp)``
  streams inside any WSGI callable (the Node original's ``kafkaSse(req, res, …)``).
- ``Options``: every option, validated once; ``KafkaSSE(**options)`` and ``kafka_sse`` also
  take a plain dict of the same names.
- ``ResumePolicy``: ``Options.resume_policy``, where a resume outside a partition's range
  goes (``too_old``/``too_new``: ``earliest``, ``latest`` or ``error``).
- ``KafkaMessage``: what a ``deserializer`` and a ``filterer`` receive.
- ``errors``: the exceptions, each with its HTTP status (``ConfigurationError``,
  ``TopicNotAvailableError``…).
- ``configure_json_logging``: JSON log lines carrying each stream's request id, for your
  process (``kafkasse-wsgi serve`` calls it itself).

Integrations, each in its module: ``kafkasse_wsgi.contrib.flask``,
``kafkasse_wsgi.contrib.django``, ``kafkasse_wsgi.middleware``, ``kafkasse_wsgi.tokens``
(``mint_token``), ``kafkasse_wsgi.metrics`` (``metrics_app``), ``kafkasse_wsgi.gunicorn_hooks``,
``kafkasse_wsgi.schema_registry``, ``kafkasse_wsgi.log``, ``kafkasse_wsgi.hub`` (``describe_hubs``).
ARCHITECTURE.md maps the internal ones: ``_serve/`` is the ``kafkasse-wsgi serve`` command.

Importing this package has no side effects: it patches nothing, starts nothing, and installs
no log handler beyond a ``NullHandler``. It doesn't even import gevent or kafka-python until
a public name is used, so a server can monkey-patch first (the gunicorn gevent worker and
``kafkasse-wsgi serve`` do).
"""

from __future__ import annotations

import importlib
import logging
from typing import TYPE_CHECKING, Any

__version__ = "0.2.0"
__all__ = [
    "KafkaMessage",
    "KafkaSSE",
    "Options",
    "ResumePolicy",
    "configure_json_logging",
    "errors",
    "kafka_sse",
]

_LAZY = {
    "KafkaSSE": "_app",
    "kafka_sse": "_app",
    "KafkaMessage": "_message",
    "Options": "options",
    "ResumePolicy": "options",
    "configure_json_logging": "log",
}

if TYPE_CHECKING:
    from . import errors
    from ._app import KafkaSSE, kafka_sse
    from ._message import KafkaMessage
    from .log import configure_json_logging
    from .options import Options, ResumePolicy


def __getattr__(name: str) -> Any:
    if name == "errors":
        return importlib.import_module(".errors", __name__)
    if name in _LAZY:
        module = importlib.import_module(f".{_LAZY[name]}", __name__)
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    """The public names beside the module's own, though they are loaded only when used."""
    return sorted({*globals(), *__all__})


logging.getLogger(__name__).addHandler(logging.NullHandler())
