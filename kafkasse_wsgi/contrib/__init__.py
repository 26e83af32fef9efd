"""Framework glue: run the WSGI engine inside a framework's view and capture its response.

:func:`~kafkasse_wsgi.kafka_sse` speaks WSGI: it calls ``start_response`` and returns the body
iterable. A Flask or Django view must instead *return* a response object, so the helpers here
run the engine with a ``start_response`` that only records the status and headers; the
framework modules then wrap the result in their own response type. Nothing in this package
imports Flask or Django: each lives in its own module, imported only by those who use it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from .._app import respond
from .._request import STREAM_METHODS, parse_request
from .._responses import answer_other_method
from ..options import Options

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment

__all__ = ["CapturedResponse", "capture_kafka_sse", "capture_other_method", "close_body"]


@dataclasses.dataclass
class CapturedResponse:
    """What :func:`kafka_sse` answered, before any byte went to the client.

    :param status: the WSGI status line, e.g. ``"200 OK"``.
    :param headers: the response headers, in order.
    :param body: the response iterable; a list or tuple is a complete (error) body, anything
        else is a live stream whose ``close()`` must be called once the client is gone.
    """

    status: str
    headers: list[tuple[str, str]]
    body: Iterable[bytes]

    @property
    def status_code(self) -> int:
        return int(self.status.split(" ", 1)[0])

    @property
    def is_stream(self) -> bool:
        """A live stream (to hand to the server) rather than a complete body (to buffer)."""
        return not isinstance(self.body, (list, tuple))

    def read_all(self) -> bytes:
        """The whole body of a complete response; closes the iterable either way."""
        try:
            return b"".join(self.body)
        finally:
            close_body(self.body)


def close_body(body: Iterable[bytes]) -> None:
    """Call ``close()`` on a WSGI body if it has one: this is what closes the consumer."""
    close = getattr(body, "close", None)
    if close is not None:
        close()


def capture_kafka_sse(
    environ: WSGIEnvironment,
    assignments: Any,
    options: Options | Mapping[str, Any] | None = None,
    at_timestamp: int | str | None = None,
) -> CapturedResponse:
    """Run :func:`kafka_sse` for one request and return its status, headers and body.

    Everything that can fail before the stream starts (bad ``Last-Event-ID``, unknown topic,
    unreachable brokers) comes back as a complete JSON body with its status, so the caller
    can turn it into an ordinary response of its framework.

    :param environ: the request's WSGI environ (Flask: ``request.environ``; Django:
        ``request.META``), read once into a :class:`~kafkasse_wsgi._request.StreamRequest`.
    :param assignments: topic names or assignment objects, as for :func:`kafka_sse`: what
        the request may read; a ``Last-Event-ID`` only says where they resume.
    :param options: an :class:`~kafkasse_wsgi.Options` or a mapping of option names.
    :param at_timestamp: start time (epoch ms or ISO-8601) for partitions without an
        offset; ``None`` takes the request's ``?since=`` (the last one, as everywhere).
    """
    return _capture(
        lambda start_response: respond(environ, start_response, assignments, options, at_timestamp)
    )


def capture_other_method(
    environ: WSGIEnvironment, options: Options | Mapping[str, Any] | None = None
) -> CapturedResponse | None:
    """The answer to a method other than GET and HEAD, as :class:`~kafkasse_wsgi.KafkaSSE`
    gives it: ``OPTIONS`` → 204 (with CORS headers for an allowed origin), anything else →
    405 with ``Allow`` and a JSON body. ``None`` for GET and HEAD: stream those."""
    opts = Options.from_any(options)
    request = parse_request(environ, opts.trusted_proxies)
    if request.method in STREAM_METHODS:
        return None
    return _capture(
        lambda start_response: answer_other_method(request, environ, start_response, opts) or []
    )


def _capture(call: Callable[[Any], Iterable[bytes]]) -> CapturedResponse:
    captured: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        if exc_info is not None and "status" in captured:
            raise exc_info[1].with_traceback(exc_info[2])
        captured["status"] = status
        captured["headers"] = list(headers)

        def write(data: bytes) -> None:
            raise RuntimeError("kafkasse_wsgi: the legacy write() callable is not supported")

        return write

    body = call(start_response)
    if "status" not in captured:
        close_body(body)
        raise RuntimeError("kafka_sse returned without calling start_response")
    return CapturedResponse(captured["status"], captured["headers"], body)
