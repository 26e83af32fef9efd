"""The app ``kafkasse-wsgi serve`` runs: streams plus the few endpoints a deployment needs.

GET /                     the demo page (EventSource client, replay, reconnect counter);
                          ``?topics=a,b`` (default: the first allowed topic, else
                          ``demo-events``), ``?filter=``, ``?since=``, ``?until=``
GET /healthz              200 {"status": "ok"}; ``?kafka=1`` also asks the brokers (503 if
                          they don't answer within ``KAFKA_HEALTH_TIMEOUT_S``)
GET /metrics              Prometheus metrics (all workers under gunicorn)
GET /_tail                200 {"hubs": [...]}: this process's shared-tail hubs (clients, ring,
                          handoffs, detaches; see :func:`~kafkasse_wsgi.hub.describe_hubs`)
                          These two only on ``--admin-port`` when it is set, and not on the
                          stream port with subscriber tokens on.
GET /<topic>[,<topic>…]   a stream (``?since=``, ``Last-Event-ID``, ``Accept``)

Every path answers ``OPTIONS`` (204; a CORS preflight with ``--cors-origins``) and any
other method but GET and HEAD with 405 and ``Allow``, as the streams do.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable
from functools import cached_property
from importlib import resources
from typing import TYPE_CHECKING, Any

from .. import __version__
from .._app import KafkaSSE
from .._request import parse_request, query_parameter
from .._responses import answer_other_method
from .._tail.registry import describe_hubs
from ..metrics import metrics_app
from .connections import ClosingRefusals
from .health import KafkaHealth

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment


def _json(start_response: StartResponse, status: str, body: dict[str, Any]) -> list[bytes]:
    data = json.dumps(body).encode()
    start_response(
        status,
        [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(data))),
            ("Cache-Control", "no-cache"),
        ],
    )
    return [data]


#: What the demo page opens when neither ``?topics=`` nor a list of allowed topics says.
DEMO_TOPIC = "demo-events"


def _demo_page(allowed: Any) -> bytes:
    """The page, opening the first allowed topic (``?topics=`` in its URL picks others)."""
    page = resources.files(__package__).joinpath("static/index.html").read_text("utf-8")
    topic = allowed[0] if allowed and not callable(allowed) else DEMO_TOPIC
    marker = f'<meta name="kafkasse-topics" content="{DEMO_TOPIC}">'
    chosen = f'<meta name="kafkasse-topics" content="{html.escape(topic)}">'
    return page.replace(marker, chosen, 1).encode("utf-8")


#: The paths that are not streams.
_FIXED = frozenset({"", "/", "/healthz", "/metrics", "/_tail", "/favicon.ico"})
#: The paths that tell a visitor every topic's name and activity.
_ADMIN = frozenset({"/metrics", "/_tail"})


class StreamServer:
    """Routes the fixed endpoints and hands every other path to a :class:`KafkaSSE` app."""

    #: Bound on ``/healthz?kafka=1`` (or ``setup_timeout_s`` if shorter): probes expect an
    #: answer within a few seconds, and kafka-python waits for metadata without a timeout
    #: of its own once ``api_version`` is set. Leaves room for a busy worker within 5 s.
    KAFKA_HEALTH_TIMEOUT_S = 3.0

    def __init__(self, admin_port: int | None = None, **options: Any) -> None:
        """:param admin_port: the port that serves ``/metrics`` and ``/_tail`` (and
        ``/healthz``), and nothing else; then the stream port does not serve them, nor does
        it with subscriber tokens on (they name every topic to any visitor)."""
        self._admin_port = None if admin_port is None else str(admin_port)
        self.streams = KafkaSSE(**options)
        self._page = _demo_page(self.streams.options.allowed_topics)

    @cached_property
    def _admin_on_streams(self) -> bool:
        """Whether the stream port serves ``/metrics`` and ``/_tail``."""
        return self._admin_port is None and self.streams.options.jwt_keys is None

    @cached_property
    def _kafka_health(self) -> KafkaHealth:
        options = self.streams.options
        return KafkaHealth(options, min(self.KAFKA_HEALTH_TIMEOUT_S, options.setup_timeout_s))

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if self._admin_port is not None and environ.get("SERVER_PORT") == self._admin_port:
            if path not in _ADMIN and path != "/healthz":
                return _json(start_response, "404 Not Found", {"error": "not an admin path"})
        elif path in _ADMIN and not self._admin_on_streams:
            return _json(start_response, "404 Not Found", {"error": "not served here"})
        elif path not in _FIXED:
            return ClosingRefusals(self.streams, environ, start_response).answer()
        options = self.streams.options
        request = parse_request(environ, options.trusted_proxies)
        answer = answer_other_method(request, environ, start_response, options)
        if answer is not None:
            return answer
        if path in ("", "/"):
            start_response(
                "200 OK",
                [
                    ("Content-Type", "text/html; charset=utf-8"),
                    ("Content-Length", str(len(self._page))),
                ],
            )
            return [self._page]
        if path == "/healthz":
            return self._health(environ, start_response)
        if path == "/metrics":
            return metrics_app(environ, start_response)
        if path == "/_tail":
            return _json(start_response, "200 OK", {"hubs": describe_hubs()})
        start_response("204 No Content", [])  # /favicon.ico
        return []

    def _health(self, environ: WSGIEnvironment, start_response: StartResponse) -> list[bytes]:
        if query_parameter(environ, "kafka") not in ("1", "true", "yes"):
            return _json(start_response, "200 OK", {"status": "ok", "version": __version__})
        unavailable = self._kafka_health.unavailable()
        if unavailable is not None:
            status = {"status": "kafka unavailable", "error": unavailable}
            return _json(start_response, "503 Service Unavailable", status)
        return _json(
            start_response, "200 OK", {"status": "ok", "kafka": "ok", "version": __version__}
        )
