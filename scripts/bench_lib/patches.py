"""Experimental patches of kafkasse_wsgi, applied only inside the benchmark's server process.

They exist to measure a proposed optimisation before anyone changes the package; none of them
is used unless ``--patch NAME`` (``BENCH_PATCH``) asks for it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

PATCHES: dict[str, Callable[[], None]] = {}


def patch(fn: Callable[[], None]) -> Callable[[], None]:
    PATCHES[fn.__name__] = fn
    return fn


def apply(names: str) -> None:
    for name in filter(None, (n.strip() for n in names.split(","))):
        if name not in PATCHES:
            raise SystemExit(f"unknown BENCH_PATCH {name!r}; known: {', '.join(sorted(PATCHES))}")
        PATCHES[name]()


@patch
def tracemalloc() -> None:
    """Trace allocations (10 frames deep) for ``GET /_bench/memory`` (``app.py``): where a
    stream's memory goes. It slows the worker and adds its own memory: not for figures."""
    import tracemalloc as _tracemalloc

    _tracemalloc.start(10)


@patch
def gc_off() -> None:
    """No cyclic garbage collection in the worker: do its pauses make the tail's p99?"""
    import gc

    gc.disable()


@patch
def client_batch_cost_10us() -> None:
    """Half the hub's per-client batch cost estimate: batches twice as often under load."""
    from kafkasse_wsgi._tail import hub

    hub.CLIENT_BATCH_COST_S = 10e-6


@patch
def bare_stream() -> None:
    """Every stream answered by a bare body (``:ok``, then a wait on an event that never
    fires): what the server alone costs per idle connection (gunicorn's gevent worker, a
    greenlet each), the floor under (i) idle's memory per client. Streams nothing."""
    from gevent.event import Event

    from kafkasse_wsgi import _app

    never = Event()

    def bare(self: Any, environ: Any, start_response: Any) -> Any:
        start_response("200 OK", [("Content-Type", "text/event-stream")])

        def body() -> Any:
            yield b":ok\n\n"
            never.wait()

        return body()

    _app.KafkaSSE.__call__ = bare  # type: ignore[method-assign]
