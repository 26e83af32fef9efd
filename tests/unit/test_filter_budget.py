"""What one ``?filter=`` may cost: refused at parse time, or bounded per event in time and bytes.

The bounds these tests hold every expression to, on one event of ``size`` bytes of JSON:

* time: at most :func:`time_bound_s` = 0.1 s + 0.75 s per MiB of event (CPU time);
* bytes allocated while it runs (tracemalloc's peak): at most :func:`bytes_bound` =
  4 MiB + 64 bytes per byte of event (four times the budget of values a filter may build,
  ``max(1 MiB, 16 x size)``, for what a function allocates beside the value it returns).

An expression that cannot stay within them is refused at parse time (a 400) or dropped on
the event that would pass them, and counted as a filter error, as a type error is.
"""

from __future__ import annotations

import contextlib
import json
import random
import time
import tracemalloc
from collections.abc import Iterator
from typing import Any

import gevent
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jmespath import functions as jmespath_functions

from kafkasse_wsgi import _filters as filters
from kafkasse_wsgi._assignments import StartPosition
from kafkasse_wsgi._filters import FilterEvaluationError, compile_filter
from kafkasse_wsgi._positions import Positions
from kafkasse_wsgi._tail.ring import SharedRecord, TailBatch, TailRing, deliver
from kafkasse_wsgi.errors import InvalidFilterError
from tests.support.filter_events import make_event
from tests.support.memory_guard import memory_guard

LIMIT = 1000
MIB = 2**20
#: Past this, a runaway evaluation raises MemoryError in the test instead of swapping.
GUARD_BYTES = 1024 * MIB


def time_bound_s(size: int) -> float:
    return 0.1 + 0.75 * size / MIB


def bytes_bound(size: int) -> int:
    return 4 * MIB + 64 * size


def stages(count: int) -> str:
    """The reported family: each stage makes eight copies of the value and writes them out."""
    return "@" + "|[@,@,@,@,@,@,@,@]|to_string(@)" * count + "|length(@)"


def measured(compiled: filters.EventFilter, event: Any) -> tuple[object, float, int]:
    """The result (or the error), the seconds and the peak bytes of one evaluation.

    Seconds of the thread's CPU time: what the evaluation costs the worker, whatever else
    runs on the machine.
    """
    with memory_guard(GUARD_BYTES):
        began = time.thread_time()
        try:
            result: object = compiled.evaluate(event)
        except FilterEvaluationError as error:
            result = error
        elapsed = time.thread_time() - began
        tracemalloc.start()
        try:
            with contextlib.suppress(FilterEvaluationError):
                compiled.evaluate(event)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    return result, elapsed, peak


def sample_event(seed: int = 3) -> dict[str, Any]:
    event = make_event(random.Random(seed), 7)
    event["_kafka"] = {"topic": "t", "partition": 0, "offset": 7, "key": None}
    return event


# --- the reported expression family ------------------------------------------------------------


def test_the_stage_family_is_refused_at_parse_time_or_stays_within_the_bounds():
    event = sample_event()
    size = len(json.dumps(event))
    refused = []
    for count in range(1, 15):  # ascending: a regression fails on a small stage, cheaply
        text = stages(count)
        try:
            compiled = compile_filter(text, LIMIT)
        except InvalidFilterError as error:
            assert error.status == 400 and "copies" in error.message
            refused.append(count)
            continue
        _, elapsed, peak = measured(compiled, event)
        assert elapsed <= time_bound_s(size), (count, elapsed)
        assert peak <= bytes_bound(size), (count, peak)
    # The one reported (8 stages: 8**8 copies of the event) cannot pass on any event.
    assert 8 in refused and refused == list(range(refused[0], 15))


def test_an_event_past_the_budget_is_dropped_and_counted_like_a_type_error():
    events = [sample_event(seed) for seed in range(3)]
    records = [
        SharedRecord("t", 0, offset, 1000 + offset, json.dumps(event))
        for offset, event in enumerate(events)
    ]
    batch = TailBatch(0, records, (("t", 0),), (0,), (0,))
    compiled = compile_filter(stages(4), LIMIT)  # accepted: 4,096 copies at most
    positions = Positions([StartPosition("t", 0, 0, "offset")])
    began = time.perf_counter()
    with memory_guard(GUARD_BYTES):
        delivery = deliver(batch, positions, True, compiled, batch.filter_results(compiled))
    elapsed = time.perf_counter() - began
    assert (delivery.sent, delivery.filtered, delivery.filter_errors) == (0, 3, 3)
    assert elapsed <= 3 * time_bound_s(max(len(r.data or "") for r in records))


def test_memory_error_in_a_function_drops_the_event(monkeypatch):
    compiled = compile_filter("length(to_string(@)) > `1`", LIMIT)
    assert compiled.matches({"a": 1})

    def exhausted(*args: Any, **kwargs: Any) -> str:
        raise MemoryError

    monkeypatch.setattr(jmespath_functions.json, "dumps", exhausted)
    with pytest.raises(FilterEvaluationError):
        compiled.matches({"a": 2})


