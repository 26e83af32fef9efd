"""``?filter=`` expressions as a pure unit: the oracle, the limits, the fuzz."""

from __future__ import annotations

import contextlib
import json
import time

import jmespath
import pytest
from hypothesis import HealthCheck, given, settings
from jmespath.exceptions import JMESPathError

from kafkasse_wsgi import _filters as filters
from kafkasse_wsgi._filters import MAX_DEPTH, FilterEvaluationError, compile_filter
from kafkasse_wsgi.errors import InvalidFilterError
from tests.support.filter_events import ORACLES, expressions, make_events

LIMIT = 1000


@pytest.fixture(scope="module")
def events():
    generated = make_events(10_000)
    for n, event in enumerate(generated):
        event["_kafka"] = {"topic": "t", "partition": n % 3, "offset": n // 3, "key": None}
    return generated


@pytest.mark.parametrize(("expression", "oracle"), ORACLES, ids=[e for e, _ in ORACLES])
def test_filter_agrees_with_the_python_oracle_on_10k_events(events, expression, oracle):
    compiled = compile_filter(expression, LIMIT)
    got = [e["n"] for e in events if _safe(compiled, e)]
    want = [e["n"] for e in events if oracle(e)]
    assert got == want
    assert 0 < len(want) < len(events)  # the case is not vacuous


def _safe(compiled, event):
    try:
        return compiled.matches(event)
    except FilterEvaluationError:
        return False


def test_results_are_shared_for_the_last_records_only():
    compiled = compile_filter("shared_results_case", LIMIT)
    compiled.remember(("c", "t", 0, 0, 5), False)
    assert compiled.known(("c", "t", 0, 0, 5)) is False
    assert compiled.known(("c", "t", 0, 1, 5)) is None
    for offset in range(1, 2 * filters.SHARED_RESULTS):
        compiled.remember(("c", "t", 0, offset, 5), True)
        if offset < filters.SHARED_RESULTS:
            assert compiled.known(("c", "t", 0, 0, 5)) is False  # the last N are kept
    assert compiled.known(("c", "t", 0, 0, 5)) is None  # at most 2N: the oldest went
    assert compiled.known(("c", "t", 0, 2 * filters.SHARED_RESULTS - 1, 5)) is True


@pytest.mark.parametrize(
    ("text", "sees"),
    [
        ("meta.domain == 'x'", False),
        ("_kafka.partition == `1`", True),
        ('"_kafka".partition', True),
        ("length(@) > `3`", True),
        ("keys(@)", True),
        ("*", True),
        ("tags[?@ == 'x']", True),  # conservative: any @
        ("contains(tags, 'x') && !bot", False),
    ],
)
def test_which_expressions_can_see_the_kafka_block(text, sees):
    assert compile_filter(text, LIMIT).sees_kafka_meta is sees


def test_same_text_compiles_once_per_process():
    text = "meta.domain == 'xx.wikipedia.org'"
    assert compile_filter(text, LIMIT) is compile_filter(text, LIMIT)


@pytest.mark.parametrize(
    ("text", "message", "position"),
    [
        ("a ==", "Incomplete expression at position 4", 4),
        ("meta.domain == 'en", "Unclosed ' delimiter at position 15", 15),
        ("foo(", "at position 4", 4),
        ("  ", "filter is empty", 0),
    ],
)
def test_bad_expression_says_what_and_where(text, message, position):
    with pytest.raises(InvalidFilterError) as raised:
        compile_filter(text, LIMIT)
    assert raised.value.status == 400
    assert message in raised.value.message
    assert raised.value.to_dict()["position"] == position


def test_too_long_is_refused_before_parsing():
    with pytest.raises(InvalidFilterError, match="too long"):
        compile_filter("a" * (LIMIT + 1), LIMIT)
    assert compile_filter("a" * LIMIT, LIMIT).matches({"a" * LIMIT: 1})


def test_nesting_beyond_the_limit_is_refused():
    deep = "!" * (MAX_DEPTH + 5) + "a"
    with pytest.raises(InvalidFilterError, match="nested too deeply"):
        compile_filter(deep, LIMIT)
    # Deeper than the parser's own recursion: still a 400, not a RecursionError.
    with pytest.raises(InvalidFilterError, match="nested too deeply"):
        compile_filter("!" * LIMIT, None)
    assert compile_filter("!" * (MAX_DEPTH - 2) + "a", LIMIT)


def test_an_exponential_expression_hits_the_step_budget_quickly():
    doubling = "[@,@][] | " * 14 + "length(@)"
    compiled = compile_filter(doubling, LIMIT)
    began = time.perf_counter()
    with pytest.raises(FilterEvaluationError, match="budget"):
        compiled.matches({"a": 1})
    assert time.perf_counter() - began < 0.5
    # Without the budget the same expression builds a list of 2**14 elements.
    assert len(filters.jmespath.search("[@,@][] | " * 14 + "@", 1)) == 2**14


def test_a_type_error_on_one_event_raises_for_that_event_only():
    compiled = compile_filter("length(size) > `2`", LIMIT)
    assert compiled.matches({"size": "abcd"})
    with pytest.raises(FilterEvaluationError):
        compiled.matches({"size": 5})
    assert not compiled.matches({"size": "a"})


TRICKY = ["`0`", "`{}`", "`[]`", '`""`', "`false`", "`true`", "`null`", "`1`", "'a'", "`[0]`"]
SHAPES = [
    "{0} && 'y'",
    "{0} || 'y'",
    "!{0}",
    "{0} == `0`",
    "{0} != `false`",
    "{0} < `1`",
    "{0} >= 'a'",
    "a.{0}",
    "length({0})",
    "not_null({0}, 'z')",
]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("value", TRICKY)
def test_compiled_closures_agree_with_jmespath_on_tricky_values(shape, value):
    text = shape.format(value)
    try:
        compiled = compile_filter(text, LIMIT)
    except InvalidFilterError:
        with pytest.raises(JMESPathError):
            jmespath.compile(text)
        return
    event = {"a": {"`0`": 1}}
    try:
        reference: object = jmespath.search(text, event)
    except (JMESPathError, TypeError):
        with pytest.raises(FilterEvaluationError):
            compiled.evaluate(event)
        return
    assert _json(compiled.evaluate(event)) == _json(reference)


def test_truthiness_is_jmespath_s():
    compiled = compile_filter("x", LIMIT)
    assert [compiled.matches({"x": v}) for v in (0, "a", [1], {"a": 1}, True)] == [True] * 5
    assert [compiled.matches({"x": v}) for v in (None, False, "", [], {})] == [False] * 5


# --- fuzz: random text and random near-valid expressions --------------------------------------

SAMPLES = [
    dict(event, _kafka={"topic": "t", "partition": n % 2, "offset": n, "key": None})
    for n, event in enumerate(make_events(20, seed=5))
]
FUZZ_COUNT = {"n": 0}


@settings(
    max_examples=2000,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(text=expressions)
def test_fuzzed_expressions_parse_to_a_400_or_evaluate_within_budget(text):
    FUZZ_COUNT["n"] += 1
    try:
        compiled = compile_filter(text, LIMIT)
    except InvalidFilterError as error:
        assert error.status == 400
        assert "Traceback" not in error.message and "\n" not in error.message
        return
    for event in SAMPLES:
        began = time.perf_counter()
        try:
            ours: object = compiled.evaluate(event)
        except FilterEvaluationError as error:
            ours = error
        assert time.perf_counter() - began < 1.0
        if isinstance(ours, FilterEvaluationError) and "budget" in str(ours):
            continue  # beyond the budget: jmespath itself could take a long time here
        # The compiled closures agree with the reference interpreter, errors included.
        try:
            reference: object = jmespath.search(text, event)
        except (JMESPathError, TypeError, ValueError) as error:
            reference = error
        if isinstance(reference, Exception):
            assert isinstance(ours, FilterEvaluationError), (text, reference, ours)
        else:
            # As JSON: in Python 1 == True, in JMESPath they differ.
            assert _json(ours) == _json(reference), (text, event)
            assert compiled.matches(event) in (True, False)
        if not compiled.sees_kafka_meta:
            # The pump leaves _kafka out for such expressions: it must make no difference.
            plain = {k: v for k, v in event.items() if k != "_kafka"}
            with contextlib.suppress(FilterEvaluationError):
                assert _json(compiled.evaluate(plain)) == _json(ours), text


def _json(value: object) -> str:
    return json.dumps(value, sort_keys=True, default=repr)


def test_the_fuzz_ran_2000_expressions():
    assert FUZZ_COUNT["n"] >= 2000


@pytest.mark.parametrize("text", ["``", "`foo`", "a == `bar`"])
def test_a_legacy_string_literal_compiles_as_jmespath_reads_it(text):
    """JMESPath still reads a backquoted literal that is not JSON as a string, with a
    PendingDeprecationWarning: the filter compiles, and the warning is not the client's."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        compiled = compile_filter(text, 100)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = jmespath.search(text, {"a": "bar"})
    assert compiled.evaluate({"a": "bar"}) == expected
