"""Request → stream, or request → JSON error: the two public entry points.

:func:`kafka_sse` serves one request inside any WSGI callable, like the Node original's
``kafkaSse(req, res, assignments, options, atTimestamp)``; :class:`KafkaSSE` is a complete
WSGI app that takes the topics from the path (``/topicA,topicB``) and the start time from
``?since=``. Everything that can fail before the response starts becomes an HTTP error with
a JSON body; after ``start_response``, errors travel inside the stream (see ``stream.py``).
"""

from __future__ import annotations

import http
import logging
import re
import uuid
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

import gevent

from . import metrics
from .admission import admit
from .assignments import (
    Assignment,
    StartPosition,
    parse_assignments,
    parse_last_event_id,
    parse_since,
    topics_of,
)
from .consumer import (
    assign_and_seek,
    check_topics,
    close_quietly,
    explain_unavailable,
    open_consumer,
    resolve_start_positions,
)
from .errors import InvalidAssignmentError, KafkaSSEError, KafkaUnavailableError
from .log import PACKAGE_LOGGER, RequestLogAdapter
from .options import Options
from .stream import EventStream

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

_REQUEST_ID = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}")

SSE_CONTENT_TYPE = "text/event-stream; charset=utf-8"
JSON_CONTENT_TYPE = "application/json; charset=utf-8"


def request_id_of(environ: WSGIEnvironment) -> str:
    """The client's ``X-Request-ID`` if it is a sane token, else a new UUID."""
    given = environ.get("HTTP_X_REQUEST_ID", "")
    # fullmatch: "$" would let a trailing newline through, into our response headers.
    return given if _REQUEST_ID.fullmatch(given) else str(uuid.uuid4())


def wants_json(environ: WSGIEnvironment) -> bool:
    """JSON lines when the client accepts JSON and not event streams."""
    accept = environ.get("HTTP_ACCEPT", "").lower()  # media types are case-insensitive
    return "application/json" in accept and "text/event-stream" not in accept


def error_response(
    error: KafkaSSEError,
    environ: WSGIEnvironment,
    start_response: StartResponse,
    request_id: str,
    options: Options | None = None,
) -> Iterable[bytes]:
    """The HTTP form of an error before the stream started (or the user's handler's)."""
    metrics.stream_refused(error.status)
    handler = options.connect_error_handler if options else None
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
        ("X-Request-ID", request_id),
        *error.http_headers(),
    ]
    start_response(status, headers)
    return [body]


def kafka_sse(
    environ: WSGIEnvironment,
    start_response: StartResponse,
    assignments: Any,
    options: Options | Mapping[str, Any] | None = None,
    at_timestamp: int | str | None = None,
) -> Iterable[bytes]:
    """Stream ``assignments`` to this request; return the WSGI response iterable.

    :param assignments: topic names (a list, or a comma string) or assignment objects
        ``{"topic", "partition", "offset" | "timestamp"}``. A ``Last-Event-ID`` header
        overrides them.
    :param options: an :class:`Options` or a dict of option names.
    :param at_timestamp: start time for partitions without an offset: epoch ms or ISO-8601.
    """
    request_id = request_id_of(environ)
    try:
        opts = Options.from_any(options)
    except KafkaSSEError as error:
        logging.getLogger(PACKAGE_LOGGER).error("invalid options: %s", error.message)
        return error_response(error, environ, start_response, request_id)
    log = RequestLogAdapter(opts.logger or logging.getLogger(PACKAGE_LOGGER), request_id)
    if wants_json(environ) and not opts.disable_sse_formatting:
        opts = opts.replace(disable_sse_formatting=True)

    ticket = None
    consumer = None
    try:
        wanted, timestamp = _requested(environ, assignments, at_timestamp, opts)
        ticket = admit(environ, opts)
        # kafka-python has blocking calls without a timeout (metadata): bound them all.
        timeout = gevent.Timeout(opts.setup_timeout_s)
        timeout.start()
        try:
            consumer = open_consumer(opts, request_id)
            opts.call_hook("connected", log, consumer)
            check_topics(consumer, topics_of(wanted), opts, environ)
            starts = resolve_start_positions(consumer, wanted, timestamp, opts.resume_policy, log)
            if opts.max_partitions is not None and len(starts) > opts.max_partitions:
                raise InvalidAssignmentError(
                    f"too many partitions for one stream ({len(starts)}, at most "
                    f"{opts.max_partitions})"
                )
            assign_and_seek(consumer, starts)
        except gevent.Timeout as expired:
            if expired is not timeout:
                raise
            raise explain_unavailable(opts, request_id) or KafkaUnavailableError(
                "Kafka did not answer in time; try again later"
            ) from None
        finally:
            timeout.close()
    except BaseException as exc:
        close_quietly(consumer, log)
        if ticket is not None:
            ticket.release()
        if not isinstance(exc, Exception):
            raise
        refusal = exc if isinstance(exc, KafkaSSEError) else None
        if refusal is None:
            log.exception("unexpected error while starting a stream")
            refusal = KafkaSSEError("internal error while starting the stream")
        else:
            log.info(
                "refused: %s %s", refusal.status, refusal.message, extra={"error": refusal.name}
            )
            opts.call_hook("error", log, refusal)
        return error_response(refusal, environ, start_response, request_id, opts)

    stream = EventStream(consumer, starts, opts, log, ticket)
    opts.call_hook("assigned", log, stream.positions.as_list())
    log.info("stream started: %s", stream.positions.event_id())
    start_response("200 OK", _stream_headers(opts, request_id, starts))
    if environ.get("REQUEST_METHOD") == "HEAD":
        # Headers only: a server never writes a HEAD body, so it would never notice the
        # client leaving and the consumer would stay open for good.
        stream.close()
        return []
    return stream