# --- what is kept between events: verdicts -------------------------------------------------------

#: The verdicts every expression of a process keeps for the others (the README's figure).
VERDICTS_BOUND = 16 * MIB


def test_the_verdicts_of_every_expression_together_stay_under_their_byte_bound():
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for n in range(16):  # as many expressions as clients care to send
            compiled = compile_filter(f"verdicts_case_{n} == 'x'", LIMIT)
            for offset in range(2 * filters.SHARED_RESULTS):
                key = ("cluster-id", "topic", 3, 10**9 + offset, 1_700_000_000_000 + offset)
                compiled.remember(key, offset % 2 == 0)
            grown = tracemalloc.get_traced_memory()[0] - before
            assert grown <= VERDICTS_BOUND, (n, grown)
    finally:
        tracemalloc.stop()
        # The process's verdict budget is shared: give this test's share back for the others.
        compiled = None
        for n in range(16):
            filters._cache.pop(f"verdicts_case_{n} == 'x'", None)


def test_a_batch_counts_its_per_filter_verdicts_in_the_ring_bytes():
    import sys

    records = [SharedRecord("t", 0, n, n, json.dumps({"n": n})) for n in range(1000)]
    ring = TailRing(max_events=10**6, max_bytes=10**9, max_age_s=3600)
    batch = TailBatch(0, records, (("t", 0),), (0,), (0,))
    ring.append(batch)
    before = ring.bytes
    held = 0
    for n in range(20):
        compiled = compile_filter(f"n > `{n}`", LIMIT)
        results = batch.filter_results(compiled)
        deliver(batch, Positions([StartPosition("t", 0, 0, "offset")]), True, compiled, results)
        held += sys.getsizeof(results) + sum(sys.getsizeof(i) for i in results if i > 256)
    assert ring.bytes - before >= held


# --- one stream's filtering lets the others run ---------------------------------------------------


@contextlib.contextmanager
def another_greenlets_gaps() -> Iterator[list[float]]:
    """Runs another greenlet beside the block; yields the CPU time between its turns (the
    process's thread time: what the filtering took, not the machine's load)."""
    gaps: list[float] = []
    done = False

    def ticker() -> None:
        last = time.thread_time()
        while not done:
            gevent.sleep(0)
            now = time.thread_time()
            gaps.append(now - last)
            last = now

    other = gevent.spawn(ticker)
    gevent.sleep(0)
    try:
        yield gaps
    finally:
        done = True
        other.join(1)


def test_filtering_a_batch_lets_other_greenlets_run_every_slice():
    big = {"text": "x" * 100_000, "n": 1}
    records = [SharedRecord("t", 0, n, n, json.dumps(dict(big, n=n))) for n in range(300)]
    batch = TailBatch(0, records, (("t", 0),), (0,), (0,))
    batch.forget_decoded()  # each event is parsed again: the batch takes a while
    # Dropping every event: the batch is all filtering, nothing to format.
    compiled = compile_filter("length(to_string(@)) < `1`", LIMIT)
    with another_greenlets_gaps() as gaps:
        began = time.thread_time()
        positions = Positions([StartPosition("t", 0, 0, "offset")])
        delivery = deliver(batch, positions, True, compiled, batch.filter_results(compiled))
        took = time.thread_time() - began
    assert delivery.filtered == 300
    assert max(gaps) < took / 2  # the other greenlet ran while the batch was filtered
    one_event = took / 300
    assert took > 4 * filters.FILTER_SLICE_S  # the case is not vacuous
    # A slice, the evaluation under way when it ran out, and the ticker's own turn.
    assert max(gaps) <= filters.FILTER_SLICE_S + 3 * one_event + 0.005, (max(gaps), took)


def test_a_stream_filtering_batch_after_batch_lets_others_run_every_slice():
    """Each batch shorter than a slice, many in a row (a client catching up on the ring)."""
    big = {"text": "x" * 100_000, "n": 1}
    batches = []
    for seq in range(60):
        records = [
            SharedRecord("t", 0, 5 * seq + n, n, json.dumps(dict(big, n=n))) for n in range(5)
        ]
        batch = TailBatch(seq, records, (("t", 0),), (5 * seq,), (0,))
        batch.forget_decoded()
        batches.append(batch)
    compiled = compile_filter("length(to_string(@)) < `2`", LIMIT)
    with another_greenlets_gaps() as gaps:
        positions = Positions([StartPosition("t", 0, 0, "offset")])
        began = time.thread_time()
        for batch in batches:  # as the tail source reads them: one after the other, no wait
            deliver(batch, positions, True, compiled, batch.filter_results(compiled))
        took = time.thread_time() - began
    one_event = took / 300
    assert took > 4 * filters.FILTER_SLICE_S  # the case is not vacuous
    assert max(gaps) <= filters.FILTER_SLICE_S + 3 * one_event + 0.005, (max(gaps), took)


# --- any expression of the grammar, on events up to 1 MB ------------------------------------------


STRINGS = ["plain", "Zürich", "東京", 'q"uote\\', "Emoji 🎉"]


