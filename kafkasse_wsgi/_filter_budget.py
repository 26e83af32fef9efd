"""What evaluating one ``?filter=`` may cost, since the expression comes from anyone.

Counting nodes is not enough: ``[@,@,@,@,@,@,@,@] | to_string(@)`` visits a handful of nodes
and writes out eight copies of its input; eight such stages make gigabytes from one event.
So, per evaluation:

* **steps**: at most :data:`MAX_STEPS` nodes visited (and elements a flatten copies);
* **bytes**: every value a node builds (multi-selects, projections, flattens, slices,
  function results) is charged its size, *expanded*: a list holding the same value eight
  times weighs eight of it, because that is what writing it out or comparing it costs.
  Comparing two lists or objects is charged too. Together they may not pass
  :func:`budget_bytes` of the event (so no one value can either). ``to_string`` and
  ``join`` are checked before they allocate. Past either budget the event is dropped.

At parse time, :func:`copies` refuses what must pass the budget on any event (an
expression that makes more than :data:`MAX_COPIES` copies of a value). Between events,
:func:`take_turn` lets the other greenlets of the process run every :data:`FILTER_SLICE_S`.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import Any

import gevent
from jmespath import functions as jmespath_functions
from jmespath.visitor import Options as JMESPathOptions
from jmespath.visitor import TreeInterpreter

#: Evaluation steps one event may take; far above any sensible filter (``a.b == 'x'`` takes
#: 4, a projection over a 50-element list about 100), far below a noticeable pause (~5 ms).
MAX_STEPS = 10_000
#: Bytes of values one evaluation may build, at least (small events) ...
BUDGET_FLOOR_BYTES = 1 << 20
#: ... and per byte of the event's JSON (``to_string(@)`` on any event fits).
BUDGET_BYTES_PER_EVENT_BYTE = 16
#: An expression that can make more copies of a value than this is refused at parse time:
#: each copy weighs at least 16 bytes, so it passes the budget on any event.
MAX_COPIES = BUDGET_FLOOR_BYTES // 16
#: Seconds one greenlet filters before it lets the others of the process run.
FILTER_SLICE_S = 0.01
#: How it lets them run: a timer, not ``sleep(0)``. gevent runs queued callbacks (up to 50
#: before it looks at the clock) before it polls sockets, so greenlets that take turns by
#: ``sleep(0)`` starve the ones waiting for I/O: the hub's fetches, the clients' writes.
_PAUSE_S = 0.001

# What values weigh, roughly as CPython holds them, never less than their JSON text.
_SCALAR_BYTES = 32
_CONTAINER_BYTES = 64
_LIST_SLOT_BYTES = 8
_DICT_ENTRY_BYTES = 48
_STRING_BYTES = 50
#: Characters of JSON one character of a string may become (``\ud83c\udf89``).
_WORST_ESCAPE = 12
#: What a decoded event weighs per byte of its JSON, about (8 to 10 for objects of short
#: fields; 1 to 4 for long strings).
_WEIGHT_PER_JSON_BYTE = 8


def budget_bytes(event_bytes: int) -> int:
    """The bytes of values one evaluation may build on an event of ``event_bytes``."""
    return max(BUDGET_FLOOR_BYTES, BUDGET_BYTES_PER_EVENT_BYTE * event_bytes)


class BudgetExceeded(Exception):
    """One evaluation passed its steps or bytes."""


def string_bytes(text: str) -> int:
    """A string's weight: its memory and, at least, its length written as JSON."""
    if text.isascii() and text.isprintable():
        return _STRING_BYTES + len(text) + text.count('"') + text.count("\\")
    return _STRING_BYTES + _WORST_ESCAPE * len(text)


