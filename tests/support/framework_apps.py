"""The Flask, Django and middleware apps that tests serve under ``gunicorn -k gevent``.

Each is a factory for gunicorn's ``module:factory()`` syntax, so a server process imports
only the framework it serves. They are configured by the environment:

* ``KAFKA_BOOTSTRAP_SERVERS`` (default ``127.0.0.1:9092``);
* ``TEST_HEARTBEAT_S`` (default: the library's, 15 s).
"""

from __future__ import annotations

import json
import os
import sys
import types
from typing import Any

from kafkasse_wsgi import Options
from kafkasse_wsgi.log import configure_json_logging

#: The bearer token the Flask app's ``/private/…`` route wants (tests send it).
TOKEN = "let-me-in"
#: The origin the ``/cors…`` routes allow (``cors_origins``).
CORS_ORIGIN = "https://app.example"


def options() -> Options:
    """The stream options every test app uses; also sends the app's logs to the server log."""
    configure_json_logging("INFO", sys.stdout)
    return Options(
        kafka_config={
            "bootstrap_servers": os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
        },
        heartbeat_interval_s=float(
            os.environ.get("TEST_HEARTBEAT_S", Options.DEFAULT_HEARTBEAT_INTERVAL_S)
        ),
    )


def flask_app() -> Any:
    """``/stream/<topics>`` (a view), ``/private/<topics>`` (auth and headers decided in the
    view), ``/json/<topics>`` (per-view options), the Blueprint under ``/bp`` and, with
    ``cors_origins``, under ``/cors``."""
    from flask import Flask, jsonify, request

    from kafkasse_wsgi.contrib.flask import make_blueprint, stream_response

    opts = options()
    json_opts = opts.replace(disable_sse_formatting=True)
    app = Flask(__name__)

    @app.get("/stream/<topics>")
    def stream(topics: str) -> Any:
        return stream_response(topics, options=opts)

    @app.get("/private/<topics>")
    def private(topics: str) -> Any:
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return jsonify(error="unauthorized"), 401
        response = stream_response(topics, options=opts)
        response.headers["X-Stream-Owner"] = "tests"
        return response

    @app.get("/json/<topics>")
    def json_lines(topics: str) -> Any:
        return stream_response(topics, options=json_opts)

    app.register_blueprint(
        make_blueprint(
            kafka_config=opts.kafka_config, heartbeat_interval_s=opts.heartbeat_interval_s
        ),
        url_prefix="/bp",
    )
    app.register_blueprint(
        make_blueprint(
            "kafkasse_cors",
            kafka_config=opts.kafka_config,
            heartbeat_interval_s=opts.heartbeat_interval_s,
            cors_origins=[CORS_ORIGIN],
        ),
        url_prefix="/cors",
    )
    return app


def django_app() -> Any:
    """``/fn/<topics>`` (function view), ``/cbv/<topics>`` (class-based view) and
    ``/cors/<topics>`` (the class-based view with ``cors_origins``)."""
    import django
    from django.conf import settings
    from django.core.wsgi import get_wsgi_application
    from django.urls import path

    from kafkasse_wsgi.contrib.django import KafkaSSEView, stream_view

    opts = options()
    urls = types.ModuleType("kafkasse_test_urls")
    urls.urlpatterns = [  # type: ignore[attr-defined]
        path("fn/<str:topics>", stream_view, {"options": opts}),
        path("cbv/<str:topics>", KafkaSSEView.as_view(stream_options=opts)),
        path(
            "cors/<str:topics>",
            KafkaSSEView.as_view(stream_options=opts.replace(cors_origins=[CORS_ORIGIN])),
        ),
    ]
    sys.modules[urls.__name__] = urls
    settings.configure(
        DEBUG=False,
        SECRET_KEY="tests-only",
        ALLOWED_HOSTS=["127.0.0.1", "localhost"],
        ROOT_URLCONF=urls.__name__,
        INSTALLED_APPS=[],
        MIDDLEWARE=["django.middleware.common.CommonMiddleware"],
        USE_TZ=True,
    )
    django.setup()
    return get_wsgi_application()


def echo_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    """A plain WSGI app that answers with what it received, to prove pass-through."""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    answer = json.dumps(
        {
            "method": environ["REQUEST_METHOD"],
            "script_name": environ.get("SCRIPT_NAME", ""),
            "path_info": environ.get("PATH_INFO", ""),
            "query_string": environ.get("QUERY_STRING", ""),
            "content_type": environ.get("CONTENT_TYPE", ""),
            "x_custom": environ.get("HTTP_X_CUSTOM"),
            "body": body.decode("utf-8"),
        }
    ).encode()
    status = "201 Created" if environ["REQUEST_METHOD"] == "POST" else "200 OK"
    start_response(
        status,
        [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(answer))),
            ("X-Echo", "wrapped-app"),
            ("Set-Cookie", "seen=1; Path=/"),
        ],
    )
    return [answer]


def kafkasse_app() -> Any:
    """The plain :class:`KafkaSSE` WSGI app: ``/<topics>``."""
    from kafkasse_wsgi import KafkaSSE

    opts = options()
    return KafkaSSE(kafka_config=opts.kafka_config, heartbeat_interval_s=opts.heartbeat_interval_s)


def middleware_app() -> Any:
    """:func:`echo_app` behind :class:`KafkaSSEMiddleware` with streams under ``/stream``."""
    from kafkasse_wsgi.middleware import KafkaSSEMiddleware

    opts = options()
    return KafkaSSEMiddleware(
        echo_app,
        prefix="/stream",
        kafka_config=opts.kafka_config,
        heartbeat_interval_s=opts.heartbeat_interval_s,
    )
