"""Django glue: a function view and a class-based view answering with a live stream.

Both run the same engine as every other entry point: :func:`~kafkasse_wsgi.kafka_sse` with
``request.META`` (Django's WSGI environ) and a ``start_response`` that only records status
and headers. A stream becomes a :class:`~django.http.StreamingHttpResponse`, which registers
the stream's ``close()`` among the response's closers: the WSGI server calls
``response.close()`` when the client leaves, and the Kafka consumer closes with it. Errors
before the stream become an ordinary :class:`~django.http.HttpResponse` with the JSON body and
status (400, 404, 500, 503).

    # urls.py
    from kafkasse_wsgi.contrib.django import KafkaSSEView, stream_view

    OPTIONS = {"kafka_config": {"bootstrap_servers": "127.0.0.1:9092"}}
    urlpatterns = [
        path("stream/<str:topics>", KafkaSSEView.as_view(stream_options=OPTIONS)),
        path("fn/<str:topics>", stream_view, {"options": OPTIONS}),
    ]

Run it under a gevent server (``gunicorn -k gevent``): each stream holds its connection for
as long as the client listens. Django is imported here only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._extras import require
from .._request import ALLOWED_METHODS
from ..options import Options
from . import CapturedResponse, capture_kafka_sse, capture_other_method

require("django", "kafkasse_wsgi.contrib.django", "django")

from django.http import (  # noqa: E402
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    StreamingHttpResponse,
)
from django.views import View  # noqa: E402

__all__ = ["KafkaSSEView", "stream_response", "stream_view"]


def stream_response(
    request: HttpRequest,
    assignments: Any,
    options: Options | Mapping[str, Any] | None = None,
    at_timestamp: int | str | None = None,
) -> HttpResponseBase:
    """Start streaming ``assignments`` to ``request``; return the Django response.

    :param request: the request; its ``META`` is the WSGI environ the engine reads
        (``Last-Event-ID``, ``Accept``, ``X-Request-ID``).
    :param assignments: topic names (a list or a comma string) or assignment objects: what
        this request may read. A ``Last-Event-ID`` header says where they resume; one that
        names anything else is a 400.
    :param options: an :class:`~kafkasse_wsgi.Options` or a mapping of option names.
    :param at_timestamp: start time, epoch ms or ISO-8601; ``None`` takes ``?since=`` from
        the URL (the last one, if repeated).
    """
    captured = capture_kafka_sse(request.META, assignments, options, at_timestamp)
    if not captured.is_stream:
        return _complete(captured)  # and a HEAD: the engine closed its stream already
    return StreamingHttpResponse(
        captured.body, status=captured.status_code, headers=dict(captured.headers)
    )


def _complete(captured: CapturedResponse) -> HttpResponse:
    return HttpResponse(
        captured.read_all(), status=captured.status_code, headers=dict(captured.headers)
    )


def stream_view(
    request: HttpRequest,
    topics: str = "",
    options: Options | Mapping[str, Any] | None = None,
) -> HttpResponseBase:
    """Function view: ``GET …/<topics>?since=…`` streams the comma-separated ``topics``.

    Give ``options`` as extra keyword arguments in the URLconf:
    ``path("stream/<str:topics>", stream_view, {"options": OPTIONS})``.
    """
    other = capture_other_method(request.META, options)
    if other is not None:
        return _complete(other)  # OPTIONS: 204 (CORS preflight); others: 405 with Allow
    return stream_response(request, topics, options)


class KafkaSSEView(View):
    """Class-based view: ``GET …/<topics>?since=…``; subclass to decide topics or options.

    ``KafkaSSEView.as_view(stream_options={...})`` configures it in the URLconf; override
    :meth:`get_assignments` or :meth:`get_options` to choose per request (e.g. per user).
    """

    #: an :class:`~kafkasse_wsgi.Options` or a mapping of option names. (Not ``options``:
    #: that name is Django's handler of the HTTP ``OPTIONS`` method.)
    stream_options: Options | Mapping[str, Any] | None = None
    http_method_names = [method.lower() for method in ALLOWED_METHODS]

    @classmethod
    def as_view(cls, **initkwargs: Any) -> Any:
        """Validate ``stream_options`` once, when the URLconf loads, not on every request."""
        if initkwargs.get("stream_options") is not None:
            initkwargs["stream_options"] = Options.from_any(initkwargs["stream_options"])
        return super().as_view(**initkwargs)

    def get_options(self) -> Options:
        """The options of this request's stream; by default :attr:`stream_options`."""
        return Options.from_any(self.stream_options)

    def get_assignments(self, topics: str = "", **kwargs: Any) -> Any:
        """What to stream: by default the ``topics`` captured from the URL."""
        return topics

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        return stream_response(request, self.get_assignments(**kwargs), self.get_options())

    def options(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        """204 with ``Allow``, and a CORS preflight answer for an allowed origin."""
        return self._other_method(request)

    def http_method_not_allowed(
        self, request: HttpRequest, *args: Any, **kwargs: Any
    ) -> HttpResponseBase:
        """405 with ``Allow`` and the JSON error, as every other entry point answers."""
        return self._other_method(request)

    def _other_method(self, request: HttpRequest) -> HttpResponseBase:
        captured = capture_other_method(request.META, self.get_options())
        assert captured is not None, "GET and HEAD are streamed by get()"
        return _complete(captured)
