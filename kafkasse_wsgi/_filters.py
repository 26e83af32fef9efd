"""Declarative per-request filters: ``?filter=<JMESPath expression>``, safe to expose.

A client asks for less with a `JMESPath <https://jmespath.org/specification.html>`_
expression, evaluated on each event's JSON (``_kafka`` included); the event is sent when the
result is *truthy* in JMESPath's sense (not ``false``, ``null``, ``""``, ``[]`` or ``{}``).
JMESPath was chosen over CEL after measuring both on ~400-byte events (docs/performance.md):
it reads the decoded Python value as it is, where both CEL packages convert every event
first (4x and 50x slower), and it has no way to run code, define functions or loop.

Bounded cost, because the expression comes from anyone (:mod:`~kafkasse_wsgi._filter_budget`):

* at parse time: at most ``max_length`` characters, :data:`MAX_DEPTH` levels of nesting and
  :data:`~kafkasse_wsgi._filter_budget.MAX_COPIES` copies of a value; a bad expression is an
  :class:`~kafkasse_wsgi.errors.InvalidFilterError` (400) with the reason (and the position);
* per event: at most :data:`MAX_STEPS` evaluation steps, and values built (each charged its
  expanded size) of at most ``max(1 MiB, 16 x the event's size)``. An event on which the
  expression raises (a type error, a budget, no memory) is skipped and counted, never fatal;
* per stream: a greenlet that filters lets the others run every
  :data:`~kafkasse_wsgi._filter_budget.FILTER_SLICE_S` (:func:`take_turn`).

Compiled once per distinct expression per process (:func:`compile_filter` keeps the last
:data:`CACHE_SIZE`), and a compiled filter holds no per-stream state: streams that send the
same text share one :class:`EventFilter`, and its results (:meth:`EventFilter.known`): a
record one stream evaluated is not decoded or evaluated again by the others unless it
passed; the results of every expression together weigh at most :data:`SHARED_RESULTS_BYTES`.
Pure: no Kafka, no I/O.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import warnings
from collections.abc import Callable, Hashable
from typing import Any

import jmespath
from jmespath import exceptions as jmespath_errors
from jmespath.parser import ParsedResult
from jmespath.visitor import TreeInterpreter, _is_comparable

from ._filter_budget import (
    FILTER_SLICE_S,
    MAX_COPIES,
    MAX_STEPS,
    BudgetedInterpreter,
    BudgetExceeded,
    copies,
    take_turn,
)
from .errors import InvalidFilterError

__all__ = [
    "CACHE_SIZE",
    "FILTER_SLICE_S",
    "MAX_DEPTH",
    "MAX_STEPS",
    "SHARED_RESULTS",
    "SHARED_RESULTS_BYTES",
    "EventFilter",
    "FilterEvaluationError",
    "compile_filter",
    "take_turn",
]

log = logging.getLogger(__name__)

#: Deepest nesting of an expression's syntax tree (``a.b.c`` is 3, ``!(a || b)`` is 3):
#: evaluation recurses once per level.
MAX_DEPTH = 32
#: Distinct expressions kept compiled per process.
CACHE_SIZE = 256
#: Results per compiled expression shared between the streams of a process (a generation).
SHARED_RESULTS = 8192
#: What the shared results of every expression of a process may weigh together.
SHARED_RESULTS_BYTES = 16 << 20
#: What one shared result weighs: its key (a tuple of five, two of them new integers) and
#: its slot in a dict (measured: 186 bytes).
RESULT_BYTES = 200

_shared_results = 0  # results kept by every EventFilter of the process


class FilterEvaluationError(Exception):
    """The expression could not be evaluated on one event: that event is skipped."""


class EventFilter:
    """One compiled expression; :meth:`matches` decides for one decoded event.

    :param text: the expression as the client sent it (the cache key).
    """

    __slots__ = ("_evaluate", "_interpreter", "_older", "_results", "sees_kafka_meta", "text")

    def __init__(self, text: str, parsed: ParsedResult) -> None:
        self.text = text
        self._interpreter = BudgetedInterpreter()
        self._evaluate = _compile(parsed.parsed, self._interpreter)
        #: Whether the result can depend on the event's ``_kafka`` block: the expression
        #: names it, or looks at the whole event (``@``, ``*``). If not, the pump need not
        #: build the block for an event it may drop.
        self.sees_kafka_meta = _sees_kafka_meta(parsed.parsed)
        # Two generations: when the newer fills up, it becomes the older and the oldest
        # go at once (evicting one at a time from a dict's front is slow in CPython).
        self._results: dict[Hashable, bool] = {}
        self._older: dict[Hashable, bool] = {}

    def evaluate(self, event: Any, event_bytes: int | None = None) -> Any:
        """The expression's value on ``event``, exactly as ``jmespath.search`` gives it.

        :param event_bytes: the length of the event's JSON text, which sets the byte budget
            (without it, the event is weighed when the expression first builds a value).
        :raises FilterEvaluationError: the expression raised on this event, or passed its
            budget of steps or bytes.
        """
        interpreter = self._interpreter
        interpreter.start(event, event_bytes)
        try:
            return self._evaluate(event)
        except BudgetExceeded as exc:
            raise FilterEvaluationError(str(exc)) from None
        except MemoryError:
            raise FilterEvaluationError("out of memory") from None
        except (
            jmespath_errors.JMESPathError,
            TypeError,
            ValueError,
            RecursionError,
            OverflowError,
        ) as exc:
            raise FilterEvaluationError(f"{type(exc).__name__}: {exc}") from None
        finally:
            interpreter.finish()

    def known(self, record_key: Hashable) -> bool | None:
        """The result another stream of this process already got for the same record.

        :param record_key: what identifies a record and the event made of it (the pump
            uses cluster, topic, partition, offset and timestamp, and shares only where the
            event is a function of the record alone: the default deserializer, no hooks).
        """
        known = self._results.get(record_key)
        return known if known is not None else self._older.get(record_key)

    def remember(self, record_key: Hashable, passed: bool) -> None:
        """Keep a result for the other streams reading the same record (the last
        :data:`SHARED_RESULTS` to twice that: streams at the live tail read each record
        moments apart), while the process's results weigh less than
        :data:`SHARED_RESULTS_BYTES`: past it, this expression lets its oldest go first, and
        keeps nothing more if that is not enough."""
        global _shared_results
        results = self._results
        if record_key not in results:
            if (_shared_results + 1) * RESULT_BYTES > SHARED_RESULTS_BYTES:
                self._next_generation()
                if (_shared_results + 1) * RESULT_BYTES > SHARED_RESULTS_BYTES:
                    return
                results = self._results
            _shared_results += 1
        results[record_key] = passed
        if len(results) >= SHARED_RESULTS:
            self._next_generation()

    def _next_generation(self) -> None:
        global _shared_results
        _shared_results -= len(self._older)
        self._older, self._results = self._results, {}

    def __del__(self) -> None:
        global _shared_results
        with contextlib.suppress(Exception):  # also at interpreter exit
            _shared_results -= len(self._results) + len(self._older)

    def matches(self, event: Any, event_bytes: int | None = None) -> bool:
        """Whether ``event`` (a decoded JSON value) passes: the result is truthy.

        Never yields to other greenlets, so the shared interpreter is used by one
        evaluation at a time.

        :param event_bytes: the length of its JSON text, if known (see :meth:`evaluate`).
        :raises FilterEvaluationError: the expression raised on this event.
        """
        return _truthy(self.evaluate(event, event_bytes))

    def __repr__(self) -> str:
        return f"EventFilter({self.text!r})"


def _truthy(value: Any) -> bool:
    """JMESPath's truth: false, null, empty string, list and object are false; 0 is true."""
    if value is None or value is False:
        return False
    if isinstance(value, (str, list, dict)):
        return len(value) > 0
    return True