def weigh(value: Any, memo: dict[int, tuple[int, Any]]) -> int:
    """The expanded weight of ``value``: shared parts count once per place they appear.

    ``memo`` keeps each container's weight (and the container, so that its id is not
    reused while the memo lives): a value built from weighed parts costs its own length.
    No recursion: an event may be nested deeper than Python's stack.
    """
    kind = type(value)
    if kind is str:
        return string_bytes(value)
    if kind is not list and kind is not dict:
        return _SCALAR_BYTES
    known = memo.get(id(value))
    if known is not None:
        return known[0]
    stack: list[tuple[Any, bool]] = [(value, False)]
    while stack:
        node, ready = stack.pop()
        if id(node) in memo:
            continue
        items = node if type(node) is list else node.values()
        if not ready:
            stack.append((node, True))
            stack.extend(
                (item, False)
                for item in items
                if (type(item) is list or type(item) is dict) and id(item) not in memo
            )
            continue
        total = _CONTAINER_BYTES
        for item in items:
            kind = type(item)
            if kind is list or kind is dict:
                total += memo[id(item)][0]
            elif kind is str:
                total += string_bytes(item)
            else:
                total += _SCALAR_BYTES
        if type(node) is dict:
            total += sum(_DICT_ENTRY_BYTES + string_bytes(key) for key in node)
        else:
            total += _LIST_SLOT_BYTES * len(node)
        memo[id(node)] = (total, node)
    return memo[id(value)][0]


