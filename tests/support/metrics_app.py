"""The CLI's server app with a filterer, for the multi-worker metrics test under gunicorn."""

import os

from kafkasse_wsgi._serve.server import StreamServer
from tests.support.apps import even_filter

app = StreamServer(
    kafka_config={"bootstrap_servers": os.environ["KAFKA_BOOTSTRAP_SERVERS"]},
    filterer=even_filter,
    heartbeat_interval_s=0.5,
)