Evaluator = Callable[[Any], Any]


def _compile(node: dict[str, Any], interpreter: BudgetedInterpreter) -> Evaluator:
    """The tree as nested closures: 5-10x faster than visiting it, same semantics.

    The nodes a filter is mostly made of (fields, comparisons, and/or/not, literals,
    function calls) become closures that do what :class:`TreeInterpreter` does for them,
    with no dispatch. The others (projections, flattens, filters, pipes, slices, …) are
    evaluated by the budgeted interpreter: only they can visit more than a node once, so the
    step budget still bounds every evaluation; function results and comparisons of lists
    and objects are charged to the byte budget here as there. A differential fuzz test
    holds the closures to ``jmespath.search``.
    """
    kind = node["type"]
    children = node.get("children", [])
    if kind == "field":
        name = node["value"]
        return lambda value: value.get(name) if isinstance(value, dict) else None
    if kind == "literal":
        constant = node["value"]
        return lambda value: constant
    if kind == "current":
        return lambda value: value
    if kind == "subexpression":
        steps = [_compile(child, interpreter) for child in children]

        def chain(value: Any) -> Any:
            for step in steps:
                value = step(value)
            return value

        return chain
    if kind == "comparator":
        left, right = (_compile(child, interpreter) for child in children)
        compare = TreeInterpreter.COMPARATOR_FUNC[node["value"]]
        if node["value"] in TreeInterpreter._EQUALITY_OPS:
            charge = interpreter.charge_comparison

            def equality(value: Any) -> Any:
                a, b = left(value), right(value)
                charge(a, b)
                return compare(a, b)

            return equality

        def ordering(value: Any) -> Any:
            # As the interpreter: ordering is for numbers and strings, else null.
            a, b = left(value), right(value)
            if not (_is_comparable(a) and _is_comparable(b)):
                return None
            return compare(a, b)

        return ordering
    if kind == "and_expression":
        first, second = (_compile(child, interpreter) for child in children)

        def both(value: Any) -> Any:
            matched = first(value)
            return second(value) if _truthy(matched) else matched

        return both
    if kind == "or_expression":
        first, second = (_compile(child, interpreter) for child in children)

        def either(value: Any) -> Any:
            matched = first(value)
            return matched if _truthy(matched) else second(value)

        return either
    if kind == "not_expression":
        operand = _compile(children[0], interpreter)

        def negation(value: Any) -> Any:
            return not _truthy(operand(value))  # !0 is false: 0 is not special in JMESPath

        return negation
    if kind == "function_expression" and all(c["type"] != "expref" for c in children):
        arguments = [_compile(child, interpreter) for child in children]
        name = node["value"]
        call = interpreter._functions.call_function
        charge_result = interpreter.charge
        return lambda value: charge_result(call(name, [argument(value) for argument in arguments]))
    return lambda value: interpreter.visit(node, value)


