"""Request → stream, or request → JSON error: the two public entry points.

:func:`kafka_sse` serves one request inside any WSGI callable, like the Node original's
``kafkaSse(req, res, assignments, options, atTimestamp)``; :class:`KafkaSSE` is a complete
WSGI app that takes the topics from the path (``/topicA,topicB``) and the start time from
``?since=``. Everything that can fail before the response starts becomes an HTTP error with
a JSON body (``_responses.py``); after ``start_response``, errors travel inside the stream
(see ``_stream.py``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from ._admission import Ticket, admit
from ._assignments import (
    Assignment,
    StartPosition,
    parse_assignments,
    parse_last_event_id,
    parse_since,
    topics_of,
)
from ._broker_probe import explain_unavailable
from ._consumer import (
    assign_and_seek,
    check_topics,
    close_quietly,
    did_not_answer,
    kafka_call,
    open_consumer,
    within,
)
from ._disconnect import client_socket
from ._filters import EventFilter, compile_filter
from ._replay import ReplayBounds, ReplayEnd
from ._request import (
    StreamRequest,
    parse_limit,
    parse_request,
    parse_until,
    resume_within,
    spell_out,
)
from ._responses import (
    answer_other_method,
    error_response,
    nothing_left_response,
    preflight_response,
    refuse,
    stopping_response,
    stream_headers,
)
from ._start_offsets import resolve_start_positions, resolve_stop_offsets
from ._stream import EventStream, stopping
from ._tail.attach import attach_for_handoff, shares_the_tail, start_on_the_hubs
from ._tail.hub import TopicHub
from .errors import (
    InvalidAssignmentError,
    InvalidFilterError,
    KafkaSSEError,
)
from .log import PACKAGE_LOGGER, RequestLogAdapter
from .options import Options
from .tokens import authenticate

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

    from .tokens import TokenGrant


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
    """Parse → admit → bounded setup → stream, for a request already read."""
    log = RequestLogAdapter(opts.logger or logging.getLogger(PACKAGE_LOGGER), request.request_id)
    if request.wants_json and not opts.disable_sse_formatting:
        opts = opts.replace(disable_sse_formatting=True)
    if stopping():
        return stopping_response(opts, log, start_response, request)

    ticket = None
    consumer = None
    grant = None
    hubs: dict[str, TopicHub] = {}
    cursors: dict[str, int] = {}
    try:
        # Before anything that costs: a request without a good token uses no slot, no Kafka.
        grant = authenticate(environ, opts)
        wanted, timestamp = _requested(request, assignments, at_timestamp, opts)
        event_filter, bounds = _asked_for_less(request, opts)
        growing = _growing_topics(wanted)
        ticket = admit(request.client_address, opts)

        def expired() -> KafkaSSEError:
            return explain_unavailable(opts, request.request_id) or did_not_answer()

        with within(opts.setup_timeout_s, expired):
            shared = shares_the_tail(opts, bounds)
            on_hubs = None
            if shared:
                on_hubs = start_on_the_hubs(request, wanted, timestamp, opts, environ, grant, hubs)
            if on_hubs is not None:
                starts, cursors = on_hubs
                _check_partition_count(starts, opts)
                opts.call_hook("connected", log, None)
                replay = None
            else:
                consumer = open_consumer(opts, request.request_id)
                opts.call_hook("connected", log, consumer)
                check_topics(consumer, topics_of(wanted), opts, environ, grant)
                wanted = spell_out(
                    wanted, lambda t: kafka_call("metadata", consumer.partitions_for_topic, t) or ()
                )
                starts = resolve_start_positions(
                    consumer,
                    wanted,
                    timestamp,
                    opts.resume_policy,
                    log,
                    id_mode=opts.id_mode,
                )
                _check_partition_count(starts, opts)
                replay = None
                if bounds:
                    stops = (
                        resolve_stop_offsets(consumer, starts, bounds.until)
                        if bounds.until is not None
                        else None
                    )
                    replay = ReplayEnd(bounds, starts, stops)
                if replay is not None and replay.finished:
                    raise _NothingLeft
                assign_and_seek(consumer, starts)
                if shared and request.method != "HEAD":  # a HEAD reads nothing
                    attach_for_handoff(topics_of(wanted), opts, hubs)
    except BaseException as exc:
        _let_go(consumer, hubs, ticket, log)
        if isinstance(exc, _NothingLeft):
            return nothing_left_response(request, start_response, opts)
        if not isinstance(exc, Exception):
            raise
        return refuse(exc, request, environ, start_response, opts, log)

    if stopping():  # the process began to stop during the setup
        _let_go(consumer, hubs, ticket, log)
        return stopping_response(opts, log, start_response, request)
    try:
        stream = EventStream(
            consumer,
            starts,
            opts,
            log,
            ticket,
            client_socket(environ),
            event_filter=event_filter,
            replay=replay,
            growing_topics=growing,
            token_expires_at=grant.expires_at if grant is not None else None,
            hubs=hubs,
            cursors=cursors,
        )
    except BaseException as exc:
        _let_go(consumer, hubs, ticket, log)
        if not isinstance(exc, Exception):
            raise
        return refuse(exc, request, environ, start_response, opts, log)
    try:
        return _start_streaming(stream, request, start_response, opts, log, grant, starts, hubs)
    except BaseException:
        stream.end_cause = "error"
        stream.close()  # it holds the ticket, consumer and hubs now
        raise


def _let_go(
    consumer: Any, hubs: dict[str, TopicHub], ticket: Ticket | None, log: logging.LoggerAdapter
) -> None:
    """Give back what a stream's setup took, when no stream owns it (yet)."""
    close_quietly(consumer, log)
    for attached in hubs.values():
        attached.release()
    hubs.clear()
    if ticket is not None:
        ticket.release()


