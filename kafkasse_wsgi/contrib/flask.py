"""Flask glue: a stream as the return value of a view, and a ready-made Blueprint.

The view runs inside Flask's request context, so authentication, per-user topic choices and
extra headers are decided there, *before* the first byte is sent; :func:`stream_response`
then hands the live body straight to the WSGI server (``direct_passthrough``), which calls
its ``close()`` when the client leaves — that is what closes the Kafka consumer.

    from kafkasse_wsgi.contrib.flask import make_blueprint, stream_response

    @app.get("/orders/<customer>")
    def orders(customer):
        if not may_read(customer):
            abort(403)
        return stream_response(["orders"], options=OPTIONS)  # ?since= is read for you

    app.register_blueprint(make_blueprint(allowed_topics=["edits"]), url_prefix="/stream")

Flask is imported here only: the rest of the package works without it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._extras import require
from .._request import ALLOWED_METHODS
from ..options import AllowedTopics, Options
from . import CapturedResponse, capture_kafka_sse, capture_other_method

require("flask", "kafkasse_wsgi.contrib.flask", "flask")

from flask import Blueprint, Response, request  # noqa: E402

__all__ = ["make_blueprint", "stream_response"]


def stream_response(
    assignments: Any,
    options: Options | Mapping[str, Any] | None = None,
    at_timestamp: int | str | None = None,
) -> Response:
    """Start streaming ``assignments`` to the current request; return the Flask response.

    Errors before the stream (unknown topic, bad ``Last-Event-ID``…) come back as a normal
    response with their status and JSON body, so ``after_request`` hooks see them as usual.

    :param assignments: topic names (a list or a comma string) or assignment objects: what
        this request may read. A ``Last-Event-ID`` header says where they resume; one that
        names anything else is a 400.
    :param options: an :class:`~kafkasse_wsgi.Options` (build it once, at import) or a
        mapping of option names.
    :param at_timestamp: start time, epoch ms or ISO-8601; ``None`` takes ``?since=`` from
        the URL (the last one, if repeated).
    """
    captured = capture_kafka_sse(request.environ, assignments, options, at_timestamp)
    if not captured.is_stream:
        return _complete(captured)  # and a HEAD: the engine closed its stream already
    # direct_passthrough: werkzeug returns the body itself to the server (no re-encoding
    # wrapper), so the server's close() reaches the stream.
    return Response(
        captured.body,
        status=captured.status,
        headers=captured.headers,
        direct_passthrough=True,
    )


def _complete(captured: CapturedResponse) -> Response:
    return Response(captured.read_all(), status=captured.status, headers=captured.headers)


def make_blueprint(
    name: str = "kafkasse",
    allowed_topics: AllowedTopics = None,
    **options: Any,
) -> Blueprint:
    """A Blueprint serving ``GET /<topicA,topicB>?since=…`` (``/`` alone is a 400), and
    ``OPTIONS`` (CORS preflight).

    Options are validated here, once, so a typo fails at start-up rather than per request.

    :param name: the blueprint's name (register several with different names and options).
    :param allowed_topics: topic names clients may read, or ``(environ, topic) -> bool``.
    :param options: any other :class:`~kafkasse_wsgi.Options` keyword.
    """
    opts = Options.from_any({**options, "allowed_topics": allowed_topics})
    blueprint = Blueprint(name, __name__)
    methods = list(ALLOWED_METHODS)

    # OPTIONS is ours (CORS preflight with the blueprint's cors_origins), not Flask's.
    @blueprint.route("/", defaults={"topics": ""}, methods=methods, provide_automatic_options=False)
    @blueprint.route("/<topics>", methods=methods, provide_automatic_options=False)
    def stream(topics: str) -> Response:
        other = capture_other_method(request.environ, opts)
        if other is not None:
            return _complete(other)
        return stream_response(topics, options=opts)

    return blueprint
