"""03 — Middleware: add streams under ``/stream`` in front of any WSGI app, untouched.

    KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:9092 PORT=8000 python examples/03_middleware.py
    gunicorn -c examples/gunicorn.conf.py --chdir examples 03_middleware:application

    curl http://127.0.0.1:8000/hello?name=you       # the wrapped app, as before
    curl -N http://127.0.0.1:8000/stream/my-topic   # a stream

The wrapped app may be anything WSGI: with Flask, ``app.wsgi_app =
KafkaSSEMiddleware(app.wsgi_app, ...)``; with Django, wrap ``get_wsgi_application()``.
"""

if __name__ == "__main__":
    from gevent import monkey

    monkey.patch_all()

import json
import os
from urllib.parse import parse_qs

from kafkasse_wsgi.middleware import KafkaSSEMiddleware


def existing_app(environ, start_response):
    """Stands for the application you already have."""
    name = parse_qs(environ.get("QUERY_STRING", "")).get("name", ["world"])[0]
    body = json.dumps({"hello": name, "path": environ.get("PATH_INFO", "")}).encode()
    start_response(
        "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    )
    return [body]


application = KafkaSSEMiddleware(
    existing_app,
    prefix="/stream",
    kafka_config={"bootstrap_servers": os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")},
)

if __name__ == "__main__":
    from gevent.pywsgi import WSGIServer

    from kafkasse_wsgi.log import configure_json_logging

    configure_json_logging("INFO")
    port = int(os.environ.get("PORT", "8000"))
    print(f"app on http://127.0.0.1:{port}/, streams under /stream/<topic>", flush=True)
    WSGIServer(("127.0.0.1", port), application).serve_forever()