def _start_streaming(
    stream: EventStream,
    request: StreamRequest,
    start_response: StartResponse,
    opts: Options,
    log: logging.LoggerAdapter,
    grant: TokenGrant | None,
    starts: list[StartPosition],
    hubs: dict[str, TopicHub],
) -> Iterable[bytes]:
    """Log the start, send the headers, hand the body to the server (for a HEAD, only the
    headers: ``hubs`` it attached to are let go at once)."""
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
    start_response("200 OK", stream_headers(opts, request, starts))
    if request.method == "HEAD":
        # Headers only: a server never writes a HEAD body, so it would never notice the
        # client leaving and the consumer would stay open for good. A HEAD at the head
        # reads from the hubs (no consumer of its own); one it leaves without clients
        # closes now rather than lingering for nobody.
        stream.close()
        for attached in hubs.values():
            attached.close_if_unused()
        return []
    return stream


def _requested(
    request: StreamRequest, assignments: Any, at_timestamp: int | str | None, opts: Options
) -> tuple[list[Assignment], int | None]:
    """What the application asked for, resumed where ``Last-Event-ID`` says, within limits."""
    wanted = parse_assignments(assignments)
    last_event_id = request.last_event_id
    if last_event_id:
        limit = opts.max_last_event_id_bytes
        if limit is not None and len(last_event_id) > limit:
            raise InvalidAssignmentError(f"Last-Event-ID is too long (at most {limit} bytes)")
        wanted = resume_within(wanted, parse_last_event_id(last_event_id))
    topics = topics_of(wanted)
    if opts.max_topics is not None and len(topics) > opts.max_topics:
        raise InvalidAssignmentError(
            f"too many topics in one request ({len(topics)}, at most {opts.max_topics})"
        )
    timestamp = parse_since(at_timestamp) if at_timestamp not in (None, "") else None
    return wanted, timestamp


def _check_partition_count(starts: list[StartPosition], opts: Options) -> None:
    if opts.max_partitions is not None and len(starts) > opts.max_partitions:
        raise InvalidAssignmentError(
            f"too many partitions for one stream ({len(starts)}, at most {opts.max_partitions})"
        )


class _NothingLeft(Exception):
    """Every partition of an ``?until=`` replay is already past it: answer 204."""


def _asked_for_less(
    request: StreamRequest, opts: Options
) -> tuple[EventFilter | None, ReplayBounds]:
    """The request's ``?filter=`` (compiled, shared per process) and ``?until=``/``?limit=``."""
    event_filter = None
    if request.filter is not None:
        if not opts.allow_filters:
            raise InvalidFilterError("this server does not accept ?filter=")
        event_filter = compile_filter(request.filter, opts.max_filter_length)
    bounds = ReplayBounds(
        until=parse_until(request.until) if request.until is not None else None,
        limit=parse_limit(request.limit) if request.limit is not None else None,
    )
    return event_filter, bounds


def _growing_topics(wanted: list[Assignment]) -> list[str]:
    """Topics the stream reads whole: partitions added to them while it runs join it.

    The application's topics requested without a partition. On a resume they are still in
    ``wanted`` (the id only positions their partitions; see :func:`request.resume_within`), so
    a resumed stream goes on growing too.
    """
    return list(dict.fromkeys(a.topic for a in wanted if a.partition is None))


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
