"""Hostile input, property-based: whatever a client sends, the answer is a stream of allowed
topics or a 4xx JSON error — never a 5xx, a stack trace, the broker's address, Kafka
settings, an injected header, or a topic outside the whitelist.

Most cases run in process against a :class:`KafkaSSE` app (a real broker behind it) with
environs built the way a WSGI server builds them; a smaller set goes over real HTTP to a
gevent server, as raw bytes so no client library normalises anything. Requests are drawn
symbolically and carry their own oracle (see ``tests/support/fuzz.py``): a request that
names only allowed topics must stream from exactly the expected offsets, one that names a
forbidden, internal, missing or disguised topic must be refused with the right status.

Runs are reproducible (``derandomize=True``); the case counts are checked at the end.
"""

from __future__ import annotations

import collections
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path as FsPath
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from kafkasse_wsgi import KafkaSSE, kafka_sse
from kafkasse_wsgi._tail.registry import close_all_hubs, describe_hubs
from tests.support import fuzz
from tests.support.fuzz import (
    BASE_TS,
    CONTENT,
    MAX_INT64,
    Answer,
    LastEventId,
    Path,
    Query,
    Request,
    Since,
    TopicRef,
    World,
)
from tests.support.kafka import KafkaHelper, unique_topic
from tests.support.servers import broker_connections, start_gevent_server

pytestmark = pytest.mark.slow

#: Generated cases per test; the in-process ones add up to more than 10,000.
EXAMPLES = {
    "test_any_request": 3400,
    "test_path_cannot_bypass_whitelist": 2400,
    "test_last_event_id_cannot_bypass_whitelist": 1900,
    "test_since": 700,
    "test_headers_and_methods": 1000,
    "test_kafka_sse_assignment_objects": 700,
    "test_http_requests": 220,
    "test_http_raw_bytes": 120,
}
MINIMUM_TOTAL = 10_000
#: ``HOSTILE_FUZZ_SCALE=0.1`` for a quick local run (the totals are then not checked).
SCALE = float(os.environ.get("HOSTILE_FUZZ_SCALE", "1"))
CASES: collections.Counter[str] = collections.Counter()
OUTCOMES: collections.Counter[str] = collections.Counter()


def fuzz_settings(name: str) -> settings:
    return settings(
        max_examples=max(1, int(EXAMPLES[name] * SCALE)),
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        print_blob=True,
    )


# --- the world: topics A and B (allowed), F (forbidden), an internal-looking one ---------------


@pytest.fixture(scope="module")
def world(kafka: KafkaHelper, kafka_bootstrap: str) -> Iterator[World]:
    names = {
        key: kafka.create_topic(
            unique_topic(f"hostile-{key.lower()}"), len(parts), {"retention.ms": "-1"}
        )
        for key, parts in CONTENT.items()
    }
    names["INTERNAL"] = kafka.create_topic(unique_topic("__hostile-internal"), 1)
    names["OFFSETS"] = "__consumer_offsets"
    names["MISSING"] = unique_topic("hostile-missing")
    created = [names[k] for k in (*CONTENT, "INTERNAL")]
    timestamps: dict[tuple[str, int], list[int]] = {}
    for key, parts in CONTENT.items():
        for partition, stamps in enumerate(parts):
            for i, ts in enumerate(stamps):
                kafka.produce(names[key], [{"key": key, "i": i}], partition, timestamp_ms=ts)
            timestamps[(names[key], partition)] = stamps
    kafka.produce(names["INTERNAL"], [{"internal": True}])
    timestamps[(names["INTERNAL"], 0)] = [BASE_TS]
    partitions = {names[k]: len(parts) for k, parts in CONTENT.items()}
    partitions[names["INTERNAL"]] = 1
    host = kafka_bootstrap.split(",")[0]
    yield World(
        names=names,
        partitions=partitions,
        timestamps=timestamps,
        bootstrap=kafka_bootstrap,
        leak_markers=(
            "Traceback",
            'File "',
            '.py"',
            kafka_bootstrap,
            host,
            "127.0.0.1:9092",
            "localhost:9092",
            "bootstrap",
            "retry_backoff_ms",
            "reconnect_backoff_ms",
            "request_timeout_ms",
            "security_protocol",
            "sasl_",
        ),
    )
    kafka.delete_topics(created)


