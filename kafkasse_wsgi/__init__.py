"""kafkasse_wsgi: stream Apache Kafka topics to HTTP Server-Sent Events from WSGI apps.

Importing this package has no side effects: it patches nothing, starts nothing and installs
no log handler beyond a ``NullHandler``. Servers monkey-patch with gevent themselves (the
gunicorn gevent worker and ``kafkasse-wsgi serve`` both do).
"""

import logging

from . import errors
from .app import KafkaSSE, kafka_sse
from .message import KafkaMessage
from .options import Options, ResumePolicy

__version__ = "0.1.0"
__all__ = ["KafkaMessage", "KafkaSSE", "Options", "ResumePolicy", "errors", "kafka_sse"]

logging.getLogger(__name__).addHandler(logging.NullHandler())
