"""``kafkasse-wsgi serve``: a ready stream server, for the demo and for deployments.

One worker runs gevent's own WSGI server in this process; more than one runs gunicorn with
gevent workers. Settings come from flags, ``KAFKASSE_*`` environment variables and a TOML
file, in that order of precedence (``_serve/config.py``). Logs are JSON lines on stderr.

This module imports nothing heavy at the top: ``serve`` monkey-patches with gevent *before*
gevent, kafka-python or our package's stream modules are imported, as gevent asks.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .config import DEFAULT_BOOTSTRAP_SERVERS, DEFAULT_HOST, DEFAULT_PORT

if TYPE_CHECKING:
    from .config import ServeConfig

#: Seconds open streams get on SIGTERM before they are ended (gevent server).
SHUTDOWN_GRACE_S = 1.0


def build_parser() -> argparse.ArgumentParser:
    from .config import add_arguments

    parser = argparse.ArgumentParser(
        prog="kafkasse-wsgi",
        description="Stream Apache Kafka topics to HTTP Server-Sent Events.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser(
        "serve",
        help="run the stream server",
        description=(
            "Serve GET /<topic>[,<topic>...] as SSE streams (?since=<epoch ms|ISO-8601>, "
            "Last-Event-ID resumes), /healthz, /metrics, and a demo page at /. "
            "Each setting comes from its flag, else the environment variable named in "
            "brackets, else the --config file, else its default "
            f"(host {DEFAULT_HOST}, port {DEFAULT_PORT}, brokers {DEFAULT_BOOTSTRAP_SERVERS})."
        ),
    )
    add_arguments(serve)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from ..errors import ConfigurationError
    from .config import check, resolve

    args = build_parser().parse_args(argv)
    try:
        # Server settings and where each value comes from: no kafka-python import yet.
        config = resolve(args)
        _finite_defaults(config)
        if args.print_config:
            check(config)
            sys.stdout.write(config.describe())
            return 0
    except ConfigurationError as error:
        print(f"kafkasse-wsgi: {error.message}", file=sys.stderr)
        return 2
    refusal = exposure_refusal(config)
    if refusal:
        print(f"kafkasse-wsgi: {refusal}", file=sys.stderr)
        return 2
    workers = config.value("workers")
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        print("kafkasse-wsgi: --workers must be at least 1", file=sys.stderr)
        return 2
    headers_timeout_s = config.value("headers_timeout_s")
    if isinstance(headers_timeout_s, bool) or not isinstance(headers_timeout_s, (int, float)):
        headers_timeout_s = -1
    if not 0 < headers_timeout_s < 3600:
        print("kafkasse-wsgi: --headers-timeout must be seconds in (0, 3600)", file=sys.stderr)
        return 2
    if workers == 1:
        return _serve_gevent(config)
    from .._extras import MissingExtraError, require

    try:
        require("gunicorn", f"--workers {workers}", "gunicorn")
    except MissingExtraError as missing:
        print(f"kafkasse-wsgi: {missing}", file=sys.stderr)
        return 2
    # The master must not import kafka-python before the workers fork and patch: the same
    # command checks the configuration in a child process instead.
    checked = subprocess.run(
        [sys.executable, "-m", "kafkasse_wsgi", *(argv or sys.argv[1:]), "--print-config"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    if checked.returncode != 0:
        sys.stderr.write(checked.stderr)
        return checked.returncode
    return _serve_gunicorn(config)


def exposure_refusal(config: ServeConfig) -> str | None:
    """Why this server must not start: every topic, to anyone beyond this machine."""
    from .._tokens.jwks import is_loopback_host

    options = config.stream_options()
    if (
        is_loopback_host(config.value("host"))
        or config.value("allow_all_topics")
        or options.get("allowed_topics") is not None
        or options.get("jwt_keys") is not None
    ):
        return None
    return (
        f"--host {config.value('host')} would serve every topic to any client: name them "
        "with --allowed-topics (or require subscriber tokens with --jwt-keys), or pass "
        "--allow-all-topics if that is meant"
    )


def _serve_gevent(config: ServeConfig) -> int:
    from gevent import monkey

    monkey.patch_all()

    import logging

    import gevent
    from gevent.pool import Pool
    from gevent.pywsgi import WSGIServer

    from .._open_streams import end_all_streams
    from ..errors import ConfigurationError
    from ..log import configure_json_logging
    from .config import check
    from .connections import bounded_headers
    from .server import StreamServer

    configure_json_logging(config.value("log_level"))
    log = logging.getLogger("kafkasse_wsgi._serve.cli")
    try:
        check(config)
        app = StreamServer(config.value("admin_port"), **config.stream_options())
    except ConfigurationError as error:
        print(f"kafkasse-wsgi: {error.message}", file=sys.stderr)
        return 2
    host, port = config.value("host"), config.value("port")
    # A pool (not bare greenlets) so that stopping can find and end every open stream.
    server = WSGIServer(
        (host, port),
        app,
        spawn=Pool(_connections(config)),
        handler_class=bounded_headers(config.value("headers_timeout_s")),
        log=None,
        error_log=logging.getLogger("gevent.pywsgi"),
    )
    # Streams are ended cleanly on SIGTERM (below); any still open after this grace are
    # killed, which runs their cleanup too (GreenletExit).
    server.stop_timeout = SHUTDOWN_GRACE_S
    admin = None
    if config.value("admin_port") is not None:
        # The same app: it tells the admin port by the port a request came in on.
        admin_address = (host, config.value("admin_port"))
        handler = bounded_headers(config.value("headers_timeout_s"))
        admin = WSGIServer(admin_address, app, log=None, handler_class=handler)
        admin.start()

    def stop(signum: int) -> None:
        log.info("signal %d: stopping; open streams end now, clients resume elsewhere", signum)
        end_all_streams("shutdown")
        if admin is not None:
            admin.close()
        server.close()  # serve_forever() returns and stops the server, as above

    gevent.signal_handler(signal.SIGTERM, stop, signal.SIGTERM)
    gevent.signal_handler(signal.SIGINT, stop, signal.SIGINT)
    log.info("serving on http://%s:%d/", host, port, extra={"host": host, "port": port})
    server.serve_forever()
    log.info("stopped")
    return 0


def _serve_gunicorn(config: ServeConfig) -> int:
    from gunicorn.app.base import BaseApplication

    log_level = config.value("log_level")
    # prometheus_client's multiprocess mode: every worker writes its values here, /metrics
    # merges them. Must be set before any worker imports prometheus_client.
    metrics_dir = None
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        metrics_dir = tempfile.mkdtemp(prefix="kafkasse-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir

    def post_worker_init(worker: Any) -> None:
        from ..gunicorn_hooks import watch_worker
        from ..log import configure_json_logging

        configure_json_logging(log_level)
        watch_worker(worker)

    def child_exit(server: Any, worker: Any) -> None:
        from ..metrics import worker_exited

        worker_exited(worker.pid)

    class StreamApplication(BaseApplication):
        def load_config(self) -> None:
            settings = {
                "bind": [
                    f"{config.value('host')}:{port}"
                    for port in (config.value("port"), config.value("admin_port"))
                    if port is not None
                ],
                "workers": config.value("workers"),
                "worker_class": "gevent",
                # Each worker is a process with the same file limit: the same bounds.
                "worker_connections": _connections(config),
                # Streams are long-lived: the worker heartbeat, not the request, is timed.
                "timeout": 60,
                "graceful_timeout": 10,
                # The wait for the next request on a kept-alive connection; the gevent
                # worker also bounds by it the time a request's headers take (slowloris).
                "keepalive": max(1, math.ceil(config.value("headers_timeout_s"))),
                "loglevel": log_level.lower(),
                "accesslog": None,
                "post_worker_init": post_worker_init,
                "child_exit": child_exit,
            }
            for key, value in settings.items():
                self.cfg.set(key, value)

        def load(self) -> Any:
            from .config import check
            from .server import StreamServer

            check(config)  # in the worker, after gevent patched it
            return StreamServer(config.value("admin_port"), **config.stream_options())

    try:
        StreamApplication().run()
    finally:
        if metrics_dir:
            shutil.rmtree(metrics_dir, ignore_errors=True)
    return 0


def _finite_defaults(config: ServeConfig) -> None:
    """``max_streams`` defaults to what this process's file limit allows (``capacity.py``);
    ``max_streams_per_client`` to a bound on each client at a global address."""
    from .capacity import STREAMS_PER_CLIENT, this_process
    from .config import Setting

    options = config.options
    if "max_streams" not in options:
        capacity = this_process()
        source = f"default: file limit {capacity.file_limit}"
        options["max_streams"] = Setting(capacity.streams, source)
    if "max_streams_per_client" not in options:
        options["max_streams_per_client"] = Setting(STREAMS_PER_CLIENT, "default")
        if "count_private_clients" not in options:
            source = "default with the default max_streams_per_client"
            options["count_private_clients"] = Setting(False, source)


def _connections(config: ServeConfig) -> int:
    """One process's connection pool: above ``max_streams``, so no stream waits for it."""
    from .capacity import this_process

    return this_process().connections_for(config.options["max_streams"].value)


if __name__ == "__main__":
    sys.exit(main())
