"""gunicorn settings for long-lived streams (``gunicorn -c examples/gunicorn.conf.py …``).

A stream holds one connection and one Kafka consumer for as long as the client listens, so
the settings that matter are about many concurrent, long, mostly idle requests.
"""

import os
import shutil
import tempfile

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

# Access log on stdout. Every line is JSON: the app's (kafkasse_wsgi.log, set up in
# post_worker_init below) and gunicorn's own (this dict), with the same fields.
accesslog = "-"
LOG_LEVEL = os.environ.get("LOG_LEVEL", "INFO").upper()
_JSON = {
    "()": "pythonjsonlogger.json.JsonFormatter",
    "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s",
    "rename_fields": {"levelname": "level", "asctime": "time"},
}
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": _JSON},
    "handlers": {
        "error": {
            "class": "logging.StreamHandler",
            "formatter": "json",
            "stream": "ext://sys.stderr",
        },
        "access": {
            "class": "logging.StreamHandler",
            "formatter": "json",
            "stream": "ext://sys.stdout",
        },
    },
    # The application's records: post_worker_init's handler, in each worker.
    "root": {"level": LOG_LEVEL, "handlers": []},
    "loggers": {
        "gunicorn.error": {"level": LOG_LEVEL, "handlers": ["error"], "propagate": False},
        "gunicorn.access": {"level": "INFO", "handlers": ["access"], "propagate": False},
    },
}

# Metrics (/metrics, the `metrics` extra) with several workers: each worker is a process with
# its own counters. prometheus_client's multiprocess mode has them write to files in this
# directory, merged by every /metrics answer; it must be set before a worker imports
# prometheus_client, and start empty. Set it yourself to keep it elsewhere.
_metrics_dir = None
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    _metrics_dir = tempfile.mkdtemp(prefix="kafkasse-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = _metrics_dir


def post_worker_init(worker):
    """JSON log lines with the request id; streams end cleanly when this worker stops."""
    from kafkasse_wsgi.gunicorn_hooks import watch_worker
    from kafkasse_wsgi.log import configure_json_logging

    configure_json_logging(LOG_LEVEL)
    watch_worker(worker)


def child_exit(server, worker):
    """A worker ended (or was killed): its open streams no longer count in /metrics."""
    from kafkasse_wsgi.metrics import worker_exited

    worker_exited(worker.pid)


def on_exit(server):
    if _metrics_dir:
        shutil.rmtree(_metrics_dir, ignore_errors=True)