class Recorder:
    """``kafka_event_handlers`` that remember what happened during the current request."""

    def __init__(self) -> None:
        self.assigned: list[list[dict[str, Any]]] = []
        self.disconnected = 0

    def hooks(self) -> dict[str, Any]:
        return {"assigned": self.on_assigned, "disconnected": self.on_disconnected}

    def on_assigned(self, positions: list[dict[str, Any]]) -> None:
        self.assigned.append(positions)

    def on_disconnected(self) -> None:
        self.disconnected += 1

    def reset(self) -> None:
        self.assigned = []
        self.disconnected = 0


@pytest.fixture(scope="module")
def recorder() -> Recorder:
    return Recorder()


def app_options(world: World, recorder: Recorder) -> dict[str, Any]:
    return {
        # Short retry backoffs: the first offset look-up of a new consumer waits one.
        "kafka_config": {
            "bootstrap_servers": world.bootstrap,
            "retry_backoff_ms": 5,
            "reconnect_backoff_ms": 5,
        },
        "heartbeat_interval_s": 0.05,
        "idle_delay_ms": 5,
        "kafka_event_handlers": recorder.hooks(),
    }


@pytest.fixture(scope="module")
def apps(world: World, recorder: Recorder) -> Iterator[dict[str, tuple[KafkaSSE, set[str]]]]:
    """``list``: allowed_topics=[A, B]; ``open``: allowed_topics=None (all but ``__*``)."""
    names = world.names
    before = broker_connections(os.getpid(), _broker_port(world))
    yield {
        "list": (
            KafkaSSE(allowed_topics=[names["A"], names["B"]], **app_options(world, recorder)),
            {names["A"], names["B"]},
        ),
        "open": (
            KafkaSSE(allowed_topics=None, **app_options(world, recorder)),
            {names["A"], names["B"], names["F"]},
        ),
    }
    # Every stream gave its place on the shared tail back; the hubs would linger for the
    # next clients (tail_linger_s): close them now.
    assert all(hub["clients"] == 0 for hub in describe_hubs()), describe_hubs()
    close_all_hubs()
    # Every consumer a request opened was closed: no connection to the broker is left over.
    deadline = time.monotonic() + 10
    while broker_connections(os.getpid(), _broker_port(world)) > before:
        assert time.monotonic() < deadline, "consumers left open after the in-process fuzzing"
        time.sleep(0.2)


def _broker_port(world: World) -> int:
    return int(world.bootstrap.split(",")[0].rsplit(":", 1)[1])


def run_in_process(
    request: Request,
    world: World,
    apps: dict[str, tuple[KafkaSSE, set[str]]],
    recorder: Recorder,
    which: str = "list",
) -> Answer:
    app, allowed = apps[which]
    environ = fuzz.environ_for(request, world)
    verdict, positions = request.expect(world, allowed)
    recorder.reset()
    answer = fuzz.call_app(app, environ)
    fuzz.check_answer(
        answer,
        world,
        method=request.method,
        verdict=verdict,
        positions=positions,
        allowed=allowed,
        assigned=recorder.assigned,
        request_id_seen=environ.get("HTTP_X_REQUEST_ID"),
        wants_json=request.wants_json(),
    )
    # A stream that was read and closed (or a HEAD) ran its cleanup exactly once.
    assert recorder.disconnected == (1 if answer.status == 200 else 0), recorder.disconnected
    OUTCOMES[f"{answer.status} {verdict}"] += 1
    return answer


# --- in process -------------------------------------------------------------------------------

apps_choice = st.sampled_from(["list", "list", "list", "open"])


@pytest.mark.timeout(300)
@fuzz_settings("test_any_request")
@given(
    request=st.builds(
        Request,
        method=fuzz.methods,
        path=fuzz.paths(),
        query=fuzz.queries,
        last_event_id=st.one_of(st.none(), st.none(), st.none(), fuzz.event_ids()),
        accept=fuzz.accepts,
        request_id=fuzz.request_ids,
    ),
    which=apps_choice,
)
def test_any_request(world, apps, recorder, request, which):
    CASES["test_any_request"] += 1
    run_in_process(request, world, apps, recorder, which)


@pytest.mark.timeout(300)
@fuzz_settings("test_path_cannot_bypass_whitelist")
@given(path=fuzz.paths(hostile=0.6), which=apps_choice)
def test_path_cannot_bypass_whitelist(world, apps, recorder, path, which):
    """Percent-encoded names and separators, look-alikes, control characters, NUL, CR/LF,
    trailing newlines, duplicates, internal and forbidden topics, in the path."""
    CASES["test_path_cannot_bypass_whitelist"] += 1
    run_in_process(Request("GET", path, Query(Since("none"))), world, apps, recorder, which)


