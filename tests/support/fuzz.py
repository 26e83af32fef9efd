"""Hostile-input fuzzing: symbolic request models, how they reach the app, what must come back.

Hypothesis draws *symbolic* requests (topics are keys such as ``"A"`` or ``"F"``, resolved
against a :class:`World` of real topics at run time, because strategies are built at import,
before any topic exists). A request renders to a WSGI environ (as a real server would build
it: path percent-decoded to latin-1, header bytes as latin-1) or to raw HTTP/1.1 bytes, and
carries an *oracle*: what the answer must be (a stream with exactly these start positions,
an error with this status, or "anything but a 5xx"), decided from what the client named —
never from the implementation.

Properties of every answer (:func:`check_answer`): a 200 stream or a 4xx JSON error, never a
5xx; no stack trace, broker address or Kafka setting anywhere; no CR, LF or NUL in a response
header; ``X-Request-ID`` echoed only when sane; every assigned partition in the whitelist.
"""

from __future__ import annotations

import dataclasses
import datetime
import functools
import itertools
import json
import re
import socket
import time
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qs, quote, unquote_to_bytes

from hypothesis import strategies as st

SSE_CONTENT_TYPE = "text/event-stream; charset=utf-8"
JSON_CONTENT_TYPE = "application/json; charset=utf-8"
#: Kafka's rule for topic names (1-249 of these characters, not "." or "..").
KAFKA_TOPIC = re.compile(r"[a-zA-Z0-9._-]{1,249}")
SANE_CHARS = "ABCXYZabcxyz0189._:@/+=-"
SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}")
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
ERROR_STATUS = {
    "InvalidAssignmentError": {400},
    "MethodNotAllowedError": {405},
    "TopicNotAvailableError": {404},
    "OffsetOutOfRangeError": {410},  # errors.ResumeOutOfRangeError.status
}
MAX_INT64 = 2**63 - 1
#: Last millisecond whose ISO form stays inside year 9999 under any UTC offset.
MAX_ISO_MS = 253_370_764_800_000
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
#: Message timestamps in the fuzz topics: BASE_TS + small offsets (see World).
BASE_TS = 1_700_000_000_000


# --- the world ---------------------------------------------------------------------------


@dataclasses.dataclass
class World:
    """The real topics behind the symbolic keys, and what they hold."""

    names: dict[str, str]  # key → real name: A, B, F, INTERNAL, OFFSETS, MISSING
    partitions: dict[str, int]  # real name → partition count (existing topics)
    timestamps: dict[tuple[str, int], list[int]]  # (topic, partition) → message timestamps
    bootstrap: str
    leak_markers: tuple[str, ...] = ()

    def name(self, key: str) -> str:
        return self.names.get(key, key)

    def end(self, topic: str, partition: int) -> int:
        return len(self.timestamps.get((topic, partition), []))


#: What the fuzz topics hold: per key, per partition, the message timestamps (offset = index).
CONTENT: dict[str, list[list[int]]] = {
    "A": [[BASE_TS + i for i in range(5)], [BASE_TS + 10 + i for i in range(3)]],
    "B": [[BASE_TS + 20, BASE_TS + 21]],
    "F": [[BASE_TS + 30]],
}


def expected_positions(
    world: World,
    wanted: Iterable[tuple[str, int | None, int | None, int | None]],
    since_ms: int | None,
) -> set[tuple[str, int, int]]:
    """Where each partition must start: explicit offset (past the end → the end, the
    default ``too_new`` policy) > own timestamp > ``since`` > the end offset."""
    out = set()
    for topic, partition, offset, timestamp in wanted:
        partitions = [partition] if partition is not None else list(range(world.partitions[topic]))
        for p in partitions:
            end = world.end(topic, p)
            if offset is not None:
                out.add((topic, p, min(offset, end)))
                continue
            moment = timestamp if timestamp is not None else since_ms
            if moment is None:
                out.add((topic, p, end))
                continue
            stamps = world.timestamps.get((topic, p), [])
            out.add((topic, p, next((i for i, ts in enumerate(stamps) if ts >= moment), end)))
    return out


# --- topic references --------------------------------------------------------------------

#: Characters that look like, or hide next to, the ASCII of a topic name.
LOOKALIKES = {
    "a": ["\u0430", "\uff41", "\u0251", "\u00e0"],
    "e": ["\u0435", "\uff45", "\u00e9"],
    "o": ["\u043e", "\u03bf", "\uff4f", "0"],
    "i": ["\u0456", "\u0131", "\uff49", "1", "l"],
    "s": ["\u0455", "\u017f", "\uff53"],
    "t": ["\uff54", "\u0442"],
    "l": ["\u04cf", "I", "1", "\uff4c"],
    "c": ["\u0441", "\uff43"],
    "-": ["\u2010", "\u2011", "\u2212", "\uff0d", "_"],
    "_": ["\uff3f", "-"],
    "h": ["\u04bb", "\uff48"],
    "f": ["\uff46"],
    "b": ["\uff42", "\u0184"],
    "k": ["\u212a", "\u043a"],
}
#: Control characters, separators, invisible characters and encoding tricks.
HOSTILE_CHARS = [
    "\x00",
    "\n",
    "\r",
    "\r\n",
    "\t",
    " ",
    "\x0b",
    "\x0c",
    "\x1f",
    "\x7f",
    "\x85",
    "\xa0",
    "\u2028",
    "\u200b",
    "\ufeff",
    "\u202e",
    "\u0301",
    ",",
    "/",
    "\\",
    "%",
    "?",
    "#",
    "*",
    ":",
    ";",
    '"',
    "'",
    "..",
    "\ud800",
]
SYMBOLIC_KEYS = ["A", "B", "F", "INTERNAL", "OFFSETS", "MISSING", ".", "..", ""]
VARIANTS = [
    "plain",
    "pct_all",
    "pct_some",
    "upper",
    "lookalike",
    "insert",
    "double_pct",
    "truncate",
    "extend",
]


