"""gunicorn settings of the server under test: one gevent worker, room for thousands of streams.

Every stream holds a client socket and its consumer's broker sockets, so the open-file limit
is raised to the hard limit in the master and again in the worker.
"""

import os
import resource

worker_class = "gevent"
workers = 1
worker_connections = 20000
backlog = 4096
timeout = 120
graceful_timeout = 5
loglevel = "warning"
accesslog = None


def _raise_nofile() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def on_starting(server):
    _raise_nofile()


def post_fork(server, worker):
    _raise_nofile()
    pidfile = os.environ.get("BENCH_WORKER_PIDFILE")
    if pidfile:
        with open(pidfile, "w") as f:
            f.write(str(os.getpid()))