@pytest.mark.timeout(300)
@fuzz_settings("test_last_event_id_cannot_bypass_whitelist")
@given(
    last_event_id=fuzz.event_ids(),
    path=st.one_of(fuzz.clean_paths(), fuzz.paths()),
    query=fuzz.queries,
    which=apps_choice,
)
def test_last_event_id_cannot_bypass_whitelist(
    world, apps, recorder, last_event_id, path, query, which
):
    """The path decides the topics, Last-Event-ID only where they resume: valid resume
    points within the path start exactly where they say (the rest as without an id),
    malformed ones are 400/404, ones naming other topics 400, hostile ones are refused."""
    CASES["test_last_event_id_cannot_bypass_whitelist"] += 1
    request = Request("GET", path, query, last_event_id)
    run_in_process(request, world, apps, recorder, which)


@pytest.mark.timeout(300)
@fuzz_settings("test_since")
@given(path=fuzz.clean_paths(), query=fuzz.queries, method=st.sampled_from(["GET", "HEAD"]))
def test_since(world, apps, recorder, path, query, method):
    """Epoch ms and ISO-8601 in every spelling start at the first message at or after that
    time; anything else is a 400."""
    CASES["test_since"] += 1
    run_in_process(Request(method, path, query), world, apps, recorder)


@pytest.mark.timeout(300)
@fuzz_settings("test_headers_and_methods")
@given(
    method=fuzz.methods,
    path=st.one_of(fuzz.clean_paths(), fuzz.paths()),
    last_event_id=st.one_of(st.none(), st.none(), fuzz.valid_event_ids()),
    accept=fuzz.accepts,
    request_id=fuzz.request_ids,
)
def test_headers_and_methods(
    world, apps, recorder, method, path, last_event_id, accept, request_id
):
    """X-Request-ID is echoed only when it is a sane token, Accept picks SSE or JSON lines,
    only GET and HEAD are served."""
    CASES["test_headers_and_methods"] += 1
    request = Request(method, path, Query(Since("none")), last_event_id, accept, request_id)
    run_in_process(request, world, apps, recorder)


# kafka_sse() with assignment objects straight from Python (e.g. taken from a request body).

PY_JUNK = [None, 5, 1.5, True, b"A", {"topic": "A"}, {"A"}, frozenset(), object()]


@st.composite
def py_assignments(draw: Any) -> tuple[str, Any]:
    """(kind, value): items of a resume point as a list or tuple, a comma string of topic
    references, or something that is not assignments at all."""
    kind = draw(st.sampled_from(["items", "items", "items", "comma", "junk"]))
    if kind == "items":
        lei = draw(
            st.one_of(
                fuzz.valid_event_ids(),
                fuzz.malformed_event_ids().filter(lambda e: e.raw is None),
                fuzz.hostile_event_ids(),
            )
        )
        extra = draw(st.sampled_from([None, None, None, ("json", b"A"), ("json", ("A",))]))
        if extra is not None:
            lei = LastEventId((*lei.items, extra), status="400")
        return ("tuple" if draw(st.booleans()) else "list", lei)
    if kind == "comma":
        refs = draw(st.lists(fuzz.topic_refs(hostile=0.5), min_size=1, max_size=3))
        return ("comma", tuple(refs))
    return ("junk", draw(st.sampled_from(range(len(PY_JUNK)))))


at_timestamps = st.one_of(
    st.none(),
    st.builds(lambda s: ("since", s), fuzz.since_values()),
    st.builds(lambda ms: ("int", ms), st.integers(BASE_TS - 3, BASE_TS + 35)),
    st.builds(lambda ms: ("int", ms), st.integers(0, MAX_INT64)),
    st.sampled_from([("bad", -1), ("bad", MAX_INT64 + 1), ("bad", True), ("bad", False)]),
    st.sampled_from([("bad", 1.5), ("bad", 0.0), ("bad", float("nan")), ("bad", [1])]),
)


