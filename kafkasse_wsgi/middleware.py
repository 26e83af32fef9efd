"""WSGI middleware: streams under a path prefix, every other request to the wrapped app.

Put it in front of any WSGI app (Flask, Django, Pyramid, a plain callable) to add
``GET <prefix>/<topicA,topicB>?since=…`` without touching the app. Requests outside the
prefix are passed through untouched: same environ, same ``start_response``, same body.
Inside it, an ``?access_token=`` is redacted in the caller's environ (the server's access
log reads it); the rest is rewritten in a copy.

    from kafkasse_wsgi.middleware import KafkaSSEMiddleware

    application = KafkaSSEMiddleware(application, prefix="/stream",
                                     kafka_config={"bootstrap_servers": "127.0.0.1:9092"})
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ._app import KafkaSSE
from .errors import ConfigurationError
from .tokens import redact_query_token

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

__all__ = ["KafkaSSEMiddleware"]


class KafkaSSEMiddleware:
    """Serve Kafka streams under ``prefix`` in front of ``app``.

    Inside the prefix the environ is rewritten as a mounted app expects: the prefix moves
    from ``PATH_INFO`` to the end of ``SCRIPT_NAME``, so ``/stream/a,b`` reaches the stream
    with ``SCRIPT_NAME=/stream`` and ``PATH_INFO=/a,b``. ``/streamer`` is not inside
    ``/stream``: matching is by whole path segments.

    :param app: the WSGI app that answers every other request.
    :param prefix: where the streams live, e.g. ``/stream`` (not empty, not ``/``).
    :param options: :class:`~kafkasse_wsgi.Options` keywords, validated here, once.
    """

    def __init__(self, app: WSGIApplication, prefix: str = "/stream", **options: Any) -> None:
        normalized = "/" + prefix.strip("/")
        if normalized == "/":
            raise ConfigurationError(
                "prefix must name a path such as /stream; to stream every path use KafkaSSE"
            )
        self.app = app
        self.prefix = normalized
        self.streams = KafkaSSE(**options)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        # Not werkzeug's DispatcherMiddleware: it rewrites the server's own environ, whose
        # PATH_INFO gunicorn's access log (%(U)s) then shows without the prefix.
        path = environ.get("PATH_INFO", "")
        if path != self.prefix and not path.startswith(self.prefix + "/"):
            return self.app(environ, start_response)
        caller = environ
        environ = dict(environ)  # the caller's environ stays as it was...
        redact_query_token(caller)  # ...but for a query token: the server logs it from there
        environ["SCRIPT_NAME"] = environ.get("SCRIPT_NAME", "").rstrip("/") + self.prefix
        environ["PATH_INFO"] = path[len(self.prefix) :]
        return self.streams(environ, start_response)  # a HEAD's stream is closed already
