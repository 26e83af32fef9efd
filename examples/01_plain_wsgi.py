"""01 — the smallest server: the KafkaSSE WSGI app under gevent's WSGIServer.

    KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:9092 PORT=8000 python examples/01_plain_wsgi.py
    curl -N http://127.0.0.1:8000/my-topic                 # from now on
    curl -N 'http://127.0.0.1:8000/my-topic?since=2026-11-26T10:00:00Z'

Every stream holds its connection open and runs a kafka-python consumer in a greenlet, so the
server must be cooperative: gevent, with the standard library patched *before* anything else
imports ``socket``, ``ssl`` or ``threading`` (kafka-python does).
"""

from gevent import monkey

monkey.patch_all()

import os  # noqa: E402

from gevent.pywsgi import WSGIServer  # noqa: E402

from kafkasse_wsgi import KafkaSSE  # noqa: E402
from kafkasse_wsgi.log import configure_json_logging  # noqa: E402

app = KafkaSSE(
    kafka_config={"bootstrap_servers": os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")},
    # allowed_topics=["edits"],   # limit what clients may read; default: every non-internal topic
)

if __name__ == "__main__":
    configure_json_logging("INFO")
    port = int(os.environ.get("PORT", "8000"))
    print(f"streaming on http://127.0.0.1:{port}/<topic>[,<topic>…]", flush=True)
    WSGIServer(("127.0.0.1", port), app).serve_forever()
