"""02 — Flask: a stream is what a view returns; the view decides first.

    KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:9092 PORT=8000 python examples/02_flask.py
    gunicorn -c examples/gunicorn.conf.py --chdir examples 02_flask:app    # in production

    curl -N http://127.0.0.1:8000/edits/my-topic                       # the ready Blueprint
    curl -N -H 'Authorization: Bearer secret' http://127.0.0.1:8000/private/my-topic

The view runs in Flask's request context, so authentication, the choice of topics and extra
headers are settled before the first byte; then the response hands the live stream to the
server, which closes it (and its Kafka consumer) when the client leaves.
"""

if __name__ == "__main__":
    # Run directly: patch before anything imports socket/ssl. (gunicorn's gevent worker
    # patches by itself, so importing this module there patches nothing.)
    from gevent import monkey

    monkey.patch_all()

import os

from flask import Flask, abort, request

from kafkasse_wsgi import Options
from kafkasse_wsgi.contrib.flask import make_blueprint, stream_response

KAFKA_CONFIG = {"bootstrap_servers": os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")}
TOKEN = os.environ.get("EXAMPLE_TOKEN", "secret")

# Built once at import: a typo in an option fails at start-up, not on the first request.
PRIVATE_OPTIONS = Options(kafka_config=KAFKA_CONFIG, heartbeat_interval_s=10)

app = Flask(__name__)

# GET /edits/<topics>?since=…  — every option of the stream, in one line.
app.register_blueprint(make_blueprint(kafka_config=KAFKA_CONFIG), url_prefix="/edits")


@app.get("/private/<topics>")
def private(topics: str):
    """A stream behind a check, with a header of our own: decided before streaming."""
    if request.headers.get("Authorization") != f"Bearer {TOKEN}":
        abort(401)
    response = stream_response(topics, options=PRIVATE_OPTIONS)
    response.headers["X-Example"] = "02_flask"
    return response


if __name__ == "__main__":
    from gevent.pywsgi import WSGIServer

    from kafkasse_wsgi.log import configure_json_logging

    configure_json_logging("INFO")
    port = int(os.environ.get("PORT", "8000"))
    print(f"Flask streams on http://127.0.0.1:{port}/edits/<topic>", flush=True)
    WSGIServer(("127.0.0.1", port), app).serve_forever()