def _sees_kafka_meta(tree: dict[str, Any]) -> bool:
    stack = [tree]
    while stack:
        node = stack.pop()
        kind = node.get("type")
        if kind in ("current", "value_projection") or (
            kind == "field" and node.get("value") == "_kafka"
        ):
            return True
        stack.extend(c for c in node.get("children", ()) if isinstance(c, dict))
    return False


_cache: collections.OrderedDict[str, EventFilter] = collections.OrderedDict()


def compile_filter(text: str, max_length: int | None) -> EventFilter:
    """The compiled form of ``text``, shared by every stream of the process that sends it.

    :param max_length: the longest expression accepted (the ``max_filter_length`` option).
    :raises InvalidFilterError: too long, too deep, or not JMESPath (with the position).
    """
    if max_length is not None and len(text) > max_length:
        raise InvalidFilterError(
            f"filter is too long ({len(text)} characters, at most {max_length})",
            position=max_length,
        )
    compiled = _cache.get(text)
    if compiled is not None:
        _cache.move_to_end(text)
        return compiled
    compiled = EventFilter(text, _parse(text))
    _cache[text] = compiled
    if len(_cache) > CACHE_SIZE:
        _cache.popitem(last=False)
    return compiled


def _parse(text: str) -> ParsedResult:
    if not text.strip():
        raise InvalidFilterError("filter is empty", position=0)
    try:
        with warnings.catch_warnings():
            # A backquoted literal that is not JSON is still read as a string; the
            # deprecation is the expression's author's business, not the server's log's.
            warnings.simplefilter("ignore", PendingDeprecationWarning)
            parsed = jmespath.compile(text)
    except jmespath_errors.JMESPathError as exc:
        position = getattr(exc, "lex_position", None)
        first_line = str(exc).split("\n", 1)[0].rstrip(": ")
        # "Invalid jmespath expression: Incomplete expression" → the part after the colon.
        reason = first_line.split(": ", 1)[-1] if ": " in first_line else first_line
        raise InvalidFilterError(
            f"filter is not a valid JMESPath expression: {reason}"
            + (f" at position {position}" if isinstance(position, int) else ""),
            position=position if isinstance(position, int) else None,
        ) from None
    except (RecursionError, ValueError, TypeError) as exc:
        # Deeply nested input exhausts the parser's recursion; literals go through json.
        raise InvalidFilterError(
            f"filter is nested too deeply to parse ({type(exc).__name__})", position=None
        ) from None
    depth = _depth(parsed.parsed)
    if depth > MAX_DEPTH:
        raise InvalidFilterError(
            f"filter is nested too deeply ({depth} levels, at most {MAX_DEPTH})", position=None
        )
    made = copies(parsed.parsed)
    if made > MAX_COPIES:
        raise InvalidFilterError(
            f"filter makes too many copies of a value ({made}, at most {MAX_COPIES})",
            position=None,
        )
    return parsed


def _depth(tree: dict[str, Any]) -> int:
    """The depth of a parsed tree, without recursion (the tree may be deep)."""
    deepest = 0
    stack = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        for child in node.get("children", ()):
            if isinstance(child, dict) and "type" in child:
                stack.append((child, depth + 1))
    return deepest