class BudgetedInterpreter(TreeInterpreter):
    """JMESPath's interpreter with a step and a byte budget per evaluation.

    One per compiled expression; evaluations never yield, so one runs at a time.
    """

    #: Nodes whose value is new: charged its expanded weight.
    BUILDERS = frozenset(
        {
            "multi_select_list",
            "multi_select_dict",
            "projection",
            "value_projection",
            "filter_projection",
            "flatten",
            "slice",
            "function_expression",
        }
    )

    def __init__(self) -> None:
        super().__init__(JMESPathOptions(custom_functions=_BoundedFunctions(self)))
        self.steps_left = MAX_STEPS
        self.bytes_left: int | None = None
        self._event: Any = None
        self._event_bytes: int | None = None
        self._memo: dict[int, tuple[int, Any]] = {}

    def start(self, event: Any, event_bytes: int | None) -> None:
        """A new evaluation; the byte budget is set at the first charge (most filters
        build nothing, and then never weigh the event)."""
        self.steps_left = MAX_STEPS
        self.bytes_left = None
        self._event = event
        self._event_bytes = event_bytes

    def finish(self) -> None:
        """Let go of the event and of what the evaluation built."""
        self._event = None
        if self._memo:
            self._memo = {}

    def weigh(self, value: Any) -> int:
        return weigh(value, self._memo)

    def built(self, value: Any) -> int | None:
        """The weight of ``value`` if this evaluation built it (or weighed it), else ``None``:
        every list and object a node builds is weighed when it is charged."""
        known = self._memo.get(id(value))
        return known[0] if known is not None else None

    def room(self) -> int:
        """Bytes the evaluation may still build."""
        if self.bytes_left is None:
            size = self._event_bytes
            if size is None:  # no text (a user's deserializer made it): from its weight
                size = self.weigh(self._event) // _WEIGHT_PER_JSON_BYTE
            self.bytes_left = budget_bytes(size)
        return self.bytes_left

    def spend(self, cost: int) -> None:
        left = self.room() - cost
        self.bytes_left = left
        if left < 0:
            raise BudgetExceeded("the values it builds pass the filter's byte budget")

    def charge(self, value: Any) -> Any:
        """``value`` is new: count its weight; return it."""
        kind = type(value)
        if kind is str:
            self.spend(string_bytes(value))
        elif kind is list or kind is dict:
            self.spend(self.weigh(value))
        return value

    def charge_comparison(self, left: Any, right: Any) -> None:
        """Comparing two lists or two objects walks them: charge the smaller. Not when
        Python answers at once (the same object, different lengths)."""
        kind = type(left)
        if (
            (kind is list or kind is dict)
            and type(right) is kind
            and left is not right
            and len(left) == len(right)
        ):
            self.spend(min(self.weigh(left), self.weigh(right)))

    def visit(self, node: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        self.steps_left -= 1
        if self.steps_left < 0:
            raise BudgetExceeded(f"more than {MAX_STEPS} evaluation steps (the step budget)")
        result = super().visit(node, *args, **kwargs)
        if node["type"] in self.BUILDERS:
            self.charge(result)
        return result

    def visit_comparator(self, node: dict[str, Any], value: Any) -> Any:
        if node["value"] in self._EQUALITY_OPS:
            left = self.visit(node["children"][0], value)
            right = self.visit(node["children"][1], value)
            self.charge_comparison(left, right)
            return self.COMPARATOR_FUNC[node["value"]](left, right)
        return super().visit_comparator(node, value)

    def visit_flatten(self, node: dict[str, Any], value: Any) -> Any:
        # A flatten copies elements without visiting them: ``[@,@][]`` piped into itself
        # doubles a list with a constant number of visits.
        merged = super().visit_flatten(node, value)
        if merged:
            self.steps_left -= len(merged)
            if self.steps_left < 0:
                raise BudgetExceeded(f"more than {MAX_STEPS} evaluation steps (the step budget)")
        return merged


class _BoundedFunctions(jmespath_functions.Functions):
    """JMESPath's functions; the two whose result can outgrow their arguments' weight
    check it before they allocate it."""

    def __init__(self, interpreter: BudgetedInterpreter) -> None:
        self._interpreter = interpreter

    @jmespath_functions.signature({"types": []})
    def _func_to_string(self, arg: Any) -> Any:
        # Written out, a value is no longer than its expanded weight. Only what the
        # evaluation built can be longer than the event (a part of the event is at most 3x
        # its share of the event's text, escaped): its result is charged once made.
        built = self._interpreter.built(arg)
        if built is not None and built > self._interpreter.room():
            raise BudgetExceeded("to_string would pass the filter's byte budget")
        return super()._func_to_string(arg)

    @jmespath_functions.signature({"types": ["string"]}, {"types": ["array-string"]})
    def _func_join(self, separator: str, array: list[str]) -> str:
        if string_bytes(separator) * len(array) > self._interpreter.room():
            raise BudgetExceeded("join would pass the filter's byte budget")
        return str(super()._func_join(separator, array))


_APPLIES = frozenset(
    {"pipe", "subexpression", "projection", "value_projection", "index_expression"}
)


def copies(tree: dict[str, Any]) -> int:
    """The most copies of a value any part of ``tree`` can make.

    A multi-select makes as many as it has elements that do (``@`` does, a field does
    once); a pipe, a sub-expression or a projection applies its right side to each copy its
    left made; a function, its arguments' together. Others make one at most.
    """
    most = 1

    def walk(node: dict[str, Any]) -> int:
        nonlocal most
        kind = node.get("type")
        children = [c for c in node.get("children", ()) if isinstance(c, dict) and "type" in c]
        made = [walk(child) for child in children]
        if kind == "literal":
            count = 0
        elif kind in ("multi_select_list", "multi_select_dict"):
            count = sum(made)
        elif kind in _APPLIES or kind == "function_expression":
            count = 1
            for each in made:
                count *= max(each, 1)
        else:
            count = max(made, default=1)
        most = max(most, count)
        return count

    walk(tree)
    return most


_turn_ends = 0.0  # when the greenlet filtering now should let the others run


def take_turn(lend: Callable[[], contextlib.AbstractContextManager[Any]] | None = None) -> None:
    """Between two events: yield if the filtering greenlet has run for :data:`FILTER_SLICE_S`.

    One deadline for the process, not one per stream or per batch: a stream that filters
    batch after batch yields as often as one that filters a long batch, and a greenlet that
    resumes after others ran past the deadline filters one event, then yields again.

    :param lend: what to release while the others run (a pump's processing slot).
    """
    global _turn_ends
    if time.monotonic() < _turn_ends:
        return
    with lend() if lend is not None else contextlib.nullcontext():
        gevent.sleep(_PAUSE_S)
    _turn_ends = time.monotonic() + FILTER_SLICE_S
