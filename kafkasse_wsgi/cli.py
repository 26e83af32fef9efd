"""``kafkasse-wsgi serve``: a ready stream server, for the demo and for small deployments.

One worker runs gevent's own WSGI server in this process; more than one runs gunicorn with
gevent workers. Every flag can also come from a ``KAFKASSE_*`` environment variable (the flag
wins). Logs are JSON lines on stderr.

This module imports nothing heavy at the top: ``serve`` monkey-patches with gevent *before*
gevent, kafka-python or our package's stream modules are imported, as gevent asks.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Sequence
from typing import Any

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 6927
DEFAULT_HEARTBEAT_S = 15.0
#: Seconds open streams get on SIGTERM before they are ended (gevent server).
SHUTDOWN_GRACE_S = 1.0


def _env(name: str, default: Any = None) -> Any:
    return os.environ.get(f"KAFKASSE_{name}", default)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kafkasse-wsgi",
        description="Stream Apache Kafka topics to HTTP Server-Sent Events.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser(
        "serve",
        help="run the stream server",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description=(
            "Serve GET /<topic>[,<topic>...] as SSE streams (?since=<epoch ms|ISO-8601>, "
            "Last-Event-ID resumes), /healthz, /metrics, and a demo page at /. "
            "Each option can also be set with the environment variable named in brackets."
        ),
    )
    serve.add_argument(
        "--bootstrap-servers",
        default=_env(
            "BOOTSTRAP_SERVERS", os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
        ),
        help="Kafka brokers, comma-separated [KAFKASSE_BOOTSTRAP_SERVERS]",
    )
    serve.add_argument(
        "--host", default=_env("HOST", DEFAULT_HOST), help="address to listen on [KAFKASSE_HOST]"
    )
    serve.add_argument(
        "--port", type=int, default=int(_env("PORT", DEFAULT_PORT)), help="port [KAFKASSE_PORT]"
    )
    serve.add_argument(
        "--allowed-topics",
        default=_env("ALLOWED_TOPICS"),
        help="comma-separated topics clients may read; default: all but internal ones "
        "[KAFKASSE_ALLOWED_TOPICS]",
    )
    serve.add_argument(
        "--cors-origins",
        default=_env("CORS_ORIGINS"),
        help="origins whose pages may read streams (CORS), comma-separated, or '*' for any "
        "(without credentials); default: none [KAFKASSE_CORS_ORIGINS]",
    )
    serve.add_argument(
        "--workers",
        type=int,
        default=int(_env("WORKERS", 1)),
        help="1: gevent's server in this process; more: gunicorn with gevent workers "
        "[KAFKASSE_WORKERS]",
    )
    serve.add_argument(
        "--heartbeat",
        type=float,
        default=float(_env("HEARTBEAT", DEFAULT_HEARTBEAT_S)),
        help="seconds between heartbeat comments on idle streams [KAFKASSE_HEARTBEAT]",
    )
    serve.add_argument(
        "--log-level",
        default=_env("LOG_LEVEL", "INFO"),
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        type=str.upper,
        help="log level of the JSON logs on stderr [KAFKASSE_LOG_LEVEL]",
    )
    return parser


def stream_options(args: argparse.Namespace) -> dict[str, Any]:
    """The KafkaSSE options the flags describe."""
    options: dict[str, Any] = {
        "kafka_config": {"bootstrap_servers": args.bootstrap_servers},
        "heartbeat_interval_s": args.heartbeat,
    }
    if args.allowed_topics:
        options["allowed_topics"] = [t.strip() for t in args.allowed_topics.split(",") if t.strip()]
    if args.cors_origins:
        origins = args.cors_origins.strip()
        options["cors_origins"] = (
            "*" if origins == "*" else [o.strip() for o in origins.split(",") if o.strip()]
        )
    return options


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.workers < 1:
        print("kafkasse-wsgi: --workers must be at least 1", file=sys.stderr)
        return 2
    if args.workers == 1:
        return _serve_gevent(args)
    from .extras import MissingExtraError, require

    try:
        require("gunicorn", f"--workers {args.workers}", "gunicorn")
    except MissingExtraError as missing:
        print(f"kafkasse-wsgi: {missing}", file=sys.stderr)
        return 2
    return _serve_gunicorn(args)


def _serve_gevent(args: argparse.Namespace) -> int:
    from gevent import monkey

    monkey.patch_all()

    import logging

    import gevent
    from gevent.pool import Pool
    from gevent.pywsgi import WSGIServer

    from .errors import ConfigurationError
    from .log import configure_json_logging
    from .server import StreamServer
    from .stream import end_all_streams

    configure_json_logging(args.log_level)
    log = logging.getLogger("kafkasse_wsgi.cli")
    try:
        app = StreamServer(**stream_options(args))
    except ConfigurationError as error:
        log.error("invalid configuration: %s", error.message)
        return 2
    # A pool (not bare greenlets) so that stopping can find and end every open stream.
    server = WSGIServer(
        (args.host, args.port),
        app,
        spawn=Pool(),
        log=None,
        error_log=logging.getLogger("gevent.pywsgi"),
    )
    # Streams are ended cleanly on SIGTERM (below); any still open after this grace are
    # killed, which runs their cleanup too (GreenletExit).
    server.stop_timeout = SHUTDOWN_GRACE_S

    def stop(signum: int) -> None:
        log.info("signal %d: stopping; open streams end now, clients resume elsewhere", signum)
        end_all_streams("shutdown")
        server.close()  # serve_forever() returns and stops the server, as above

    gevent.signal_handler(signal.SIGTERM, stop, signal.SIGTERM)
    gevent.signal_handler(signal.SIGINT, stop, signal.SIGINT)
    log.info(
        "serving on http://%s:%d/ (brokers %s)",
        args.host,
        args.port,
        args.bootstrap_servers,
        extra={"host": args.host, "port": args.port},
    )
    server.serve_forever()
    log.info("stopped")
    return 0


def _serve_gunicorn(args: argparse.Namespace) -> int:
    from gunicorn.app.base import BaseApplication

    options = stream_options(args)
    log_level = args.log_level
    # prometheus_client's multiprocess mode: every worker writes its values here, /metrics
    # merges them. Must be set before any worker imports prometheus_client.
    metrics_dir = None
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        metrics_dir = tempfile.mkdtemp(prefix="kafkasse-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir

    def post_worker_init(worker: Any) -> None:
        from .gunicorn_hooks import watch_worker
        from .log import configure_json_logging

        configure_json_logging(log_level)
        watch_worker(worker)

    def child_exit(server: Any, worker: Any) -> None:
        from .metrics import worker_exited

        worker_exited(worker.pid)

    class StreamApplication(BaseApplication):
        def load_config(self) -> None:
            settings = {
                "bind": f"{args.host}:{args.port}",
                "workers": args.workers,
                "worker_class": "gevent",
                "worker_connections": 2000,
                # Streams are long-lived: the worker heartbeat, not the request, is timed.
                "timeout": 60,
                "graceful_timeout": 10,
                "keepalive": 5,
                "loglevel": log_level.lower(),
                "accesslog": None,
                "post_worker_init": post_worker_init,
                "child_exit": child_exit,
            }
            for key, value in settings.items():
                self.cfg.set(key, value)

        def load(self) -> Any:
            from .server import StreamServer

            return StreamServer(**options)

    try:
        StreamApplication().run()
    finally:
        if metrics_dir:
            shutil.rmtree(metrics_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
