"""Why ``?filter=`` is JMESPath: per-event cost of the candidate languages on ~400 B events.

    python -m scripts.bench_lib.filter_languages

Evaluates one filter (one wiki, no bots, a namespace list, a size threshold) on 20,000
decoded wiki-edit events, best of 3, with ``jmespath``, our step-budgeted
:class:`~kafkasse_wsgi._filters.EventFilter`, and, if installed (they are not dependencies:
``pip install common-expression-language cel-python``), CEL's Rust binding and cel-python.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from typing import Any

import jmespath

from kafkasse_wsgi._filters import compile_filter

JMESPATH = (
    "meta.domain == 'en.wikipedia.org' && !bot && contains(`[0, 14]`, namespace)"
    " && length.new > `1000`"
)
# CEL reserves "namespace": the event is a variable of its own.
CEL = (
    "e.meta.domain == 'en.wikipedia.org' && !e.bot && e.namespace in [0, 14] && e.length.new > 1000"
)


def events(count: int = 20_000) -> list[dict[str, Any]]:
    rng = random.Random(1)
    domains = ["en.wikipedia.org", "de.wikipedia.org", "commons.wikimedia.org"]
    return [
        {
            "$schema": "/mediawiki/recentchange/1.0.0",
            "meta": {
                "domain": rng.choice(domains),
                "id": f"a1b2c3d4-{i}",
                "dt": "2026-11-27T10:00:00Z",
            },
            "id": i,
            "type": "edit",
            "namespace": rng.choice([0, 1, 2, 4, 6, 14]),
            "title": f"Page {i}",
            "user": f"User{i % 100}",
            "bot": rng.random() < 0.3,
            "length": {"old": rng.randint(0, 5000), "new": rng.randint(0, 5000)},
            "minor": False,
            "_kafka": {
                "topic": "edits",
                "partition": 0,
                "offset": i,
                "timestamp": 1795730038371,
                "key": None,
            },
        }
        for i in range(count)
    ]


def rate(
    data: list[dict[str, Any]], matches: Callable[[dict[str, Any]], bool]
) -> tuple[float, int]:
    best, hits = 0.0, 0
    for _ in range(3):
        began = time.perf_counter()
        hits = sum(1 for event in data if matches(event))
        best = max(best, len(data) / (time.perf_counter() - began))
    return best, hits


def main() -> None:
    data = events()
    size = sum(len(json.dumps(e)) for e in data) / len(data)
    print(f"{len(data)} events of {size:.0f} B; filter: {JMESPATH}")
    compiled = jmespath.compile(JMESPATH)
    rows = [("jmespath", rate(data, lambda e: compiled.search(e) is True))]
    ours = compile_filter(JMESPATH, None)
    rows.append(("EventFilter (jmespath + step budget)", rate(data, ours.matches)))
    try:
        import cel

        program = cel.compile(CEL)
        rows.append(("CEL, Rust binding", rate(data, lambda e: program.execute({"e": e}) is True)))
    except ImportError:
        rows.append(("CEL, Rust binding", (0.0, 0)))
    try:
        import celpy

        environment = celpy.Environment()
        runner = environment.program(environment.compile(CEL))
        few = data[:2000]  # ~1 ms an event: a tenth of the data
        rows.append(
            ("cel-python", rate(few, lambda e: bool(runner.evaluate({"e": celpy.json_to_cel(e)}))))
        )
    except ImportError:
        rows.append(("cel-python", (0.0, 0)))
    for name, (eps, hits) in rows:
        figure = f"{eps:>10,.0f} ev/s  {1e6 / eps:7.1f} µs/event" if eps else "not installed"
        print(f"{name:<38} {figure}  (matched {hits})")


if __name__ == "__main__":
    main()