@pytest.mark.timeout(300)
@fuzz_settings("test_kafka_sse_assignment_objects")
@given(assignments=py_assignments(), at=at_timestamps, which=apps_choice)
def test_kafka_sse_assignment_objects(world, apps, recorder, assignments, at, which):
    CASES["test_kafka_sse_assignment_objects"] += 1
    app, allowed = apps[which]
    kind, model = assignments
    wanted = None
    if kind in ("list", "tuple"):
        value: Any = [fuzz._item_json(item, world) for item in model.items]
        value = tuple(value) if kind == "tuple" else value
        verdict = model.verdict(world, allowed)
        if verdict == "ok":
            wanted = model.wanted(world)
    elif kind == "comma":
        value = ",".join(ref.effective(world) for ref in model)
        verdict = fuzz.combine(
            fuzz.name_verdict(name, allowed, strip=True) for name in value.split(",")
        )
        if verdict == "ok":
            wanted = [(name, None, None, None) for name in dict.fromkeys(value.split(","))]
    else:
        value, verdict = PY_JUNK[model], "400"

    at_timestamp: Any = None
    since_ms = None
    at_verdict = "ok"
    if at is not None:
        how, given_at = at
        if how == "since":
            at_timestamp, since_ms, at_verdict = given_at.text, given_at.value(), given_at.verdict()
            if given_at.kind == "empty":
                at_timestamp = ""
            elif given_at.kind == "none":
                at_timestamp = None
        elif how == "int":
            at_timestamp = since_ms = given_at
        else:
            at_timestamp, at_verdict = given_at, "400"
    verdict = fuzz.combine([verdict, at_verdict])
    positions = None
    if verdict == "ok":
        positions = fuzz.expected_positions(world, wanted, since_ms)

    environ = fuzz.environ_for(
        Request("GET", Path((TopicRef("A"),), (",",)), Query(Since("none"))), world
    )
    recorder.reset()
    answer = fuzz.call_app(
        lambda env, start: kafka_sse(env, start, value, app.options, at_timestamp), environ
    )
    fuzz.check_answer(
        answer,
        world,
        method="GET",
        verdict=verdict,
        positions=positions,
        allowed=allowed,
        assigned=recorder.assigned,
        request_id_seen=None,
    )
    assert recorder.disconnected == (1 if answer.status == 200 else 0)
    OUTCOMES[f"{answer.status} {verdict}"] += 1


# --- over real HTTP: a gevent server subprocess, raw sockets ----------------------------------


class HttpTarget:
    def __init__(self, world: World, port: int, hooks: FsPath, allowed: set[str]) -> None:
        self.world = world
        self.port = port
        self.hooks = hooks
        self.allowed = allowed
        self.read_to = 0
        self.app_answers = 0

    def new_events(self) -> list[dict[str, Any]]:
        text = self.hooks.read_text() if self.hooks.exists() else ""
        lines = text[self.read_to :].splitlines(keepends=True)
        complete = [line for line in lines if line.endswith("\n")]
        self.read_to += sum(len(line) for line in complete)
        return [json.loads(line) for line in complete]

    def send(self, raw: bytes) -> Answer | None:
        self.new_events()
        return fuzz.http_request(self.port, raw)

    def assigned_since_send(self) -> list[list[dict[str, Any]]]:
        return [e["detail"] for e in self.new_events() if e["event"] == "assigned"]


@pytest.fixture(scope="module")
def http_target(world: World, tmp_path_factory: pytest.TempPathFactory) -> Iterator[HttpTarget]:
    names = world.names
    directory = tmp_path_factory.mktemp("hostile-http")
    hooks = directory / "hooks.jsonl"
    options = {
        "kafka_config": {
            "bootstrap_servers": world.bootstrap,
            "retry_backoff_ms": 5,
            "reconnect_backoff_ms": 5,
        },
        "allowed_topics": [names["A"], names["B"]],
        "heartbeat_interval_s": 0.05,
    }
    server = start_gevent_server(
        {"options": options, "record_hooks": str(hooks)}, log_path=directory / "server.log"
    )
    try:
        yield HttpTarget(world, server.port, hooks, {names["A"], names["B"]})
        # Every stream the fuzzing opened ends (the server noticed each client leave) and
        # the server holds no connection to the broker afterwards.
        deadline = time.monotonic() + 15
        while True:
            events = [json.loads(line) for line in hooks.read_text().splitlines()]
            opened = sum(e["event"] == "assigned" for e in events)
            closed = sum(e["event"] == "disconnected" for e in events)
            connections = broker_connections(server.pid, _broker_port(world))
            if closed == opened and connections == 0:
                break
            assert time.monotonic() < deadline, (opened, closed, connections)
            time.sleep(0.2)
        assert server.process.poll() is None, "the server died"
    finally:
        server.stop()


