"""The request, read once: what a client sent that a stream depends on, and what it may ask.

Every entry point (:class:`~kafkasse_wsgi.KafkaSSE`, :func:`~kafkasse_wsgi.kafka_sse`, the
Flask and Django helpers, the middleware) turns the WSGI environ into one
:class:`StreamRequest` with :func:`parse_request`, with werkzeug's readers: query arguments,
``Accept`` negotiation (``MIMEAccept``), the ``ProxyFix`` rule for ``X-Forwarded-For``.

The application's assignments are the authority on *what* is streamed; a ``Last-Event-ID``
only says *where* each of those partitions resumes (:func:`resume_within`). An id that names
anything else is refused: it would otherwise open any topic the allow-list admits.
Pure: no Kafka, no I/O.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
import uuid
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from werkzeug.datastructures import MIMEAccept
from werkzeug.http import parse_accept_header, parse_list_header
from werkzeug.wrappers import Request

from ._assignments import Assignment, parse_since, topics_of
from .errors import InvalidAssignmentError, InvalidReplayBoundsError
from .options import TrustedNetworks

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment

__all__ = [
    "ALLOWED_METHODS",
    "MAX_LIMIT",
    "STREAM_METHODS",
    "StreamRequest",
    "parse_limit",
    "parse_request",
    "parse_until",
    "query_parameter",
    "resume_within",
    "spell_out",
]

#: The methods a stream answers; OPTIONS is answered too (CORS preflight), without a stream.
STREAM_METHODS = ("GET", "HEAD")
#: Methods a stream answers, as ``Allow``, preflights and the framework routes list them.
ALLOWED_METHODS = (*STREAM_METHODS, "OPTIONS")
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}")
_DIGITS = re.compile(r"[0-9]{1,19}")
#: The largest ``?limit=``: beyond it, a limit is no limit.
MAX_LIMIT = 10**12
_SSE = "text/event-stream"
_JSON = "application/json"


@dataclasses.dataclass(frozen=True)
class StreamRequest:
    """The facts of one request a stream depends on, each read one way everywhere.

    :param method: the HTTP method, as sent (methods are case-sensitive).
    :param path_topics: ``PATH_INFO`` without its surrounding slashes: the topics of a
        :class:`~kafkasse_wsgi.KafkaSSE` app (``/a,b`` → ``"a,b"``).
    :param since: the *last* ``?since=`` of the query (a repeated parameter: the last one
        counts, as when a link appends its own); ``None`` when absent or empty.
    :param last_event_id: the ``Last-Event-ID`` header; ``None`` when absent or empty.
    :param wants_json: JSON lines rather than SSE: the client's ``Accept`` prefers
        ``application/json`` to ``text/event-stream`` (a tie, ``*/*`` or nothing: SSE).
    :param request_id: the client's ``X-Request-ID`` if it is a sane token, else a new UUID.
    :param origin: the ``Origin`` header (browsers send it cross-origin), or ``None``.
    :param client_address: the address admission limits count against: the connection's, or
        with ``trusted_proxies=N`` the ``X-Forwarded-For`` entry N places from the right
        (werkzeug's ``ProxyFix`` rule; a client can write anything left of it); with
        addresses and ranges, the rightmost entry that is not one of them.
    :param filter: ``?filter=``, a JMESPath expression as sent (see :mod:`~kafkasse_wsgi._filters`).
    :param until: ``?until=`` as sent: epoch ms or ISO-8601 (:func:`parse_until` reads it).
    :param limit: ``?limit=`` as sent: the number of events to deliver (:func:`parse_limit`).
    Like ``since``, each is the last one of the query; ``None`` when absent or empty.
    """

    method: str
    path_topics: str
    since: str | None
    last_event_id: str | None
    wants_json: bool
    request_id: str
    origin: str | None
    client_address: str
    filter: str | None = None
    until: str | None = None
    limit: str | None = None


def parse_request(
    environ: WSGIEnvironment, trusted_proxies: int | TrustedNetworks = 0
) -> StreamRequest:
    """Read the :class:`StreamRequest` out of a WSGI environ (never reads the body)."""
    request = Request(environ, populate_request=False, shallow=True)
    args = request.args
    # Servers trim header values; an environ built by hand may still carry the line end.
    accept = parse_accept_header(environ.get("HTTP_ACCEPT", "").strip(), MIMEAccept)
    return StreamRequest(
        method=str(environ.get("REQUEST_METHOD", "GET")),
        path_topics=str(environ.get("PATH_INFO", "")).strip("/"),
        since=_last(args.getlist("since")),
        last_event_id=environ.get("HTTP_LAST_EVENT_ID") or None,
        wants_json=accept.best_match([_SSE, _JSON], default=_SSE) == _JSON,
        request_id=_request_id(environ.get("HTTP_X_REQUEST_ID", "")),
        origin=environ.get("HTTP_ORIGIN") or None,
        client_address=_client_address(environ, trusted_proxies),
        filter=_last(args.getlist("filter")),
        until=_last(args.getlist("until")),
        limit=_last(args.getlist("limit")),
    )


def _last(values: list[str]) -> str | None:
    """A repeated parameter's last value (as when a link appends its own); empty: none."""
    return values[-1] if values and values[-1] != "" else None


def query_parameter(environ: WSGIEnvironment, name: str) -> str | None:
    """``?name=`` read as every stream parameter is: the last one; ``None`` if absent or empty."""
    return _last(Request(environ, populate_request=False, shallow=True).args.getlist(name))


def parse_until(text: str) -> int:
    """``?until=``: epoch milliseconds or ISO-8601 (naive means UTC), as ``since``.

    :raises InvalidReplayBoundsError: neither.
    """
    try:
        return parse_since(text)
    except InvalidAssignmentError:
        raise InvalidReplayBoundsError(
            "until must be epoch milliseconds or an ISO-8601 date-time (e.g. 2026-11-26T11:00:00Z)"
        ) from None


def parse_limit(text: str) -> int:
    """``?limit=``: a positive number of events, at most :data:`MAX_LIMIT`.

    :raises InvalidReplayBoundsError: not a positive integer (or beyond the maximum).
    """
    if not _DIGITS.fullmatch(text) or not 1 <= int(text) <= MAX_LIMIT:
        raise InvalidReplayBoundsError(f"limit must be an integer from 1 to {MAX_LIMIT}")
    return int(text)


def _request_id(given: str) -> str:
    # fullmatch: "$" would let a trailing newline through, into our response headers.
    return given if _REQUEST_ID.fullmatch(given) else str(uuid.uuid4())


def _client_address(environ: WSGIEnvironment, trusted_proxies: int | TrustedNetworks) -> str:
    remote = str(environ.get("REMOTE_ADDR") or "unknown")
    if isinstance(trusted_proxies, tuple):
        return _behind_trusted_networks(environ, remote, trusted_proxies)
    if trusted_proxies <= 0:
        return remote
    hops = parse_list_header(environ.get("HTTP_X_FORWARDED_FOR", ""))
    if len(hops) >= trusted_proxies:
        return hops[-trusted_proxies]
    return remote


def _behind_trusted_networks(
    environ: WSGIEnvironment, remote: str, networks: TrustedNetworks
) -> str:
    """The rightmost address that is not a trusted proxy, from the connection leftwards
    through ``X-Forwarded-For`` (a client can write anything left of what our proxies add)."""
    if not _within(remote, networks):
        return remote
    client = remote
    for hop in reversed(parse_list_header(environ.get("HTTP_X_FORWARDED_FOR", ""))):
        client = hop
        if not _within(hop, networks):
            break
    return client


def _within(address: str, networks: TrustedNetworks) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def resume_within(requested: list[Assignment], resumed: list[Assignment]) -> list[Assignment]:
    """The application's assignments, each partition a ``Last-Event-ID`` names at its place.

    An id entry positions a partition of a requested topic, or one of the requested
    partitions when the application assigned single partitions. Requested partitions the id
    does not name keep their assignment (its offset or timestamp, else ``since``, else the
    end), so a topic added to a stream since the id was issued starts as it would without
    one; partitions added to a topic the id does name start at their first record
    (:func:`spell_out`). A topic name alone (no partition) positions nothing.

    The result may hold a whole topic *and* single partitions of it: the topic stands for
    its other partitions (see :func:`spell_out`).

    :raises InvalidAssignmentError: the id names a topic or partition outside ``requested``.
    """
    whole = {a.topic for a in requested if a.partition is None}
    single = {(a.topic, a.partition): a for a in requested if a.partition is not None}
    topics = whole | {topic for topic, _ in single}
    positioned: dict[tuple[str, int], Assignment] = {}
    outside: list[str] = []
    for entry in resumed:
        if entry.partition is None:
            if entry.topic not in topics:
                outside.append(entry.topic)
        elif entry.topic in whole or (entry.topic, entry.partition) in single:
            positioned[(entry.topic, entry.partition)] = entry
        else:
            outside.append(f"{entry.topic} partition {entry.partition}")
    if outside:
        raise InvalidAssignmentError(
            f"Last-Event-ID names {', '.join(dict.fromkeys(outside))}, which this stream does "
            f"not serve (it serves {', '.join(topics_of(requested))}); reconnect without it"
        )
    result: list[Assignment] = []
    for assignment in requested:
        if assignment.partition is None:
            result.extend(
                entry
                for (topic, _), entry in sorted(positioned.items())
                if topic == assignment.topic
            )
            result.append(assignment)
        else:
            result.append(positioned.get((assignment.topic, assignment.partition), assignment))
    return result


#: A start timestamp before every record: the partition's first record (Kafka's own
#: lookup finds the earliest record at or after it).
FROM_FIRST_RECORD = 0


def spell_out(
    assignments: list[Assignment], partitions_of: Callable[[str], Iterable[int]]
) -> list[Assignment]:
    """Replace a whole topic that has single partitions beside it by its other partitions.

    Such a topic is one a ``Last-Event-ID`` positions. Our ids name every partition of a
    stream, so a partition the id leaves out was added to the topic after the id was sent:
    it starts at its first record, or what it received while the client was away is lost.

    :param partitions_of: the partitions of a topic (asked of Kafka; only for such topics).
    """
    singles: dict[str, set[int]] = {}
    for a in assignments:
        if a.partition is not None:
            singles.setdefault(a.topic, set()).add(a.partition)
    result: list[Assignment] = []
    for a in assignments:
        if a.partition is None and a.topic in singles:
            taken = singles[a.topic]
            result.extend(
                Assignment(a.topic, p, timestamp=FROM_FIRST_RECORD)
                for p in sorted(partitions_of(a.topic))
                if p not in taken
            )
        else:
            result.append(a)
    return result
