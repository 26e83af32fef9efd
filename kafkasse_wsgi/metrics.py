"""Prometheus metrics of the streams, with the maintained ``prometheus_client`` library.

Streams report through the small functions below; when ``prometheus_client`` is not
installed (it is the ``metrics`` extra) they do nothing. The metrics live in
prometheus_client's default registry, created on first use, never at import.

Under gunicorn with several workers, each worker is a process with its own counters:
set ``PROMETHEUS_MULTIPROC_DIR`` to an empty directory before the workers start (the
``kafkasse-wsgi serve`` command does) and :func:`metrics_app` merges every worker's values
(prometheus_client's multiprocess mode). Open streams are summed over live workers only.

Metrics (all prefixed ``kafkasse_``):

* ``streams_open`` (gauge) — streams being served now;
* ``streams_started_total``, ``streams_ended_total{cause}`` — cause is ``client_left``,
  ``error``, ``limit``, ``shutdown``, ``token_expired``, ``slow``, ``end``, or for bounded
  replays ``until`` and ``event_limit``;
* ``streams_refused_total{status}`` — requests answered with an HTTP error;
* ``events_sent_total``, ``events_filtered_total``, ``events_skipped_total``,
  ``bytes_sent_total`` — added up per process and counted at most a second later
  (:data:`FLUSH_INTERVAL_S`; at once on a scrape of the same process);
* shared tail (see :mod:`~kafkasse_wsgi._tail.hub`): ``tail_hubs_open``, ``tail_clients`` and
  ``tail_ring_bytes`` (gauges), ``tail_hub_lag_messages{topic}`` (gauge),
  ``tail_handoffs_total`` (streams that moved from their own consumer to a hub),
  ``tail_detaches_total{cause}`` (hub clients that fell behind the ring: ``slow`` went back
  to a consumer of their own, ``private_cap`` ended resumably);
* ``consumer_lag_messages`` (histogram) — per stream, observed after every poll: how many
  messages its consumer is behind the partitions' ends.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

LAG_BUCKETS = (0, 1, 10, 100, 1_000, 10_000, 100_000, 1_000_000, float("inf"))

_metrics: dict[str, Any] | None = None
_unavailable = False


def _get() -> dict[str, Any] | None:
    """Create the metrics on first use; ``None`` when prometheus_client is missing."""
    global _metrics, _unavailable
    if _metrics is not None or _unavailable:
        return _metrics
    try:
        from prometheus_client import Counter, Gauge, Histogram
    except ImportError:
        _unavailable = True
        return None
    _metrics = {
        "open": Gauge(
            "kafkasse_streams_open", "Streams being served now", multiprocess_mode="livesum"
        ),
        "started": Counter("kafkasse_streams_started", "Streams started"),
        "ended": Counter("kafkasse_streams_ended", "Streams ended, by cause", ["cause"]),
        "refused": Counter(
            "kafkasse_streams_refused", "Requests answered with an HTTP error", ["status"]
        ),
        "sent": Counter("kafkasse_events_sent", "Events sent to clients"),
        "filtered": Counter("kafkasse_events_filtered", "Events dropped by the filterer"),
        "skipped": Counter("kafkasse_events_skipped", "Messages skipped (could not deserialize)"),
        "bytes": Counter("kafkasse_bytes_sent", "Bytes of stream bodies sent"),
        "hubs": Gauge(
            "kafkasse_tail_hubs_open", "Shared-tail hubs open", multiprocess_mode="livesum"
        ),
        "tail_clients": Gauge(
            "kafkasse_tail_clients", "Streams attached to hubs", multiprocess_mode="livesum"
        ),
        "ring_bytes": Gauge(
            "kafkasse_tail_ring_bytes", "Bytes held by hub rings", multiprocess_mode="livesum"
        ),
        "hub_lag": Gauge(
            "kafkasse_tail_hub_lag_messages",
            "Messages a hub's consumer is behind",
            ["topic"],
            multiprocess_mode="livemax",
        ),
        "handoffs": Counter(
            "kafkasse_tail_handoffs", "Streams that moved from their own consumer to a hub"
        ),
        "detaches": Counter(
            "kafkasse_tail_detaches", "Hub clients that fell behind the ring", ["cause"]
        ),
        "lag": Histogram(
            "kafkasse_consumer_lag_messages",
            "Messages a stream's consumer is behind",
            buckets=LAG_BUCKETS,
        ),
    }
    return _metrics


def stream_started() -> None:
    metrics = _get()
    if metrics:
        metrics["started"].inc()
        metrics["open"].inc()


def stream_ended(cause: str) -> None:
    flush()
    metrics = _get()
    if metrics:
        metrics["open"].dec()
        metrics["ended"].labels(cause).inc()


def stream_refused(status: int) -> None:
    metrics = _get()
    if metrics:
        metrics["refused"].labels(str(status)).inc()


def batch_processed(sent: int, filtered: int, skipped: int, lag: int | None) -> None:
    if _unavailable:
        return
    _pending[0] += sent
    _pending[1] += filtered
    _pending[2] += skipped
    if lag is not None:
        metrics = _get()
        if metrics:
            metrics["lag"].observe(lag)
    _flush_soon()


def tail_hub_opened(change: int) -> None:
    metrics = _get()
    if metrics:
        metrics["hubs"].inc(change)


def tail_clients(change: int) -> None:
    metrics = _get()
    if metrics:
        metrics["tail_clients"].inc(change)


def tail_ring_bytes(change: int) -> None:
    metrics = _get()
    if metrics and change:
        metrics["ring_bytes"].inc(change)


def tail_hub_lag(topic: str, lag: int) -> None:
    metrics = _get()
    if metrics:
        metrics["hub_lag"].labels(topic).set(lag)


def tail_handoff() -> None:
    metrics = _get()
    if metrics:
        metrics["handoffs"].inc()


def tail_detached(cause: str) -> None:
    metrics = _get()
    if metrics:
        metrics["detaches"].labels(cause).inc()


def bytes_sent(count: int) -> None:
    if _unavailable:
        return
    _pending[3] += count
    _flush_soon()


#: The counters every batch of every stream moves (events sent, filtered, skipped; bytes)
#: are added up here and handed to prometheus_client at most every ``FLUSH_INTERVAL_S``, on
#: a scrape of this process and when a stream ends: one ``inc`` takes a lock, and a batch
#: on the shared tail reaches every client of a hub.
FLUSH_INTERVAL_S = 1.0
_PENDING_NAMES = ("sent", "filtered", "skipped", "bytes")
_pending = [0, 0, 0, 0]
_flush_timer: Any = None


def _flush_soon() -> None:
    global _flush_timer
    if _flush_timer is None:
        import gevent

        _flush_timer = gevent.get_hub().loop.timer(FLUSH_INTERVAL_S)
        _flush_timer.start(flush)


def flush() -> None:
    """Hand the counts added up so far to prometheus_client (see ``FLUSH_INTERVAL_S``)."""
    global _flush_timer
    timer, _flush_timer = _flush_timer, None
    if timer is not None:
        timer.close()
    metrics = _get()
    if not metrics:
        return
    for i, name in enumerate(_PENDING_NAMES):
        count, _pending[i] = _pending[i], 0
        if count:
            metrics[name].inc(count)


def metrics_app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    """A WSGI app serving the metrics in the Prometheus text format; mount it anywhere.

    With ``PROMETHEUS_MULTIPROC_DIR`` set, it merges the values of every worker process.
    """
    try:
        from prometheus_client import (
            CONTENT_TYPE_LATEST,
            REGISTRY,
            CollectorRegistry,
            generate_latest,
        )
    except ImportError:
        from ._extras import install_hint
        from .errors import ConfigurationError

        body = ConfigurationError(install_hint("/metrics", "metrics")).to_json().encode()
        start_response("501 Not Implemented", [("Content-Type", "application/json")])
        return [body]
    flush()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    body = generate_latest(registry)
    start_response("200 OK", [("Content-Type", CONTENT_TYPE_LATEST), ("Cache-Control", "no-cache")])
    return [body]


def worker_exited(pid: int) -> None:
    """Gunicorn ``child_exit`` hook: drop a dead worker's live gauges (multiprocess mode)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        try:
            from prometheus_client import multiprocess
        except ImportError:
            return
        multiprocess.mark_process_dead(pid)