def http_safe(value: str) -> bool:
    return not set(value) & {"\r", "\n", "\x00"}


def http_bytes(method: str, target: str, headers: list[tuple[str, str]]) -> bytes:
    lines = [f"{method} {target} HTTP/1.1", "Host: 127.0.0.1"]
    lines += [f"{name}: {value}" for name, value in headers]
    lines += ["Connection: close", "", ""]
    return "\r\n".join(lines).encode("utf-8", "surrogatepass")


@pytest.mark.timeout(300)
@fuzz_settings("test_http_requests")
@given(
    request=st.builds(
        Request,
        method=fuzz.methods,
        path=st.one_of(fuzz.clean_paths(), fuzz.paths(hostile=0.6)),
        query=fuzz.queries,
        last_event_id=st.one_of(st.none(), st.none(), fuzz.event_ids()),
        accept=fuzz.accepts,
        request_id=fuzz.request_ids,
    )
)
def test_http_requests(world, http_target, request):
    """The same requests over the wire, as raw bytes (header values as the server trims them)."""
    headers = request.headers(world)
    assume(all(http_safe(value) for _, value in headers))
    CASES["test_http_requests"] += 1
    allowed = http_target.allowed
    # The server trims header values: the app sees exactly that.
    seen = {name: fuzz.latin1(value).strip() for name, value in headers}
    lei = request.last_event_id
    if lei is not None and not seen["Last-Event-ID"]:
        lei = None
    elif lei is not None and lei.raw is not None:
        lei = LastEventId(raw=seen["Last-Event-ID"], status=lei.status)
    trimmed = Request(
        request.method,
        request.path,
        request.query,
        lei,
        seen.get("Accept"),
        seen.get("X-Request-ID"),
    )
    verdict, positions = trimmed.expect(world, allowed)
    answer = http_target.send(http_bytes(request.method, request.target(world), headers))
    assert answer is not None, "no answer"
    fuzz.check_answer(
        answer,
        world,
        method=request.method,
        verdict=verdict,
        positions=positions,
        allowed=allowed,
        assigned=http_target.assigned_since_send() if answer.from_app else None,
        request_id_seen=seen.get("X-Request-ID"),
        wants_json=trimmed.wants_json(),
    )
    if answer.from_app:
        http_target.app_answers += 1
    OUTCOMES[f"http {answer.status} {verdict}"] += 1


RAW_TARGETS = [
    "/{A}",
    "/{A},{B}",
    "/{F}",
    "/{I}",
    "/__consumer_offsets",
    "*",
    "http://127.0.0.1/{A}",
    "http://127.0.0.1/{F}",
    "/{A}?since=1?x",
    "/{A}#frag",
    "/{A}%",
    "/{A}%G1",
    "/{A}%2",
    "/{A}" + ",{A}" * 300,
    "/" + "a" * 10_000,
    "/{A}\u00a0",
    "/\u0430{Arest}",
    "/{A},\uff46",
    "/{A}%C0%AC{F}",
    "/{A}%E2%80%8B",
    "/{A}%2C{F}",
    "/{A}%252C{F}",
    "/{A}\\{F}",
    "/%2e%2e/{F}",
    "/{A}/../{F}",
    "/./{A}",
    "//{A}",
    "/{A}?since=%00",
    "/{A}?since=%FF%FE",
    "/{A}?since=" + "9" * 5000,
    "/{A}?" + "&".join(["since=1"] * 500),
]
RAW_VERSIONS = ["HTTP/1.1", "HTTP/1.1", "HTTP/1.0", "HTTP/0.9", "HTTP/2.0", "HTTP/1.1x", ""]
RAW_METHODS = ["GET", "GET", "GET", "HEAD", "get", "G\x00ET", "GET\t", "POST", "\u00c9T"]
RAW_HEADERS = [
    ("Last-Event-ID", '[{{"topic": "{F}", "partition": 0, "offset": 0}}]'),
    ("Last-Event-ID", '["{A}"]'),
    ("Last-Event-ID", '["{I}"]'),
    ("Last-Event-ID", '["{A}",\r\n "{F}"]'),  # an obsolete folded header line
    ("Last-Event-ID", '["{A}",\r\n\t"{B}"]'),
    ("Last-Event-ID", '["{A}\u00a0"]'),
    ("Last-Event-ID", "\x00"),
    ("Last-Event-ID", "[" * 50_000),
    ("Last_Event_ID", '["{F}"]'),  # underscores: dropped by the server
    ("last-event-id", '["{B}"]'),
    ("X-Request-ID", "abc\r\n def"),
    ("X-Request-ID", "\u00e9\u00e9"),
    ("X-Request-ID", "a" * 129),
    ("X-Request-ID", "ok-id"),
    ("Accept", "application/json"),
    ("Accept", "text/event-stream\x85"),
    ("Content-Length", "5"),
    ("Content-Length", "-1"),
    ("Transfer-Encoding", "chunked"),
    ("Expect", "100-continue"),
    ("Host", "localhost:9092"),
    ("Bad Header", "x"),
    (":", "x"),
    ("X-Big", "x" * 70_000),
]


