"""Request → stream, or request → JSON error: the two public entry points, as steps.

:func:`kafka_sse` serves one request inside any WSGI callable, like the Node original's
``kafkaSse(req, res, assignments, options, atTimestamp)``; :class:`KafkaSSE` is a complete
WSGI app that takes the topics from the path (``/topicA,topicB``) and the start time from
``?since=``. Both read the request once, then :func:`stream_or_refuse` runs the steps: the
setup (``_stream_setup.py``: token, assignments, admission, the bounded Kafka part, the
shared tail's hubs), the stream (``_stream.py``), its headers. Everything that can fail
before the response starts becomes an HTTP error with a JSON body (``_responses.py``);
after ``start_response``, errors travel inside the stream.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from ._disconnect import client_socket
from ._open_streams import stopping
from ._request import StreamRequest, parse_request
from ._responses import (
    answer_other_method,
    error_response,
    nothing_left_response,
    preflight_response,
    refuse,
    stopping_response,
    stream_headers,
)
from ._stream import EventStream
from ._stream_setup import NothingLeft, StreamSetup
from .errors import InvalidAssignmentError, KafkaSSEError
from .log import PACKAGE_LOGGER, RequestLogAdapter
from .options import Options

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment


def kafka_sse(
    environ: WSGIEnvironment,
    start_response: StartResponse,
    assignments: Any,
    options: Options | Mapping[str, Any] | None = None,
    at_timestamp: int | str | None = None,
) -> Iterable[bytes]:
    """Stream ``assignments`` to this request; return the WSGI response iterable.

    :param assignments: topic names (a list, or a comma string) or assignment objects
        ``{"topic", "partition", "offset" | "timestamp"}``: what this request may read. A
        ``Last-Event-ID`` header moves the partitions it names to where it says; naming
        anything outside ``assignments`` is a 400.
    :param options: an :class:`Options` or a dict of option names.
    :param at_timestamp: start time for partitions without an offset: epoch ms or ISO-8601;
        ``None`` takes the request's ``?since=`` (the last one, if repeated).

    What every entry point reads from the request is the same: ``?since=`` (unless the
    application gives ``at_timestamp``), ``?filter=``, ``?until=``, ``?limit=``,
    ``Last-Event-ID``, ``Accept``; the topics are the application's (``assignments`` here,
    the path for :class:`KafkaSSE`).

    ``OPTIONS`` is answered with 204 (a CORS preflight when ``cors_origins`` allows the
    origin); which other methods may stream is the calling application's choice.

    Options given as a mapping that sets a ``deserializer`` are taken as made for this
    request: the stream reads through a consumer of its own, not the shared tail (whose hub
    runs one deserializer for every client), unless the mapping sets ``shared_tail``.
    """
    if (
        isinstance(options, Mapping)
        and options.get("deserializer")
        and "shared_tail" not in options
    ):
        options = {**options, "shared_tail": False}
    return respond(environ, start_response, assignments, options, at_timestamp)


def respond(
    environ: WSGIEnvironment,
    start_response: StartResponse,
    assignments: Any,
    options: Options | Mapping[str, Any] | None = None,
    at_timestamp: int | str | None = None,
) -> Iterable[bytes]:
    """:func:`kafka_sse`, without its shared-tail rule for a per-request deserializer."""
    try:
        opts = Options.from_any(options)
    except KafkaSSEError as error:
        logging.getLogger(PACKAGE_LOGGER).error("invalid options: %s", error.message)
        return error_response(error, parse_request(environ), environ, start_response, Options())
    request = parse_request(environ, opts.trusted_proxies)
    if request.method == "OPTIONS":
        return preflight_response(request, start_response, opts)
    if at_timestamp is None:
        at_timestamp = request.since
    return stream_or_refuse(request, environ, start_response, assignments, opts, at_timestamp)


def stream_or_refuse(
    request: StreamRequest,
    environ: WSGIEnvironment,
    start_response: StartResponse,
    assignments: Any,
    opts: Options,
    at_timestamp: int | str | None,
) -> Iterable[bytes]:
    """Parse → admit → bounded setup → stream, for a request already read.

    What the setup took is given back on every way out before the stream owns it: a
    refusal, a process that began to stop, a stream that could not be built; from then on
    the stream's ``close()`` gives it back (it is called here if the headers fail).
    """
    log = RequestLogAdapter(opts.logger or logging.getLogger(PACKAGE_LOGGER), request.request_id)
    if request.wants_json and not opts.disable_sse_formatting:
        opts = opts.replace(disable_sse_formatting=True)
    if stopping():
        return stopping_response(opts, log, start_response, request)

    setup = StreamSetup(request, environ, opts, log)
    try:
        setup.run(assignments, at_timestamp)
    except BaseException as exc:
        setup.let_go()
        if isinstance(exc, NothingLeft):
            return nothing_left_response(request, start_response, opts)
        if not isinstance(exc, Exception):
            raise
        return refuse(exc, request, environ, start_response, opts, log)

    if stopping():  # the process began to stop during the setup
        setup.let_go()
        return stopping_response(opts, log, start_response, request)
    try:
        stream = _stream_of(setup)
    except BaseException as exc:
        setup.let_go()
        if not isinstance(exc, Exception):
            raise
        return refuse(exc, request, environ, start_response, opts, log)
    try:
        return _start_streaming(stream, setup, start_response)
    except BaseException:
        stream.end_cause = "error"
        stream.close()  # it holds the ticket, consumer and hubs now
        raise


def _stream_of(setup: StreamSetup) -> EventStream:
    """The response body, handed everything the setup took: from here it owns it."""
    grant = setup.grant
    return EventStream(
        setup.consumer,
        setup.starts,
        setup.opts,
        setup.log,
        setup.ticket,
        client_socket(setup.environ),
        event_filter=setup.event_filter,
        replay=setup.replay,
        growing_topics=setup.growing,
        token_expires_at=grant.expires_at if grant is not None else None,
        hubs=setup.hubs,
        cursors=setup.cursors,
    )


def _start_streaming(
    stream: EventStream, setup: StreamSetup, start_response: StartResponse
) -> Iterable[bytes]:
    """Log the start, send the headers, hand the body to the server (for a HEAD, only the
    headers: hubs it attached to are let go at once)."""
    grant, opts, log = setup.grant, setup.opts, setup.log
    if grant is not None:
        log.info(
            "token of %s grants %s for %.0fs more",
            grant.subject or "(no sub)",
            ",".join(grant.topics) or "nothing",
            grant.seconds_left(),
            extra={"token_subject": grant.subject},
        )
    opts.call_hook("assigned", log, stream.positions.as_list())
    log.info("stream started: %s", stream.positions.event_id())
    start_response("200 OK", stream_headers(opts, setup.request, setup.starts))
    if setup.request.method == "HEAD":
        # Headers only: a server never writes a HEAD body, so it would never notice the
        # client leaving and the consumer would stay open for good. A HEAD at the head
        # reads from the hubs (no consumer of its own); one it leaves without clients
        # closes now rather than lingering for nobody.
        stream.close()
        for attached in setup.hubs.values():
            attached.close_if_unused()
        return []
    return stream


class KafkaSSE:
    """A WSGI app: ``GET /<topic>[,<topic>…][?since=<ms|ISO-8601>]`` streams those topics.

    The path is the authority on what is streamed: a ``Last-Event-ID`` says where the path's
    partitions resume, and an empty path is a 400 even with an id. ``OPTIONS`` is answered
    (CORS preflight), other methods get a 405 with ``Allow``.

    Takes the keyword arguments of :class:`~kafkasse_wsgi.options.Options`, validated once.
    """

    def __init__(self, **options: Any) -> None:
        self.options = Options.from_any(options)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        opts = self.options
        request = parse_request(environ, opts.trusted_proxies)
        answer = answer_other_method(request, environ, start_response, opts)
        if answer is not None:
            return answer
        if not request.path_topics:
            error = InvalidAssignmentError(
                "name one or more topics in the path: /topicA,topicB (a Last-Event-ID only "
                "says where the path's topics resume)"
            )
            return error_response(error, request, environ, start_response, opts)
        return stream_or_refuse(
            request, environ, start_response, request.path_topics, opts, request.since
        )
