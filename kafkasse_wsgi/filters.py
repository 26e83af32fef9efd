"""Declarative per-request filters: ``?filter=<JMESPath expression>``, safe to expose.

A client asks for less with a `JMESPath <https://jmespath.org/specification.html>`_
expression, evaluated on each event's JSON (``_kafka`` included); the event is sent when the
result is *truthy* in JMESPath's sense (not ``false``, ``null``, ``""``, ``[]`` or ``{}``).
JMESPath was chosen over CEL after measuring both on ~400-byte events (docs/performance.md):
it reads the decoded Python value as it is, where both CEL packages convert every event
first (4x and 50x slower), and it has no way to run code, define functions or loop.

Bounded cost, because the expression comes from anyone:

* at parse time: at most ``max_length`` characters and :data:`MAX_DEPTH` levels of nesting;
  a bad expression is an :class:`~kafkasse_wsgi.errors.InvalidFilterError` (400) with the
  parser's message and the position;
* per event: at most :data:`MAX_STEPS` evaluation steps (each node visited and each element
  a flatten copies counts), so no expression builds an exponential list. An event on which
  the expression raises (a type error, the budget) is skipped and counted, never fatal.

Compiled once per distinct expression per process (:func:`compile_filter` keeps the last
:data:`CACHE_SIZE`), and a compiled filter holds no per-stream state: streams that send the
same text share one :class:`EventFilter`, and its results (:meth:`EventFilter.known`): a
record one stream evaluated is not decoded or evaluated again by the others unless it
passed. Pure: no Kafka, no I/O.
"""

from __future__ import annotations

import collections
import logging
from collections.abc import Callable, Hashable
from typing import Any

import jmespath
from jmespath import exceptions as jmespath_errors
from jmespath.parser import ParsedResult
from jmespath.visitor import Options as JMESPathOptions
from jmespath.visitor import TreeInterpreter, _is_actual_number, _is_comparable

from .errors import InvalidFilterError

__all__ = [
    "CACHE_SIZE",
    "MAX_DEPTH",
    "MAX_STEPS",
    "SHARED_RESULTS",
    "EventFilter",
    "FilterEvaluationError",
    "compile_filter",
]

log = logging.getLogger(__name__)

#: Deepest nesting of an expression's syntax tree (``a.b.c`` is 3, ``!(a || b)`` is 3):
#: evaluation recurses once per level.
MAX_DEPTH = 32
#: Evaluation steps one event may take; far above any sensible filter (``a.b == 'x'`` takes
#: 4, a projection over a 50-element list about 100), far below a noticeable pause (~5 ms).
MAX_STEPS = 10_000
#: Distinct expressions kept compiled per process.
CACHE_SIZE = 256
#: Results per compiled expression shared between the streams of a process.
SHARED_RESULTS = 8192


class FilterEvaluationError(Exception):
    """The expression could not be evaluated on one event: that event is skipped."""


class _BudgetExceeded(FilterEvaluationError):
    pass


class _BudgetedInterpreter(TreeInterpreter):
    """JMESPath's interpreter with a step budget per evaluation.

    Node visits cover projections and filters (one visit per element); a flatten copies
    elements without visiting them, so it is charged per element too: ``[@,@][]`` piped into
    itself doubles a list with a constant number of visits.
    """

    def __init__(self) -> None:
        super().__init__(JMESPathOptions())
        self.steps_left = MAX_STEPS

    def visit(self, node: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        self.steps_left -= 1
        if self.steps_left < 0:
            raise _BudgetExceeded(f"more than {MAX_STEPS} evaluation steps")
        return super().visit(node, *args, **kwargs)

    def visit_flatten(self, node: dict[str, Any], value: Any) -> Any:
        merged = super().visit_flatten(node, value)
        if merged:
            self.steps_left -= len(merged)
            if self.steps_left < 0:
                raise _BudgetExceeded(f"more than {MAX_STEPS} evaluation steps")
        return merged


class EventFilter:
    """One compiled expression; :meth:`matches` decides for one decoded event.

    :param text: the expression as the client sent it (the cache key).
    """

    __slots__ = ("_evaluate", "_interpreter", "_older", "_results", "sees_kafka_meta", "text")

    def __init__(self, text: str, parsed: ParsedResult) -> None:
        self.text = text
        self._interpreter = _BudgetedInterpreter()
        self._evaluate = _compile(parsed.parsed, self._interpreter)
        #: Whether the result can depend on the event's ``_kafka`` block: the expression
        #: names it, or looks at the whole event (``@``, ``*``). If not, the pump need not
        #: build the block for an event it may drop.
        self.sees_kafka_meta = _sees_kafka_meta(parsed.parsed)
        # Two generations: when the newer fills up, it becomes the older and the oldest
        # go at once (evicting one at a time from a dict's front is slow in CPython).
        self._results: dict[Hashable, bool] = {}
        self._older: dict[Hashable, bool] = {}

    def evaluate(self, event: Any) -> Any:
        """The expression's value on ``event``, exactly as ``jmespath.search`` gives it.

        :raises FilterEvaluationError: the expression raised on this event.
        """
        self._interpreter.steps_left = MAX_STEPS
        try:
            return self._evaluate(event)
        except FilterEvaluationError:
            raise
        except (jmespath_errors.JMESPathError, TypeError, ValueError, RecursionError) as exc:
            raise FilterEvaluationError(f"{type(exc).__name__}: {exc}") from None

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
        moments apart)."""
        results = self._results
        results[record_key] = passed
        if len(results) >= SHARED_RESULTS:
            self._older, self._results = results, {}

    def matches(self, event: Any) -> bool:
        """Whether ``event`` (a decoded JSON value) passes: the result is truthy.

        Never yields to other greenlets, so the shared interpreter is used by one
        evaluation at a time.

        :raises FilterEvaluationError: the expression raised on this event.
        """
        return _truthy(self.evaluate(event))

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


def _compile(node: dict[str, Any], interpreter: _BudgetedInterpreter) -> Evaluator:
    """The tree as nested closures: 5-10x faster than visiting it, same semantics.

    The nodes a filter is mostly made of (fields, comparisons, and/or/not, literals,
    function calls) become closures that do what :class:`TreeInterpreter` does for them,
    with no dispatch. The others (projections, flattens, filters, pipes, slices, …) are
    evaluated by the step-budgeted interpreter: only they can visit more than a node once,
    so the budget still bounds every evaluation. A differential fuzz test holds the closures
    to ``jmespath.search``.
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
            return lambda value: compare(left(value), right(value))

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
            return matched if _is_false(matched) else second(value)

        return both
    if kind == "or_expression":
        first, second = (_compile(child, interpreter) for child in children)

        def either(value: Any) -> Any:
            matched = first(value)
            return second(value) if _is_false(matched) else matched

        return either
    if kind == "not_expression":
        operand = _compile(children[0], interpreter)

        def negation(value: Any) -> Any:
            result = operand(value)
            if _is_actual_number(result) and result == 0:
                return False  # !0 is false: 0 is not special in JMESPath
            return not result

        return negation
    if kind == "function_expression" and all(c["type"] != "expref" for c in children):
        arguments = [_compile(child, interpreter) for child in children]
        name = node["value"]
        call = interpreter._functions.call_function
        return lambda value: call(name, [argument(value) for argument in arguments])
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


def _is_false(value: Any) -> bool:
    """JMESPath's falsehood, as the interpreter's ``_is_false`` (``0`` is true)."""
    return value == "" or value == [] or value == {} or value is None or value is False


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
