"""gunicorn settings for long-lived streams (``gunicorn -c examples/gunicorn.conf.py …``).

A stream holds one connection and one Kafka consumer for as long as the client listens, so
the settings that matter are about many concurrent, long, mostly idle requests.
"""

import os

# Where to listen; PORT as in the other examples. 127.0.0.1 unless you mean to expose it.
bind = os.environ.get("BIND", f"127.0.0.1:{os.environ.get('PORT', '8000')}")

# gevent: every request is a greenlet, so one worker holds thousands of idle streams. The
# worker monkey-patches the standard library itself, before loading the app.
worker_class = "gevent"

# Processes: about one per CPU. Workers share nothing (a stream's position is in the
# client's Last-Event-ID), so any worker can continue any stream.
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))

# Streams (and other requests) one worker serves at once. Each stream also opens sockets to
# the brokers, so keep `ulimit -n` well above worker_connections * (1 + brokers). A worker
# whose pool is full stops accepting: connections then wait unanswered. Set the app's
# max_streams below it (say 90 %), so a stream past the bound gets a 503 with Retry-After.
worker_connections = int(os.environ.get("WORKER_CONNECTIONS", "1000"))

# Not a request timeout under gevent: the worker reports to the master from its event loop,
# so a stream may last for days. It only kills a worker whose loop is stuck (blocking code).
timeout = 30

# On SIGTERM/SIGHUP/reload, the hook below ends every stream at once with a complete response
# and a retry: hint; this is only the bound for anything still open after that, killed then.
# Clients reconnect with Last-Event-ID (to a new worker) and miss nothing, so keep it short.
graceful_timeout = 10

# Seconds to keep an idle keep-alive connection open between short requests. Streams are
# not idle: the heartbeats (heartbeat_interval_s, 15 s by default) keep them, and proxies, busy.
# The gevent worker also bounds by it the time a request's headers take to arrive: a client
# that sends part of its headers and then nothing (slowloris) is closed after 5 s.
keepalive = 5

# Access log on stdout; the app's own logs are JSON lines (kafkasse_wsgi.log).
accesslog = "-"


def post_worker_init(worker):
    """JSON log lines with the request id; streams end cleanly when this worker stops."""
    from kafkasse_wsgi.gunicorn_hooks import watch_worker
    from kafkasse_wsgi.log import configure_json_logging

    configure_json_logging(os.environ.get("LOG_LEVEL", "INFO"))
    watch_worker(worker)
