"""Generated events for filter tests, and filters written twice: JMESPath and Python.

The events mimic wiki edits with the awkward parts of real JSON: nested objects, nulls,
missing fields, unicode, numbers sent as strings. Each ``ORACLES`` entry is an expression
and the same predicate in plain Python, the test's oracle.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from hypothesis import strategies as st

DOMAINS = ["en.wikipedia.org", "de.wikipedia.org", "ja.wikipedia.org", "commons.wikimedia.org"]
TITLES = ["Zürich", "東京", "Ελλάδα", "naïve café", "Emoji 🎉", "plain"]


def make_event(rng: random.Random, n: int) -> dict[str, Any]:
    event: dict[str, Any] = {
        "n": n,
        "meta": {"domain": rng.choice(DOMAINS), "dt": "2026-11-27T10:00:00Z"},
        "type": rng.choice(["edit", "new", "log", None]),
        "namespace": rng.choice([0, 1, 2, 4, 14]),
        "title": rng.choice(TITLES),
        "bot": rng.choice([True, False, False, None]),
        "length": {"old": rng.randint(0, 5000), "new": rng.randint(0, 5000)},
        # Numbers as strings, as some producers send them.
        "size": str(rng.randint(0, 3000)),
        "tags": rng.sample(["mobile", "visual", "revert", "bot-flag"], rng.randint(0, 3)),
    }
    if rng.random() < 0.2:
        event["meta"] = None  # a null where an object usually is
    if rng.random() < 0.1:
        del event["length"]
    if rng.random() < 0.1:
        event["size"] = rng.choice(["n/a", "", None])
    return event


def make_events(count: int, seed: int = 11) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    return [make_event(rng, n) for n in range(count)]


def _num(value: Any) -> float | None:
    """JMESPath's to_number: numbers as they are, numeric strings parsed, else null."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            try:
                return float(value)
            except ValueError:
                return None
    return None


def _get(event: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(event, dict):
            return None
        event = event.get(key)
    return event


#: (expression, oracle): the examples of docs/filtering.md and the awkward cases.
ORACLES: list[tuple[str, Callable[[dict[str, Any]], bool]]] = [
    (
        "meta.domain == 'en.wikipedia.org'",
        lambda e: _get(e, "meta", "domain") == "en.wikipedia.org",
    ),
    ("!bot", lambda e: not e.get("bot")),
    ("bot == `false`", lambda e: e.get("bot") is False),
    ("contains(`[0, 14]`, namespace)", lambda e: e.get("namespace") in (0, 14)),
    (
        "length.new > `4000`",
        lambda e: isinstance(_get(e, "length", "new"), int) and _get(e, "length", "new") > 4000,
    ),
    (
        "to_number(size) >= `2500`",
        lambda e: _num(e.get("size")) is not None and _num(e.get("size")) >= 2500,
    ),
    ("title == 'Zürich' || title == '東京'", lambda e: e.get("title") in ("Zürich", "東京")),
    ("contains(tags, 'revert')", lambda e: "revert" in e.get("tags", [])),
    ("type == null", lambda e: e.get("type") is None),
    ("_kafka.partition == `1`", lambda e: e["_kafka"]["partition"] == 1),
    (
        "meta.domain == 'de.wikipedia.org' && !bot && namespace == `0`",
        lambda e: (
            _get(e, "meta", "domain") == "de.wikipedia.org"
            and not e.get("bot")
            and e.get("namespace") == 0
        ),
    ),
]


# --- fuzz: random text and random near-valid expressions ---------------------------------

ATOMS = st.sampled_from(
    [
        "a",
        "meta.domain",
        "@",
        "`1`",
        "'x'",
        "`null`",
        "`[1,2]`",
        "tags[*]",
        "tags[]",
        "length(@)",
        "to_number(size)",
        "[@,@][]",
        "*",
        "a[?b]",
        '`{"a": 1}`',
        '"quoted"',
        # Values whose truth differs between Python and JMESPath, and the sample's fields.
        "`0`",
        "`{}`",
        "`[]`",
        '`""`',
        "`false`",
        "`true`",
        "namespace",
        "bot",
        "size",
        "length.new",
        "tags",
        "title",
        "type",
    ]
)
OPERATORS = st.sampled_from(
    [" == ", " != ", " < ", " >= ", " && ", " || ", " | ", ".", "[", "]", "(", ")", "!", ", "]
)
expressions = st.one_of(
    st.text(max_size=60),
    st.lists(st.one_of(ATOMS, OPERATORS), max_size=30).map("".join),
    st.recursive(
        ATOMS,
        lambda inner: st.one_of(
            st.tuples(inner, OPERATORS, inner).map("".join),
            inner.map(lambda e: f"!({e})"),
            inner.map(lambda e: f"[{e}, {e}][]"),
            st.tuples(st.sampled_from(["length", "sort", "max", "keys", "abs"]), inner).map(
                lambda p: f"{p[0]}({p[1]})"
            ),
        ),
        max_leaves=12,
    ),
)
