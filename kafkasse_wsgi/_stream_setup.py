"""A stream's setup, step by step: token, what it may read, admission, the bounded Kafka part.

Runs in the request's greenlet before ``start_response``, so every step that refuses raises
the HTTP error it becomes (``_responses.py``). What a step takes (the admission ticket, a
consumer, a place on hubs) is held by the :class:`StreamSetup` the moment it is taken, so
one :meth:`StreamSetup.let_go` gives it all back when no stream comes to own it; once one
does (``EventStream``), its ``close()`` gives it back instead.
"""

from __future__ import annotations

import dataclasses
import logging
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
from ._filters import EventFilter, compile_filter
from ._replay import ReplayBounds, ReplayEnd
from ._request import StreamRequest, parse_limit, parse_until, resume_within, spell_out
from ._start_offsets import resolve_start_positions, resolve_stop_offsets
from ._tail.attach import attach_for_handoff, shares_the_tail, start_on_the_hubs
from ._tail.hub import TopicHub
from .errors import InvalidAssignmentError, InvalidFilterError, KafkaSSEError
from .options import Options
from .tokens import authenticate

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment

    from .tokens import TokenGrant


class NothingLeft(Exception):
    """Every partition of an ``?until=`` replay is already past it: answer 204."""


@dataclasses.dataclass
class StreamSetup:
    """What the setup of one request's stream took and found, filled in as it goes."""

    request: StreamRequest
    environ: WSGIEnvironment
    opts: Options
    log: logging.LoggerAdapter
    grant: TokenGrant | None = None
    ticket: Ticket | None = None
    consumer: Any = None
    hubs: dict[str, TopicHub] = dataclasses.field(default_factory=dict)
    cursors: dict[str, int] = dataclasses.field(default_factory=dict)
    starts: list[StartPosition] = dataclasses.field(default_factory=list)
    event_filter: EventFilter | None = None
    replay: ReplayEnd | None = None
    growing: list[str] = dataclasses.field(default_factory=list)

    def run(self, assignments: Any, at_timestamp: int | str | None) -> None:
        """Every step, in order: the first that refuses raises (:class:`NothingLeft` for a
        replay with nothing left), leaving what the earlier ones took to :meth:`let_go`."""
        request, opts = self.request, self.opts
        # Before anything that costs: a request without a good token uses no slot, no Kafka.
        self.grant = authenticate(self.environ, opts)
        wanted, timestamp = _requested(request, assignments, at_timestamp, opts)
        self.event_filter, bounds = _asked_for_less(request, opts)
        self.growing = _growing_topics(wanted)
        self.ticket = admit(request.client_address, opts)

        def expired() -> KafkaSSEError:
            return explain_unavailable(opts, request.request_id) or did_not_answer()

        with within(opts.setup_timeout_s, expired):
            shared = shares_the_tail(opts, bounds)
            on_hubs = None
            if shared:
                on_hubs = start_on_the_hubs(
                    request, wanted, timestamp, opts, self.environ, self.grant, self.hubs
                )
            if on_hubs is not None:
                self.starts, self.cursors = on_hubs
                _check_partition_count(self.starts, opts)
                opts.call_hook("connected", self.log, None)
            else:
                wanted = self._through_own_consumer(wanted, timestamp, bounds)
                if shared and request.method != "HEAD":  # a HEAD reads nothing
                    attach_for_handoff(topics_of(wanted), opts, self.hubs)

    def _through_own_consumer(
        self, wanted: list[Assignment], timestamp: int | None, bounds: ReplayBounds
    ) -> list[Assignment]:
        """Open the stream's own consumer, check its topics, resolve where each partition
        starts (and a replay's stops), assign and seek; the assignments spelled out."""
        opts, log = self.opts, self.log
        consumer = self.consumer = open_consumer(opts, self.request.request_id)
        opts.call_hook("connected", log, consumer)
        check_topics(consumer, topics_of(wanted), opts, self.environ, self.grant)
        wanted = spell_out(
            wanted, lambda t: kafka_call("metadata", consumer.partitions_for_topic, t) or ()
        )
        self.starts = resolve_start_positions(
            consumer,
            wanted,
            timestamp,
            opts.resume_policy,
            log,
            id_mode=opts.id_mode,
        )
        _check_partition_count(self.starts, opts)
        if bounds:
            stops = (
                resolve_stop_offsets(consumer, self.starts, bounds.until)
                if bounds.until is not None
                else None
            )
            self.replay = ReplayEnd(bounds, self.starts, stops)
        if self.replay is not None and self.replay.finished:
            raise NothingLeft
        assign_and_seek(consumer, self.starts)
        return wanted

    def let_go(self) -> None:
        """Give back what the setup took, when no stream owns it (yet)."""
        close_quietly(self.consumer, self.log)
        for attached in self.hubs.values():
            attached.release()
        self.hubs.clear()
        if self.ticket is not None:
            self.ticket.release()


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


def _check_partition_count(starts: list[StartPosition], opts: Options) -> None:
    if opts.max_partitions is not None and len(starts) > opts.max_partitions:
        raise InvalidAssignmentError(
            f"too many partitions for one stream ({len(starts)}, at most {opts.max_partitions})"
        )