@dataclasses.dataclass(frozen=True)
class TopicRef:
    """A topic as the client spells it: a key, and a way of disguising it."""

    key: str
    variant: str = "plain"
    seed: int = 0
    char: str = ""

    def effective(self, world: World) -> str:
        """The name the app sees after URL or JSON decoding (as str, before latin-1 trips)."""
        name = world.name(self.key)
        if self.variant == "upper":
            return name.upper() if name.upper() != name else name + "X"
        if self.variant == "lookalike":
            spots = [(i, c) for i, c in enumerate(name) if c in LOOKALIKES]
            if not spots:
                return name + "\u200b"
            i, c = spots[self.seed % len(spots)]
            options = LOOKALIKES[c]
            return name[:i] + options[(self.seed // 7) % len(options)] + name[i + 1 :]
        if self.variant == "insert":
            where = self.seed % 3
            if where == 0:
                return self.char + name
            if where == 1:
                return name + self.char
            middle = (self.seed // 3) % (len(name) + 1)
            return name[:middle] + self.char + name[middle:]
        if self.variant == "truncate":
            return name[:-1]
        if self.variant == "extend":
            return name + "x"
        if self.variant == "double_pct":
            return "%" + name[:1].encode().hex().upper() + name[1:] if name else "%25"
        return name  # plain, pct_all, pct_some: decode to the name itself

    def url(self, world: World) -> str:
        """The request-target spelling: ASCII only, every unsafe byte percent-encoded."""
        name = world.name(self.key)
        if self.variant == "pct_all":
            upper = self.seed % 2 == 0
            return "".join(f"%{b:02X}" if upper else f"%{b:02x}" for b in name.encode())
        if self.variant == "pct_some":
            raw = name.encode()
            return "".join(
                f"%{b:02X}" if (self.seed >> (i % 31)) & 1 else chr(b) for i, b in enumerate(raw)
            )
        if self.variant == "double_pct":
            return "%25" + name[:1].encode().hex().upper() + name[1:] if name else "%2525"
        return quote(self.effective(world).encode("utf-8", "surrogatepass"), safe="")


seeds = st.integers(0, 2**31 - 1)


@functools.cache
def _ref_pool(keys: tuple[str, ...], hostile: float) -> list[tuple[str, str, str]]:
    """(key, variant, char) choices, clean ones first (Hypothesis shrinks towards the
    front), repeated so that about ``hostile`` of the draws are disguised names."""
    clean = [(k, v, "") for k in keys for v in ("plain", "plain", "pct_all", "pct_some")]
    dirty = [(k, v, "") for k in keys for v in VARIANTS if v not in ("plain", "insert")]
    dirty += [(k, "insert", c) for k in keys for c in HOSTILE_CHARS]
    if hostile <= 0:
        return clean
    repeat = max(1, round(len(dirty) * (1 - hostile) / (hostile * len(clean))))
    return clean * repeat + dirty


def topic_refs(keys: list[str] | None = None, hostile: float = 0.5) -> st.SearchStrategy[TopicRef]:
    """Topic names as a client may spell them, in two draws."""
    return _topic_refs(tuple(keys or SYMBOLIC_KEYS), hostile)


@functools.cache
def _topic_refs(keys: tuple[str, ...], hostile: float) -> st.SearchStrategy[TopicRef]:
    # Cached: a new sampled_from over the pool would be re-labelled (O(pool)) on every draw.
    pool = _ref_pool(keys, hostile)
    return st.tuples(st.sampled_from(pool), seeds).map(
        lambda c: TopicRef(c[0][0], c[0][1], c[1], c[0][2])
    )


# --- classification of names (the oracle) --------------------------------------------------


def name_verdict(name: str, allowed: set[str], strip: bool) -> str:
    """What naming ``name`` must lead to. ``ok``: an allowed topic. ``400``: not a legal
    Kafka name. ``404``: legal, but missing, forbidden or internal. With ``strip`` (a place
    where the app may trim surrounding whitespace, or may refuse it): ``maybe`` (200 or 400)
    or ``refused`` (400 or 404)."""
    if name in allowed:
        return "ok"
    bare = name.strip()
    legal = bool(KAFKA_TOPIC.fullmatch(bare)) and bare not in (".", "..")
    verdict = "ok" if bare in allowed else ("404" if legal else "400")
    if bare == name or verdict == "400":
        return verdict
    if not strip:
        return "400"
    return "maybe" if verdict == "ok" else "refused"


#: Which statuses each verdict allows.
STATUSES = {
    "ok": {200},
    "400": {400},
    "404": {404},
    "405": {405},
    "204": {204},
    "maybe": {200, 400},
    "refused": {400, 404},
    "any": {200, 400, 404},
    "raw": {200, 204, 400, 404, 405},  # bytes the oracle does not model: any proper answer
}


def combine(verdicts: Iterable[str]) -> str:
    """Everything is parsed before Kafka is asked: any malformed part makes the request a
    400; else any unavailable topic a 404. ``maybe`` parts are 200 or 400, ``any`` parts
    (junk whose meaning the oracle does not know) anything but a 5xx."""
    found = set(verdicts)
    if "400" in found:
        return "400"
    if "any" in found:
        return "any"
    refused = bool(found & {"404", "refused"})
    if "maybe" in found:
        return "refused" if refused else "maybe"
    if "refused" in found:
        return "refused"
    if "404" in found:
        return "404"
    return "ok"


# --- since ---------------------------------------------------------------------------------

BAD_SINCE = [
    "-1",
    "-0",
    str(2**63),
    "9" * 20,
    "1.5",
    "1e3",
    "0x10",
    "yesterday",
    "now",
    "NaN",
    "inf",
    "null",
    "true",
    "[]",
    "{}",
    "Z",
    "2026-13-01",
    "2026-02-30T00:00:00Z",
    "2026-01-01T25:00:00Z",
    "2026-01-01T00:00:00+25:00",
    "1969-12-31T23:59:59Z",
    "1969-12-31T23:59:59.999999Z",
    "0001-01-01",
    "1970-01-01T00:00:00+00:01",
    "\u0661\u0662\u0663",
    "\u0662\u0660\u0662\u0666-01-01",
    "\uff12\uff10\uff12\uff16-01-01",
    "12\x003",
    "2026-01-01\x00",
    "1_000",
    "+5",
    "\u00b9\u00b2",
]


@dataclasses.dataclass(frozen=True)
class Since:
    """``?since=``: absent, empty, a known millisecond in some spelling, known-bad, or junk."""

    kind: str  # none | empty | ms | bad | junk
    ms: int = 0
    text: str = ""

    def verdict(self) -> str:
        return {"none": "ok", "empty": "ok", "ms": "ok", "bad": "400", "junk": "maybe"}[self.kind]

    def value(self) -> int | None:
        return self.ms if self.kind == "ms" else None


def iso_of(ms: int, style: int) -> str:
    moment = EPOCH + datetime.timedelta(milliseconds=ms)
    spec = "milliseconds" if style % 2 else "microseconds"
    if style % 5 == 0 and ms % 1000 == 0:
        spec = "seconds"
    if style % 3 == 0:
        text = moment.isoformat(timespec=spec)
        return text.replace("+00:00", "Z" if style % 4 else "z")
    if style % 3 == 1:
        return moment.replace(tzinfo=None).isoformat(timespec=spec)  # naive means UTC
    minutes = (style * 37) % (14 * 60) * (1 if style % 4 else -1)
    zone = datetime.timezone(datetime.timedelta(minutes=minutes))
    return moment.astimezone(zone).isoformat(timespec=spec)


@st.composite
def since_values(draw: Any) -> Since:
    kind = draw(st.sampled_from(["none"] * 4 + ["empty", "ms", "ms", "ms", "bad", "junk"]))
    if kind in ("none", "empty"):
        return Since(kind)
    if kind == "bad":
        return Since("bad", text=draw(st.sampled_from(BAD_SINCE)))
    if kind == "junk":
        return Since("junk", text=draw(st.text(max_size=12)))
    near = st.integers(BASE_TS - 3, BASE_TS + 35)
    if draw(st.booleans()):
        ms = draw(st.one_of(near, st.integers(0, MAX_INT64), st.sampled_from([0, MAX_INT64])))
        pad = draw(st.sampled_from(["", "", "", " ", "\t"]))
        return Since("ms", ms, pad + str(ms) + pad)
    ms = draw(st.one_of(near, st.integers(0, MAX_ISO_MS)))
    return Since("ms", ms, iso_of(ms, draw(st.integers(0, 59))))


NOISE_PAIRS = [
    ("foo", "bar"),
    ("", ""),
    ("%zz", "%"),
    ("a", "%00"),
    ("since_", "1"),
    ("Since", "x"),
    ("SINCE", "-1"),
    ("since[]", "5"),
    ("x", "%E2%80%AE"),
    ("%C0%AF", "%FF"),
    ("topic", "__consumer_offsets"),
    ("allowed_topics", "*"),
]


#: Noise around ``since``: nothing (first: shrinks there), one pair, or a few.
NOISE = [(), (), (), *((pair,) for pair in NOISE_PAIRS), *itertools.pairwise(NOISE_PAIRS)]
NOISE += [(NOISE_PAIRS[i], NOISE_PAIRS[-i], NOISE_PAIRS[i // 2]) for i in range(1, 6)]


@dataclasses.dataclass(frozen=True)
class Query:
    since: Since
    noise: tuple[tuple[str, str], ...] = ()
    duplicate: str | None = None  # an earlier ``since`` the last one overrides
    raw_plus: bool = False

    def render(self) -> str:
        pairs = [f"{k}={v}" if v or k else "" for k, v in self.noise]
        if self.duplicate is not None:
            pairs.insert(0, "since=" + quote(self.duplicate, safe=""))
        if self.since.kind != "none":
            text = self.since.text
            encoded = (
                quote(text, safe="+:") if self.raw_plus else quote(text.encode("utf-8"), safe="")
            )
            pairs.append("since=" + encoded)
        return "&".join(pairs)

    def verdict(self) -> str:
        if self.duplicate is not None or (self.raw_plus and "+" in self.since.text):
            # Which of two values counts, or what a raw "+" (a space) does to a date, is
            # not the contract's business: valid or 400.
            return "maybe"
        return self.since.verdict()

    def since_ms(self) -> int | None:
        """The timestamp the app must use, read back the way any URL parser would."""
        values = parse_qs(self.render(), keep_blank_values=True).get("since")
        if self.since.kind == "ms":
            assert values and values[-1].strip() == self.since.text.strip(), values
        return self.since.value()


queries = st.builds(
    Query,
    since_values(),
    st.sampled_from(NOISE),
    st.one_of(st.none(), st.none(), st.none(), st.sampled_from(["1", "-1", "x", ""])),
    st.booleans(),
)


# --- Last-Event-ID -------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class LastEventId:
    """A Last-Event-ID header: JSON of symbolic ``items`` (or ``raw`` text), with the
    oracle for its structure in ``status`` (``ok``, ``400``, ``404`` or ``any``)."""

    items: tuple[Any, ...] = ()
    raw: str | None = None
    status: str = "ok"
    ascii_only: bool = True
    wrap: str = ""

    def header(self, world: World) -> str:
        if self.raw is not None:
            return self.raw
        value = [_item_json(item, world) for item in self.items]
        text = json.dumps(value, ensure_ascii=self.ascii_only)
        return {"": text, "sp": f" {text} ", "nl": text + "\n", "crlf": text + "\r\n"}.get(
            self.wrap, self.wrap + text
        )

    def verdict(self, world: World, allowed: set[str], within: set[str] | None = None) -> str:
        """``within``: the topics the application asked for (an id naming another topic
        or partition is a 400); ``None`` when the items *are* the application's request."""
        verdicts = [self.status]
        for item in self.items:
            verdicts.extend(_item_verdicts(item, world, allowed, within))
        if sum(item[0] in ("ref", "refobj") for item in self.items) > 1:
            # Two references to the same unavailable topic may clash (a whole topic and a
            # partition of it): refused as malformed rather than as unavailable.
            verdicts = ["refused" if v == "404" else v for v in verdicts]
        return combine(verdicts)

    def wanted(self, world: World) -> list[tuple[str, int | None, int | None, int | None]]:
        out: dict[tuple[str, int | None], tuple[str, int | None, int | None, int | None]] = {}
        for item in self.items:
            keys = item[1] if item[0] == "comma" else [item[1]]
            if item[0] in ("name", "comma"):
                for key in keys:
                    topic = world.name(key)
                    out.setdefault((topic, None), (topic, None, None, None))
            elif item[0] == "obj":
                _, key, partition, offset, timestamp = item
                topic = world.name(key)
                out[(topic, partition)] = (topic, partition, offset, timestamp)
            else:
                raise AssertionError(f"no oracle for {item!r}")
        return list(out.values())


def _item_json(item: tuple[Any, ...], world: World) -> Any:
    tag = item[0]
    if tag == "name":
        return world.name(item[1])
    if tag == "comma":
        return ",".join(world.name(k) for k in item[1])
    if tag == "obj":
        _, key, partition, offset, timestamp = item
        obj: dict[str, Any] = {"topic": world.name(key)}
        for field, value in (
            ("partition", partition),
            ("offset", offset),
            ("timestamp", timestamp),
        ):
            if value is not None:
                obj[field] = value
        return obj
    if tag == "ref":  # a disguised topic name as a list item
        return item[1].effective(world)
    if tag == "refobj":  # a disguised topic name in an object, maybe with a partition
        obj = {"topic": item[1].effective(world)}
        if item[2] is not None:
            obj["partition"] = item[2]
        return obj
    if tag == "lit":  # a literal object; its "topic" is a symbolic key
        return {k: world.name(v) if k == "topic" else v for k, v in item[1]}
    if tag == "json":  # a literal JSON value
        return item[1]
    raise AssertionError(item)


def _within_verdict(name: str, allowed: set[str], within: set[str] | None, strip: bool) -> str:
    """:func:`name_verdict`, and a name outside ``within`` (as the app reads it) is a 400."""
    if within is not None and (name.strip() if strip else name) not in within:
        return "400"
    return name_verdict(name, allowed, strip)


def _item_verdicts(
    item: tuple[Any, ...], world: World, allowed: set[str], within: set[str] | None
) -> list[str]:
    tag = item[0]
    if tag in ("name", "obj"):
        return [_within_verdict(world.name(item[1]), allowed, within, strip=False)]
    if tag == "comma":
        return [_within_verdict(world.name(k), allowed, within, strip=False) for k in item[1]]
    if tag == "ref":
        # A string item is a comma list of names, each perhaps trimmed.
        verdicts = [
            _within_verdict(n, allowed, within, strip=True)
            for n in item[1].effective(world).split(",")
        ]
    elif tag == "refobj":
        name = item[1].effective(world)
        verdicts = [_within_verdict(name, allowed, within, strip=False)]
        if item[2] is not None and verdicts == ["ok"] and item[2] >= world.partitions[name]:
            verdicts.append("404")
    else:
        return []
    if {"ok", "maybe"} & set(verdicts):
        # An allowed topic named again may clash with the other items (the same partition
        # twice, or a whole topic and one of its partitions): that is a 400.
        verdicts.append("maybe")
    return verdicts


#: Field values that make an assignment object malformed (400) wherever they appear.
BAD_NUMBERS = [-1, True, False, 1.5, 0.0, "0", "1", [0], {}, 2**63, -(2**63), 1e30, None]


#: Per topic: nothing, the whole topic, or these partitions.
_MODES = {"A": [None, "whole", (0,), (1,), (0, 1)], "B": [None, "whole", (0,)]}
_SHAPES = [(a, b) for a in _MODES["A"] for b in _MODES["B"] if (a, b) != (None, None)]


@st.composite
def valid_items(draw: Any) -> list[tuple[Any, ...]]:
    """Items of a valid resume point: per topic nothing, the whole topic, or some partitions
    (each at an offset up to past its end, at a timestamp, or by ``since``/latest)."""
    items: list[tuple[Any, ...]] = []
    whole: list[str] = []
    for key, mode in zip(("A", "B"), draw(st.sampled_from(_SHAPES)), strict=True):
        if mode == "whole":
            whole.append(key)
        elif mode is not None:
            for p in mode:
                end = len(CONTENT[key][p])
                how = draw(st.integers(0, 99))
                offset = how % (end + 4) if how < 50 else None
                timestamp = BASE_TS - 2 + how % 38 if 50 <= how < 85 else None
                if how in (49, 84):  # the largest offset or timestamp: starts at the end
                    offset, timestamp = (MAX_INT64, None) if how == 49 else (None, MAX_INT64)
                items.append(("obj", key, p, offset, timestamp))
    style = draw(st.integers(0, 17))
    if style % 3 == 2 and len(whole) > 1:
        items.append(("comma", tuple(whole)))
    else:
        for key in whole:
            items.append(("name", key) if style % 3 == 0 else ("obj", key, None, None, None))
    if whole and style >= 15:  # a duplicate whole topic collapses
        items.append(("name", whole[0]))
    return shuffled(items, draw(st.integers(0, 11)))


def shuffled(items: list[Any], how: int) -> list[Any]:
    """A cheap reordering (one draw instead of a permutation's many)."""
    if not items:
        return items
    turn = how % len(items)
    items = items[turn:] + items[:turn]
    return items[::-1] if how >= 6 else items


@st.composite
def valid_event_ids(draw: Any) -> LastEventId:
    return LastEventId(
        tuple(draw(valid_items())),
        ascii_only=draw(st.booleans()),
        wrap=draw(st.sampled_from(["", "", "sp", "nl", "\t", "\n"])),
    )


BAD_JSON = [
    "[",
    "]",
    "['A']",
    '[{"topic": "A",}]',
    "A,B",
    "A",
    "[" * 100_000 + "]" * 100_000,
    "[" * 2_000,
    '[{"topic": "A"}] x',
    "\ufeff[]",
    " ",
    "[\x00]",
    '["A"\x0b]',
    '[{"topic": "A", "topic": "B"',
    "[1e999999]",
    "[-]",
    '["\\ud800"]',
    '["\\u0000"]',
]
NOT_A_LIST = ['{"topic": "A"}', '"A"', "5", "null", "true", '"A,B"', "{}", "1.5"]


@st.composite
def malformed_event_ids(draw: Any) -> LastEventId:
    """A resume point broken in one way whose answer is known: 400, or 404 for a partition
    that does not exist."""
    items = draw(valid_items())
    how = draw(
        st.sampled_from(
            [
                "field",
                "field",
                "field",
                "unknown_key",
                "offset_without_partition",
                "duplicate_partition",
                "mixed",
                "empty",
                "bad_item",
                "not_a_list",
                "bad_json",
                "missing_partition",
                "huge_partition",
            ]
        )
    )
    status = "400"
    if how == "field":
        field = draw(st.sampled_from(["partition", "offset", "timestamp"]))
        bad = draw(st.sampled_from(BAD_NUMBERS))
        if bad is None:
            # A null field means "not given": a null partition with an offset is the error.
            items.append(("lit", (("topic", "B"), ("partition", None), ("offset", 1))))
        else:
            items.append(("lit", (("topic", "A"), ("partition", 0), (field, bad))))
    elif how == "unknown_key":
        key = draw(st.sampled_from(["extra", "Topic", "topic ", "partitions", "", "__proto__"]))
        items.append(("lit", (("topic", "A"), (key, 0))))
    elif how == "offset_without_partition":
        field = draw(st.sampled_from(["offset", "timestamp"]))
        items.append(("lit", (("topic", "A"), (field, 1))))
    elif how == "duplicate_partition":
        items = [("obj", "A", 0, 1, None), ("obj", "A", 0, draw(st.integers(0, 5)), None)]
    elif how == "mixed":
        items = [("name", "B"), ("obj", "B", 0, 0, None)]
    elif how == "empty":
        items = []
    elif how == "bad_item":
        value = draw(st.sampled_from([5, None, True, 1.5, ["A"], [], {"x": []}]))
        items.append(("json", value))
    elif how == "not_a_list":
        return LastEventId(raw=draw(st.sampled_from(NOT_A_LIST)), status="400")
    elif how == "bad_json":
        return LastEventId(raw=draw(st.sampled_from(BAD_JSON)), status="400")
    elif how == "missing_partition":
        items = [("obj", "B", draw(st.integers(1, 2**31 - 1)), None, None)]
        status = "404"
    elif how == "huge_partition":
        items.append(("lit", (("topic", "A"), ("partition", draw(st.integers(2**31, 2**63))))))
    return LastEventId(tuple(shuffled(items, draw(st.integers(0, 11)))), status=status)


@st.composite
def hostile_event_ids(draw: Any, keys: list[str] | None = None) -> LastEventId:
    """A valid-looking resume point that also names a disguised or forbidden topic."""
    items = draw(valid_items())
    for _ in range(draw(st.integers(1, 2))):
        ref = draw(topic_refs(keys=keys, hostile=0.7))
        if draw(st.booleans()):
            items.append(("ref", ref))
        else:
            items.append(("refobj", ref, draw(st.sampled_from([None, None, 0, 1]))))
    return LastEventId(
        tuple(shuffled(items, draw(st.integers(0, 11)))),
        ascii_only=draw(st.booleans()),
    )


junk_event_ids = st.builds(
    LastEventId,
    raw=st.one_of(
        st.text(max_size=16),
        st.text(alphabet='[]{}",: 0-9az_-', max_size=16).map(lambda text: f"[{text}]"),
    ),
    status=st.just("any"),
)


def event_ids(keys: list[str] | None = None) -> st.SearchStrategy[LastEventId]:
    return st.one_of(
        valid_event_ids(),
        malformed_event_ids(),
        hostile_event_ids(keys),
        hostile_event_ids(keys),
        junk_event_ids,
    )


# --- paths, headers, methods: whole requests ------------------------------------------------

SEPARATORS = [",", ",", ",", "%2C", "%2c", ", ", ",,", "/", "%2F", ",%20", "%00,", ",%0A", ";"]
LEADS = ["/", "/", "/", "/", "//", "/%2F", "/./", "/%20"]
TRAILS = ["", "", "", "", "/", "%0A", "%0D%0A", "%00", "%20", ",", "?", "#x"]


@dataclasses.dataclass(frozen=True)
class Path:
    refs: tuple[TopicRef, ...]
    seps: tuple[str, ...]
    lead: str = "/"
    trail: str = ""

    def url(self, world: World) -> str:
        parts = [self.lead]
        for i, ref in enumerate(self.refs):
            if i:
                parts.append(self.seps[(i - 1) % len(self.seps)])
            parts.append(ref.url(world))
        parts.append(self.trail if self.trail not in ("?", "#x") else quote(self.trail, safe=""))
        return "".join(parts)

    def path_info(self, world: World) -> str:
        """PATH_INFO as WSGI servers build it: percent-decoded bytes read as latin-1."""
        return unquote_to_bytes(self.url(world)).decode("latin-1")

    def verdict(self, world: World, allowed: set[str]) -> str:
        info = self.path_info(world)
        core = info.strip("/")
        if not core:
            return "400"
        verdicts = [name_verdict(token, allowed, strip=True) for token in core.split(",")]
        if core != info[1:]:  # extra slashes around the topics: trimmed, or refused
            verdicts.append("maybe")
        return combine(verdicts)

    def topics(self, world: World) -> list[str]:
        return list(dict.fromkeys(self.path_info(world).strip("/").split(",")))

    def requested(self, world: World) -> set[str]:
        """The names the app requests when it accepts this path (each token trimmed)."""
        return {token.strip() for token in self.path_info(world).strip("/").split(",")}


@functools.cache
def _ref_lists(keys: tuple[str, ...], hostile: float) -> st.SearchStrategy[list[TopicRef]]:
    return st.lists(_topic_refs(keys, hostile), max_size=3)


@st.composite
def paths(draw: Any, keys: list[str] | None = None, hostile: float = 0.4) -> Path:
    refs = draw(_ref_lists(tuple(keys or SYMBOLIC_KEYS), hostile))
    if not refs and draw(st.integers(0, 3)):
        refs = [draw(topic_refs(keys=["A", "B"], hostile=0))]
    seps = draw(st.lists(st.sampled_from(SEPARATORS), min_size=1, max_size=2))
    return Path(
        tuple(refs), tuple(seps), draw(st.sampled_from(LEADS)), draw(st.sampled_from(TRAILS))
    )


@st.composite
def clean_paths(draw: Any) -> Path:
    """``/A``, ``/B,A``..., perhaps percent-encoded: always a valid request of allowed topics."""
    refs = draw(st.lists(topic_refs(keys=["A", "B"], hostile=0), min_size=1, max_size=3))
    seps = draw(st.lists(st.sampled_from([",", "%2C", "%2c"]), min_size=1, max_size=2))
    return Path(tuple(refs), tuple(seps))


ACCEPTS = [
    None,
    "text/event-stream",
    "application/json",
    "application/json, text/event-stream",
    "*/*",
    "application/json;q=0.9",
    "text/html",
    "APPLICATION/JSON",
    "application/jsonx",
    "application/json\r\n",
    "",
    "text/event-stream; charset=utf-8",
]
REQUEST_IDS = [
    "abc\n",
    "abc\r\nSet-Cookie: x=1",
    "a" * 128,
    "a" * 129,
    "a b",
    "<script>",
    "\x00",
    "../../etc/passwd",
    "\u00e9",
    "req\t1",
    "",
]
METHODS = ["POST", "PUT", "DELETE", "OPTIONS", "PATCH", "TRACE", "CONNECT", "get", "Get", "FOO"]

accepts = st.one_of(st.sampled_from(ACCEPTS), st.sampled_from(ACCEPTS), st.text(max_size=10))
request_ids = st.one_of(
    st.none(),
    st.sampled_from(["id-1", "a" * 128, "x.y:z@w/+=-", "ABC"]),
    st.text(alphabet=SANE_CHARS, min_size=1, max_size=12),
    st.sampled_from(REQUEST_IDS),
    st.text(max_size=12),
)
#: GET first (shrinks there), HEAD sometimes, another method in about one case of six.
methods = st.sampled_from(["GET"] * 48 + ["HEAD"] * 6 + METHODS)


@dataclasses.dataclass(frozen=True)
class Request:
    method: str
    path: Path
    query: Query
    last_event_id: LastEventId | None = None
    accept: str | None = None
    request_id: str | None = None

    def headers(self, world: World) -> list[tuple[str, str]]:
        out = []
        if self.last_event_id is not None:
            out.append(("Last-Event-ID", self.last_event_id.header(world)))
        if self.accept is not None:
            out.append(("Accept", self.accept))
        if self.request_id is not None:
            out.append(("X-Request-ID", self.request_id))
        return out

    def target(self, world: World) -> str:
        query = self.query.render()
        return self.path.url(world) + ("?" + query if query else "")

    def expect(
        self, world: World, allowed: set[str]
    ) -> tuple[str, set[tuple[str, int, int]] | None]:
        """The verdict, and for a certain stream the exact start positions.

        The path names the topics; a Last-Event-ID only moves partitions of those topics
        (naming any other is a 400); topics it does not name start as without it."""
        if self.method == "OPTIONS":
            return "204", None
        if self.method not in ("GET", "HEAD"):
            return "405", None
        header = self.last_event_id.header(world) if self.last_event_id else ""
        verdicts = [self.path.verdict(world, allowed), self.query.verdict()]
        if header:
            lei = self.last_event_id
            verdicts.append(lei.verdict(world, allowed, self.path.requested(world)))  # type: ignore[union-attr]
        verdict = combine(verdicts)
        if verdict != "ok":
            return verdict, None
        named = {}
        if header:
            named = {
                (t, p): (t, p, offset, timestamp)
                for t, p, offset, timestamp in self.last_event_id.wanted(world)  # type: ignore[union-attr]
                if p is not None
            }
        # A partition the id leaves out of a topic it names was added after the id was sent
        # (ids name every partition): it starts at its first record.
        resumed_topics = {t for t, _ in named}
        wanted = [
            named.get((t, p), (t, p, None, 0 if t in resumed_topics else None))
            for t in self.path.topics(world)
            for p in range(world.partitions[t])
        ]
        return "ok", expected_positions(world, wanted, self.query.since_ms())

    def wants_json(self) -> bool | None:
        """Whether a stream must be JSON lines (None: the oracle does not say). Media types
        are compared whole and case-insensitively; quality values are not modelled."""
        accept = (self.accept or "").lower()
        if "q=" in accept:
            return None
        types = {part.split(";")[0].strip() for part in accept.split(",")}
        return "application/json" in types and "text/event-stream" not in types


# --- running a request in process -----------------------------------------------------------


def latin1(text: str) -> str:
    """How a WSGI server hands over a header or path: the UTF-8 bytes read as latin-1."""
    return text.encode("utf-8", "surrogatepass").decode("latin-1")


def environ_for(request: Request, world: World) -> dict[str, Any]:
    from werkzeug.test import create_environ

    environ = create_environ("/", "http://localhost/")
    environ["REQUEST_METHOD"] = request.method
    environ["PATH_INFO"] = request.path.path_info(world)
    environ["QUERY_STRING"] = request.query.render()
    environ["RAW_URI"] = environ["REQUEST_URI"] = request.target(world)
    for name, value in request.headers(world):
        environ["HTTP_" + name.upper().replace("-", "_")] = latin1(value)
    return environ


@dataclasses.dataclass
class Answer:
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    from_app: bool = True

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None


def call_app(app: Any, environ: dict[str, Any]) -> Answer:
    """One WSGI call as a server makes it: a 200 stream is read up to its first chunk (an
    SSE stream's ``:ok``, a JSON-lines stream's empty line) and closed, which must stop its
    pump and close its consumer."""
    started: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        started["status"], started["headers"] = status, headers
        return lambda data: None

    result = app(environ, start_response)
    body = b""
    try:
        code = int(started["status"].split(" ", 1)[0]) if started else None
        if code is None or code != 200 or environ["REQUEST_METHOD"] == "HEAD":
            body = b"".join(result)
        else:  # a stream's first chunk is sent at once, without waiting on the pump
            body = next(iter(result), b"")
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    status = int(started["status"].split(" ", 1)[0])
    return Answer(status, list(started["headers"]), body)


# --- the properties ---------------------------------------------------------------------------


def check_answer(
    answer: Answer,
    world: World,
    *,
    method: str,
    verdict: str,
    positions: set[tuple[str, int, int]] | None,
    allowed: set[str],
    assigned: list[list[dict[str, Any]]] | None,
    request_id_seen: str | None,
    wants_json: bool | None = None,
) -> None:
    """Assert every property of one answer (see the module docstring)."""
    status = answer.status
    text = answer.body.decode("utf-8", "replace")
    everything = text + "\n" + "\n".join(f"{k}: {v}" for k, v in answer.headers)
    assert status < 500, f"5xx: {status} {text[:500]}"
    for marker in world.leak_markers:
        assert marker not in everything, f"leaks {marker!r}: {everything[:800]}"
    for key, value in answer.headers:
        assert not set(key + value) & {"\r", "\n", "\x00"}, f"header injection: {key}: {value!r}"
    if not answer.from_app:
        assert status in (400, 405, 408, 413, 414, 431, 501, 505) or status < 500, status
        return
    assert status in STATUSES[verdict], (
        f"expected {sorted(STATUSES[verdict])} ({verdict}), got {status}: {text[:500]}"
    )
    request_id = answer.header("X-Request-ID")
    assert request_id is not None, answer.headers
    if request_id_seen is not None and SANE_REQUEST_ID.fullmatch(request_id_seen):
        assert request_id == request_id_seen
    else:
        assert UUID.fullmatch(request_id), f"X-Request-ID {request_id!r} for {request_id_seen!r}"

    if status == 204:  # OPTIONS: the methods served, no body, no stream
        assert method == "OPTIONS", method
        assert answer.body == b"", answer.body[:200]
        assert "GET" in (answer.header("Allow") or ""), answer.headers
        assert not assigned, assigned
        return

    if status == 200:
        content_type = answer.header("Content-Type")
        assert content_type in (SSE_CONTENT_TYPE, JSON_CONTENT_TYPE), content_type
        if wants_json is not None:
            assert (content_type == JSON_CONTENT_TYPE) == wants_json, content_type
        if method == "HEAD":
            assert answer.body == b""
        elif content_type == SSE_CONTENT_TYPE:
            assert answer.body.startswith(b":ok"), answer.body[:200]
        else:  # JSON lines: its heartbeat, an empty line, so the headers go out at once
            assert answer.body.startswith(b"\n"), answer.body[:200]
        if assigned is not None:
            assert len(assigned) == 1, assigned
            check_assigned(assigned[0], world, allowed, positions)
        return

    if assigned is not None:
        assert assigned == [], f"refused ({status}) but assigned {assigned}"
    assert answer.header("Content-Type") == JSON_CONTENT_TYPE, answer.headers
    if method == "HEAD" and not answer.body:
        return  # a server sends no body with HEAD
    error = json.loads(answer.body)
    assert isinstance(error, dict), error
    assert error.get("origin") == "KafkaSSE", error
    assert isinstance(error.get("message"), str) and error["message"], error
    assert status in ERROR_STATUS.get(error.get("name"), set()), (status, error)


def check_assigned(
    assigned: list[dict[str, Any]],
    world: World,
    allowed: set[str],
    positions: set[tuple[str, int, int]] | None,
) -> None:
    got = [(p["topic"], p["partition"], p["offset"]) for p in assigned]
    assert len(set((t, p) for t, p, _ in got)) == len(got), f"duplicate partitions: {got}"
    for topic, partition, offset in got:
        assert topic in allowed, f"whitelist bypassed: assigned {topic!r} (allowed {allowed})"
        assert not topic.startswith("__"), f"internal topic assigned: {topic!r}"
        assert 0 <= partition < world.partitions[topic], got
        assert 0 <= offset <= world.end(topic, partition), got
    if positions is not None:
        assert set(got) == positions, f"start positions {sorted(got)} != {sorted(positions)}"


# --- raw HTTP ---------------------------------------------------------------------------------


def http_request(port: int, raw: bytes, timeout_s: float = 10) -> Answer | None:
    """Send ``raw`` bytes, read one response: the whole of an error, the first chunk of a
    stream. ``None`` when the server closed without answering."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout_s) as sock:
        sock.sendall(raw)
        data = b""
        deadline = time.monotonic() + timeout_s
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                if not data:
                    return None
                raise AssertionError(f"connection closed mid-headers: {data!r}")
            data += chunk
            assert time.monotonic() < deadline, data
        head, _, rest = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ")[1])
        headers = []
        for line in lines[1:]:
            key, _, value = line.partition(":")
            headers.append((key, value.strip()))
        answer = Answer(status, headers, b"", from_app=any(k == "X-Request-ID" for k, _ in headers))
        if raw.startswith(b"HEAD "):
            return answer
        length = answer.header("Content-Length")
        chunked = (answer.header("Transfer-Encoding") or "").lower() == "chunked"
        while True:
            if length is not None and len(rest) >= int(length):
                answer.body = rest[: int(length)]
                return answer
            if chunked and b"\r\n" in rest:
                size_line, _, after = rest.partition(b"\r\n")
                size = int(size_line.split(b";")[0], 16)
                if len(after) >= size:
                    answer.body = after[:size]
                    return answer
            if not chunked and length is None and status == 200 and rest:
                answer.body = rest
                return answer
            chunk = sock.recv(65536)
            if not chunk:
                answer.body = rest
                return answer
            rest += chunk
            assert time.monotonic() < deadline, rest
