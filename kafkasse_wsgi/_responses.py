"""The app's answers that are not a stream's body: JSON errors, 204s, 405s, stream headers.

Everything that can fail before ``start_response`` becomes one of these (:func:`refuse`
decides how a failed setup is logged and told); after it, errors travel inside the stream
(see ``_stream.py``). Kept apart from the request's steps (``_app.py``) so those read as
steps, and so every entry point (``KafkaSSE``, ``kafka_sse``, the frameworks, the serve
command) answers a method or an error the same way.
"""

from __future__ import annotations

import http
import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING

from . import metrics
from ._assignments import StartPosition
from ._cors import VARY, cors_headers, preflight_headers
from ._open_streams import stopping_body
from ._request import ALLOWED_METHODS, STREAM_METHODS, StreamRequest
from .errors import KafkaSSEError, MethodNotAllowedError
from .log import PACKAGE_LOGGER
from .options import Options

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

SSE_CONTENT_TYPE = "text/event-stream; charset=utf-8"
JSON_CONTENT_TYPE = "application/json; charset=utf-8"


def error_response(
    error: KafkaSSEError,
    request: StreamRequest,
    environ: WSGIEnvironment,
    start_response: StartResponse,
    options: Options,
) -> Iterable[bytes]:
    """The HTTP form of an error before the stream started (or the user's handler's)."""
    metrics.stream_refused(error.status)
    handler = options.connect_error_handler
    if handler is not None:
        try:
            return handler(error, environ, start_response)
        except Exception:
            logging.getLogger(PACKAGE_LOGGER).exception("connect_error_handler failed")
    body = error.to_json().encode("utf-8")
    status = f"{error.status} {http.HTTPStatus(error.status).phrase}"
    headers = [
        ("Content-Type", JSON_CONTENT_TYPE),
        ("Content-Length", str(len(body))),
        ("Cache-Control", "no-cache"),
        ("X-Request-ID", request.request_id),
        VARY,
        *cors_headers(options, request.origin),
        *error.http_headers(),
    ]
    start_response(status, headers)
    return [body]


def refuse(
    exc: Exception,
    request: StreamRequest,
    environ: WSGIEnvironment,
    start_response: StartResponse,
    opts: Options,
    log: logging.LoggerAdapter,
) -> Iterable[bytes]:
    """The HTTP error for a setup that failed with ``exc`` (a 500 for anything unforeseen)."""
    refusal = exc if isinstance(exc, KafkaSSEError) else None
    if refusal is None:
        log.exception("unexpected error while starting a stream")
        refusal = KafkaSSEError("internal error while starting the stream")
    else:
        # A 5xx is the server's or Kafka's trouble: seen at --log-level WARNING.
        log.log(
            logging.WARNING if refusal.status >= 500 else logging.INFO,
            "refused: %s %s",
            refusal.status,
            refusal.message,
            extra={"error": refusal.name},
        )
        opts.call_hook("error", log, refusal)
    return error_response(refusal, request, environ, start_response, opts)


def preflight_response(
    request: StreamRequest, start_response: StartResponse, options: Options
) -> Iterable[bytes]:
    """``204`` to ``OPTIONS``: the methods served, and to an allowed origin its CORS grant."""
    headers = [("X-Request-ID", request.request_id), *preflight_headers(options, request.origin)]
    start_response("204 No Content", headers)
    return []


def answer_other_method(
    request: StreamRequest,
    environ: WSGIEnvironment,
    start_response: StartResponse,
    options: Options,
) -> Iterable[bytes] | None:
    """``OPTIONS`` → 204 (CORS preflight), not GET/HEAD → 405 with ``Allow``; else ``None``."""
    if request.method == "OPTIONS":
        return preflight_response(request, start_response, options)
    if request.method in STREAM_METHODS:
        return None
    error = MethodNotAllowedError(
        f"method {request.method} not allowed; use GET", allow=ALLOWED_METHODS
    )
    return error_response(error, request, environ, start_response, options)


def nothing_left_response(
    request: StreamRequest, start_response: StartResponse, options: Options
) -> Iterable[bytes]:
    """``204 No Content``: the replay is complete, and per the SSE spec a browser's
    ``EventSource`` stops reconnecting on it."""
    headers = [
        ("Cache-Control", "no-cache"),
        ("X-Request-ID", request.request_id),
        VARY,
        *cors_headers(options, request.origin),
    ]
    start_response("204 No Content", headers)
    return []


def stopping_response(
    opts: Options, log: logging.LoggerAdapter, start_response: StartResponse, request: StreamRequest
) -> list[bytes]:
    """A stream that ends at once, on a connection that closes (a proxy must not send the
    next request to this process again): see :func:`~kafkasse_wsgi._open_streams.stopping`."""
    log.info("not started: this process is stopping", extra={"end_cause": "shutdown"})
    # WSGI leaves hop-by-hop headers to the server; this one is the exception servers accept
    # from an app: gevent's pywsgi closes the connection after the response, gunicorn drops
    # the header and closes kept-alive connections itself once it is stopping.
    headers = [*stream_headers(opts, request, []), ("Connection", "close")]
    start_response("200 OK", headers)
    return [stopping_body(not opts.disable_sse_formatting, opts.reconnect_spread_ms)]


def stream_headers(
    opts: Options, request: StreamRequest, starts: list[StartPosition]
) -> list[tuple[str, str]]:
    """The headers a stream's ``200`` starts with: SSE or JSON lines, never buffered, and
    the partitions whose start was reset (``X-KafkaSSE-Reset``)."""
    headers = [
        ("Content-Type", JSON_CONTENT_TYPE if opts.disable_sse_formatting else SSE_CONTENT_TYPE),
        ("Cache-Control", "no-cache"),
        ("X-Accel-Buffering", "no"),
        ("X-Request-ID", request.request_id),
        VARY,
        *cors_headers(opts, request.origin),
    ]
    resets = [s for s in starts if s.source == "reset"]
    if resets:
        # Said in a header too, so a client that only looks at the response knows.
        summary = ",".join(
            f"{s.topic}/{s.partition}:{s.requested_offset}->{s.offset}" for s in resets
        )
        headers.append(("X-KafkaSSE-Reset", summary))
    return headers
