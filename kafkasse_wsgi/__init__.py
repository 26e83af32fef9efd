"""kafkasse_wsgi: stream Apache Kafka topics to HTTP Server-Sent Events from WSGI apps.

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
__all__ = ["KafkaMessage", "KafkaSSE", "Options", "ResumePolicy", "errors", "kafka_sse"]

_LAZY = {
    "KafkaSSE": "app",
    "kafka_sse": "app",
    "KafkaMessage": "message",
    "Options": "options",
    "ResumePolicy": "options",
}

if TYPE_CHECKING:
    from . import errors
    from .app import KafkaSSE, kafka_sse
    from .message import KafkaMessage
    from .options import Options, ResumePolicy


def __getattr__(name: str) -> Any:
    if name == "errors":
        return importlib.import_module(".errors", __name__)
    if name in _LAZY:
        module = importlib.import_module(f".{_LAZY[name]}", __name__)
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


logging.getLogger(__name__).addHandler(logging.NullHandler())