def _requested(
    environ: WSGIEnvironment, assignments: Any, at_timestamp: int | str | None, opts: Options
) -> tuple[list[Assignment], int | None]:
    """What the client asks for (``Last-Event-ID`` wins), within the request-size limits."""
    last_event_id = environ.get("HTTP_LAST_EVENT_ID")
    if last_event_id:
        limit = opts.max_last_event_id_bytes
        if limit is not None and len(last_event_id) > limit:
            raise InvalidAssignmentError(f"Last-Event-ID is too long (at most {limit} bytes)")
        wanted = parse_last_event_id(last_event_id)
    else:
        wanted = parse_assignments(assignments)
    topics = topics_of(wanted)
    if opts.max_topics is not None and len(topics) > opts.max_topics:
        raise InvalidAssignmentError(
            f"too many topics in one request ({len(topics)}, at most {opts.max_topics})"
        )
    timestamp = parse_since(at_timestamp) if at_timestamp not in (None, "") else None
    return wanted, timestamp


def _stream_headers(
    opts: Options, request_id: str, starts: list[StartPosition]
) -> list[tuple[str, str]]:
    headers = [
        ("Content-Type", JSON_CONTENT_TYPE if opts.disable_sse_formatting else SSE_CONTENT_TYPE),
        ("Cache-Control", "no-cache"),
        ("X-Accel-Buffering", "no"),
        ("X-Request-ID", request_id),
    ]
    resets = [s for s in starts if s.source == "reset"]
    if resets:
        # Said in a header too, so a client that only looks at the response knows.
        summary = ",".join(
            f"{s.topic}/{s.partition}:{s.requested_offset}->{s.offset}" for s in resets
        )
        headers.append(("X-KafkaSSE-Reset", summary))
    return headers


class KafkaSSE:
    """A WSGI app: ``GET /<topic>[,<topic>…][?since=<ms|ISO-8601>]`` streams those topics.

    Takes the keyword arguments of :class:`~kafkasse_wsgi.options.Options`, validated once.
    """

    def __init__(self, **options: Any) -> None:
        self.options = Options.from_any(options)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        if method not in ("GET", "HEAD"):
            error = InvalidAssignmentError(f"method {method} not allowed; use GET")
            error.status = 405
            return error_response(error, environ, start_response, request_id_of(environ))
        topics = environ.get("PATH_INFO", "").strip("/")
        query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
        since = query.get("since", [None])[-1]
        if not topics and not environ.get("HTTP_LAST_EVENT_ID"):
            error = InvalidAssignmentError("name one or more topics in the path: /topicA,topicB")
            return error_response(error, environ, start_response, request_id_of(environ))
        return kafka_sse(environ, start_response, topics, self.options, since)