def _sized_event(target: int, seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    event = sample_event(seed)
    event["items"] = []
    event["nums"] = list(range(10))
    size = len(json.dumps(event))
    while size < target:
        item = {
            "n": len(event["items"]),
            "s": rng.choice(STRINGS) * rng.randint(1, 9),
            "tags": rng.sample(["a", "b", "c", "d"], 2),
            "nested": {"x": rng.random(), "y": [1, None, True]},
        }
        event["items"].append(item)
        size += len(json.dumps(item)) + 2
    return event


EVENTS = [
    _sized_event(300, 1),
    _sized_event(20_000, 2),
    _sized_event(1_000_000, 3),
    dict(sample_event(4), text='ab"\\é🎉\n' * 38_000),  # ~1 MB of escapes and unicode
]
SIZES = [len(json.dumps(event)) for event in EVENTS]

LEAVES = st.sampled_from(
    [
        "@",
        "n",
        "title",
        "meta",
        "meta.domain",
        "items",
        "items[0]",
        "tags",
        "text",
        "nums",
        "`1`",
        "'x'",
        "`[1, 2]`",
        '`{"k": 1}`',
        "`null`",
        "*",
        "@.*",
    ]
)
UNARY = st.sampled_from(
    [
        "to_string",
        "length",
        "keys",
        "values",
        "sort",
        "reverse",
        "to_array",
        "type",
        "to_number",
        "sum",
        "max",
        "min",
        "avg",
        "abs",
        "floor",
        "not_null",
    ]
)
BINARY = st.sampled_from(["merge", "contains", "starts_with", "ends_with", "not_null", "join"])
KEYS = st.sampled_from(["n", "to_string(@)", "length(to_string(@))", "s"])
OPERATORS = st.sampled_from(["==", "!=", "<", ">=", "&&", "||"])


def _compound(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    pair = st.tuples(inner, inner)
    return st.one_of(
        pair.map(lambda p: f"({p[0]}) | ({p[1]})"),
        st.lists(inner, min_size=1, max_size=8).map(lambda xs: "[" + ", ".join(xs) + "]"),
        st.lists(inner, min_size=1, max_size=4).map(
            lambda xs: "{" + ", ".join(f"k{i}: {x}" for i, x in enumerate(xs)) + "}"
        ),
        inner.map(lambda x: f"({x})[*]"),
        inner.map(lambda x: f"({x})[]"),
        inner.map(lambda x: f"({x}).*"),
        inner.map(lambda x: f"({x})[*].n"),
        pair.map(lambda p: f"({p[0]})[?{p[1]}]"),
        inner.map(lambda x: f"({x})[::-1]"),
        inner.map(lambda x: f"({x})[1:7:2]"),
        inner.map(lambda x: f"({x})[0]"),
        st.tuples(UNARY, inner).map(lambda t: f"{t[0]}({t[1]})"),
        st.tuples(BINARY, inner, inner).map(lambda t: f"{t[0]}({t[1]}, {t[2]})"),
        inner.map(lambda x: f"join(', ', {x})"),
        st.tuples(st.sampled_from(["sort_by", "max_by", "min_by"]), inner, KEYS).map(
            lambda t: f"{t[0]}({t[1]}, &{t[2]})"
        ),
        pair.map(lambda p: f"map(&({p[0]}), {p[1]})"),
        st.tuples(inner, OPERATORS, inner).map(lambda t: f"({t[0]}) {t[1]} ({t[2]})"),
        inner.map(lambda x: f"!({x})"),
    )


#: Steps that grow what they are given, piped one after the other.
AMPLIFIERS = st.sampled_from(
    [
        "[@,@,@,@,@,@,@,@]",
        "[@,@]",
        "{a: @, b: @, c: @}",
        "to_string(@)",
        "[@,@][]",
        "values(@)",
        "merge(@, {x: @})",
        "sort_by([@,@,@], &to_string(@))",
        "@[*]",
        "join(to_string(@), [to_string(@), to_string(@)])",
        "map(&[@,@], [@,@])",
        "[@,@] == [@,@]",
        "items[*].[@,@,@]",
    ]
)
expressions = st.one_of(
    st.recursive(LEAVES, _compound, max_leaves=20),
    st.lists(AMPLIFIERS, min_size=1, max_size=14).map(lambda xs: "@ | " + " | ".join(xs)),
    st.integers(1, 14).map(stages),
)
PROPERTY_COUNT = {"n": 0}


@settings(
    max_examples=120,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(text=expressions, which=st.integers(0, len(EVENTS) - 1))
def test_any_expression_on_events_up_to_1_mb_stays_within_time_and_bytes(text, which):
    PROPERTY_COUNT["n"] += 1
    try:
        compiled = compile_filter(text, LIMIT)
    except InvalidFilterError as error:
        assert error.status == 400
        return
    _, elapsed, peak = measured(compiled, EVENTS[which])
    size = SIZES[which]
    assert elapsed <= time_bound_s(size), (text, size, elapsed)
    assert peak <= bytes_bound(size), (text, size, peak)


def test_the_property_ran_120_expressions():
    assert PROPERTY_COUNT["n"] >= 120