@st.composite
def raw_requests(draw: Any) -> tuple[str, str, str, list[tuple[str, str]]]:
    method = draw(st.sampled_from(RAW_METHODS))
    target = draw(st.sampled_from(RAW_TARGETS))
    version = draw(st.sampled_from(RAW_VERSIONS))
    headers = draw(st.lists(st.sampled_from(RAW_HEADERS), max_size=4))
    return method, target, version, headers


@pytest.mark.timeout(300)
@fuzz_settings("test_http_raw_bytes")
@given(raw=raw_requests())
def test_http_raw_bytes(world, http_target, raw):
    """Bytes no client library would send: odd request lines, raw non-ASCII, folded,
    duplicated and oversized headers. The server may refuse them itself; whatever reaches
    the app is answered properly and streams only allowed topics."""
    CASES["test_http_raw_bytes"] += 1
    names = world.names
    fill = {
        "A": names["A"],
        "B": names["B"],
        "F": names["F"],
        "I": names["INTERNAL"],
        "Arest": names["A"][1:],
    }
    method, target, version, headers = raw
    target = target.format(**fill)
    request_line = f"{method} {target} {version}".rstrip()
    lines = [request_line, "Host: 127.0.0.1"]
    lines += [f"{name}: {value.format(**fill)}" for name, value in headers]
    data = ("\r\n".join([*lines, "Connection: close", "", ""])).encode("utf-8")
    answer = http_target.send(data)
    if answer is None:
        OUTCOMES["http raw: closed without answer"] += 1
        # Only a request line the server cannot read may go unanswered.
        assert version in ("HTTP/0.9", "") or "\x00" in method, data[:300]
        return
    request_ids = [v.strip() for k, v in headers if k.lower() == "x-request-id"]
    fuzz.check_answer(
        answer,
        world,
        method=method,
        verdict="raw",
        positions=None,
        allowed=http_target.allowed,
        assigned=http_target.assigned_since_send() if answer.from_app else None,
        request_id_seen=",".join(request_ids) if request_ids else None,
    )
    if answer.from_app:
        http_target.app_answers += 1
    OUTCOMES[f"http raw {answer.status} {'app' if answer.from_app else 'server'}"] += 1


def test_zz_enough_cases_ran(request):
    """The fuzzing above really ran (>= 10,000 cases in process), and not vacuously."""
    ran = {name for name in EXAMPLES if CASES[name]}
    print("\nhostile-input cases:", dict(CASES), "total", sum(CASES.values()))
    print("outcomes:", dict(sorted(OUTCOMES.items())))
    if ran != set(EXAMPLES) or SCALE != 1:
        pytest.skip(f"only part of the fuzzing ran: {sorted(ran)}, scale {SCALE}")
    if request.session.testsfailed:
        pytest.skip("a property failed: Hypothesis stopped that test early (see its report)")
    for name, wanted in EXAMPLES.items():
        assert CASES[name] >= wanted * 0.9, (name, CASES[name], wanted)
    in_process = sum(CASES[name] for name in EXAMPLES if not name.startswith("test_http"))
    assert in_process >= MINIMUM_TOTAL, in_process
    streams = sum(n for key, n in OUTCOMES.items() if key.startswith("200"))
    refusals = sum(n for key, n in OUTCOMES.items() if key[:1] == "4")
    assert streams >= 0.15 * in_process and refusals >= 0.3 * in_process, OUTCOMES
