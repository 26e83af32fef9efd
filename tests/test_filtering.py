"""Asking the server for less, on the real broker through a real server with real clients:
``?filter=`` against a Python oracle, its 400s, ``?until=`` / ``?limit=`` replays that end
(also in JSON mode), 204 on a reconnect past ``until``, and id-only progress frames."""

from __future__ import annotations

import json
import random
import time
from urllib.parse import quote

import pytest
import requests
from hypothesis import HealthCheck, given, settings

from kafkasse_wsgi._filters import MAX_DEPTH
from kafkasse_wsgi.options import Options
from tests.support.clients import SSEReader, payloads_of
from tests.support.filter_events import ORACLES, expressions, make_events

JSON = {"Accept": "application/json"}


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def from_start(topic: str, partitions: int) -> str:
    return json.dumps([{"topic": topic, "partition": p, "offset": 0} for p in range(partitions)])


def ndjson(response: requests.Response) -> list[dict]:
    return [json.loads(line) for line in response.text.split("\n") if line.strip()]


def offsets_by_partition(event_id: str) -> dict[int, int]:
    return {entry["partition"]: entry["offset"] for entry in json.loads(event_id)}


# --- the filter --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def corpus(kafka, request):
    """10,000 generated events on 3 partitions; what each (partition, offset) holds."""
    from tests.support.kafka import unique_topic

    topic = kafka.create_topic(unique_topic("filter-oracle"), 3, {"retention.ms": "-1"})
    events = make_events(10_000)
    placed = {}
    for partition in range(3):
        mine = events[partition::3]
        for offset, event in zip(kafka.produce(topic, mine, partition), mine, strict=True):
            placed[(partition, offset)] = dict(event, _kafka={"partition": partition})
    yield topic, placed, now_ms() + 1
    kafka.delete_topics([topic])


@pytest.mark.parametrize(("expression", "oracle"), ORACLES, ids=[e for e, _ in ORACLES])
def test_filter_over_http_matches_the_oracle_on_10k_events(serve, corpus, expression, oracle):
    topic, placed, until = corpus
    server = serve()
    url = f"{server.url}/{topic}?since=0&until={until}&filter={quote(expression)}"
    response = requests.get(url, headers=JSON, timeout=60)
    assert response.status_code == 200
    got = sorted((e["_kafka"]["partition"], e["_kafka"]["offset"]) for e in ndjson(response))
    want = sorted(key for key, event in placed.items() if oracle(event))
    assert got == want
    assert 0 < len(want) < len(placed)


def test_filter_and_filterer_must_both_pass(serve, kafka, make_topic):
    topic = make_topic()
    kafka.produce(topic, [{"n": n} for n in range(20)])
    server = serve({"filterer": "even_filter"})
    url = f"{server.url}/{topic}?since=0&until={now_ms() + 1}&filter={quote('n > `9`')}"
    response = requests.get(url, headers=JSON, timeout=30)
    assert [e["n"] for e in ndjson(response)] == [10, 12, 14, 16, 18]


def test_an_event_the_filter_raises_on_is_skipped_and_the_stream_goes_on(
    serve, kafka, make_topic, tmp_path
):
    topic = make_topic()
    # length() of a number is a type error: n=1 and n=3 raise, the strings are measured.
    kafka.produce(topic, [{"v": "aaa"}, {"v": 1}, {"v": "bb"}, {"v": 3}, {"v": "cccc"}])
    server = serve()
    url = f"{server.url}/{topic}?since=0&filter={quote('length(v) > `2`')}"
    with SSEReader(url) as reader:
        events = reader.read(2)
    assert [e["v"] for e in payloads_of(events)] == ["aaa", "cccc"]
    assert "event: error" not in reader.raw.decode()
    # Counted: the stream's end (the client left) logs how many events raised.
    log = tmp_path / "server-0.log"  # the serve fixture's log of its first server
    deadline = time.monotonic() + 10
    while "stream ended" not in log.read_text() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert "3 filtered (2 filter errors)" in log.read_text()  # "bb" and the two numbers


def test_streams_sending_the_same_filter_share_its_results(serve, kafka, make_topic, tmp_path):
    topic = make_topic()
    kafka.produce(topic, [{"v": "aaa"}, {"v": 1}, {"v": "bb"}, {"v": 3}, {"v": "cccc"}])
    server = serve()
    url = f"{server.url}/{topic}?since=0&filter={quote('length(v) > `2`')}"
    log = tmp_path / "server-0.log"
    for streams in (1, 2):
        with SSEReader(url) as reader:
            assert [e["v"] for e in payloads_of(reader.read(2))] == ["aaa", "cccc"]
        deadline = time.monotonic() + 10
        while log.read_text().count("stream ended") < streams and time.monotonic() < deadline:
            time.sleep(0.1)
    ends = [line for line in log.read_text().splitlines() if "stream ended" in line]
    # The first stream evaluated (and met the two type errors); the second one reused its
    # results for the same records: it dropped them without decoding or evaluating.
    assert "3 filtered (2 filter errors)" in ends[0]
    assert "3 filtered (0 filter errors)" in ends[1]


@pytest.mark.parametrize(
    ("query", "needle", "position"),
    [
        ("filter=" + quote("meta.domain == 'en"), "Unclosed ' delimiter at position 15", 15),
        ("filter=" + quote("a =="), "Incomplete expression at position 4", 4),
        ("filter=" + "a" * (Options.DEFAULT_MAX_FILTER_LENGTH + 1), "too long", None),
        ("filter=" + quote("!" * (MAX_DEPTH + 1) + "a"), "nested too deeply", None),
        ("filter=" + quote("!" * 900 + "a"), "nested too deeply", None),
        ("until=yesterday", "until must be", None),
        ("limit=0", "limit must be", None),
        ("limit=-5", "limit must be", None),
        ("limit=1e3", "limit must be", None),
    ],
)
def test_bad_filter_until_or_limit_is_a_400_with_the_reason(
    serve, make_topic, query, needle, position
):
    topic = make_topic()
    server = serve()
    response = requests.get(f"{server.url}/{topic}?{query}", timeout=10)
    assert response.status_code == 400
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    body = response.json()
    assert body["name"] == "InvalidFilterError"
    assert needle in body["message"]
    if position is not None:
        assert body["position"] == position
    assert "Traceback" not in response.text


def test_operators_can_turn_filters_off_or_shorten_them(serve, make_topic):
    topic = make_topic()
    off = serve({"allow_filters": False})
    response = requests.get(f"{off.url}/{topic}?filter=a", timeout=10)
    assert response.status_code == 400
    assert "does not accept ?filter=" in response.json()["message"]
    short = serve({"max_filter_length": 10})
    response = requests.get(f"{short.url}/{topic}?filter={'a' * 11}", timeout=10)
    assert response.status_code == 400
    assert "at most 10" in response.json()["message"]


# --- until and limit ---------------------------------------------------------------------------


@pytest.fixture
def three_partitions_one_quiet(kafka, make_topic):
    """Partitions 0 and 1 hold events before and after ``until``; partition 2 is empty."""
    topic = make_topic(partitions=3)
    base = now_ms() - 60_000
    until = base + 10_000
    for partition in (0, 1):
        for i in range(6):
            # Three before until, three at or after it.
            stamp = base + i * 4_000
            kafka.produce(topic, [{"p": partition, "i": i, "ts": stamp}], partition, stamp)
    return topic, until


def test_until_ends_the_stream_despite_a_quiet_partition_then_204(
    serve, three_partitions_one_quiet
):
    topic, until = three_partitions_one_quiet
    server = serve()
    url = f"{server.url}/{topic}?since=0&until={until}"
    began = time.monotonic()
    with SSEReader(url) as reader:
        events = reader.read_until_end(timeout_s=20)
    assert reader.ended
    # Ended by the replay, not by the reader's deadline or an idle poll (5 s by default).
    assert time.monotonic() - began < Options.DEFAULT_IDLE_DELAY_MS / 1000
    messages = [e for e in events if e["event"] == "message"]
    delivered = sorted((d["p"], d["i"]) for d in payloads_of(messages))
    assert delivered == [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2)]
    assert all(d["ts"] < until for d in payloads_of(messages))
    end = events[-1]
    assert end["event"] == "end"
    assert json.loads(end["data"]) == {"reason": "until"}
    assert offsets_by_partition(end["id"]) == {0: 3, 1: 3, 2: 0}
    # The browser reconnects with the final id: nothing left, 204 stops its EventSource.
    again = requests.get(url, headers={"Last-Event-ID": end["id"]}, timeout=10)
    assert again.status_code == 204
    assert again.content == b""


def test_until_in_the_future_ends_once_it_passes(serve, kafka, make_topic):
    topic = make_topic(partitions=3)
    server = serve()
    until = now_ms() + 2_000
    with SSEReader(f"{server.url}/{topic}?until={until}", timeout_s=30) as reader:
        kafka.produce(topic, [{"live": 1}], partition=1)
        events = reader.read_until_end(timeout_s=25)
    assert reader.ended
    # Once until has passed, a quiet partition is done at its end offset: the stream ends
    # at the next poll (at most idle_delay_ms after), not never.
    assert now_ms() - until < Options.DEFAULT_IDLE_DELAY_MS + 3_000
    assert [e["event"] for e in events] == ["message", "end"]
    assert offsets_by_partition(events[-1]["id"]) == {0: 0, 1: 1, 2: 0}


def test_limit_ends_after_n_events_and_a_resume_continues(serve, kafka, make_topic):
    topic = make_topic(partitions=2)
    for partition in (0, 1):
        kafka.produce(topic, [{"p": partition, "i": i} for i in range(6)], partition)
    server = serve()
    url = f"{server.url}/{topic}?limit=4"
    seen = []
    last_id = from_start(topic, 2)
    for _ in range(3):
        with SSEReader(url, headers={"Last-Event-ID": last_id}) as reader:
            events = reader.read_until_end(timeout_s=20)
        assert reader.ended
        messages = [e for e in events if e["event"] == "message"]
        assert events[-1]["event"] == "end"
        assert json.loads(events[-1]["data"]) == {"reason": "event_limit"}
        # The final id is the last event's: a resume neither repeats nor skips one.
        assert events[-1]["id"] == messages[-1]["id"]
        seen += [(d["p"], d["i"]) for d in payloads_of(messages)]
        last_id = events[-1]["id"]
    assert len(seen) == 12
    assert sorted(seen) == [(p, i) for p in (0, 1) for i in range(6)]


def test_json_mode_replay_is_a_finite_complete_ndjson_body(serve, three_partitions_one_quiet):
    topic, until = three_partitions_one_quiet
    server = serve()
    response = requests.get(f"{server.url}/{topic}?since=0&until={until}", headers=JSON, timeout=20)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    records = ndjson(response)
    assert sorted((r["p"], r["i"]) for r in records) == [(p, i) for p in (0, 1) for i in range(3)]
    limited = requests.get(f"{server.url}/{topic}?since=0&limit=5", headers=JSON, timeout=20)
    assert len(ndjson(limited)) == 5


def test_until_before_since_is_a_204(serve, three_partitions_one_quiet):
    topic, until = three_partitions_one_quiet
    server = serve()
    response = requests.get(f"{server.url}/{topic}?since={until}&until={until}", timeout=10)
    assert response.status_code == 204


# --- progress ids ------------------------------------------------------------------------------


def after_first_event(raw: bytes) -> bytes:
    return raw.split(b"event: message\n", 1)[1].split(b"\n\n", 1)[1]


def test_progress_frame_moves_the_id_while_everything_is_filtered_out(serve, kafka, make_topic):
    topic = make_topic()
    kafka.produce(topic, [{"n": 0, "match": True}] + [{"n": n} for n in range(1, 301)])
    server = serve()
    url = f"{server.url}/{topic}?filter=match"
    interval = Options.DEFAULT_PROGRESS_INTERVAL_S
    with SSEReader(url, headers={"Last-Event-ID": from_start(topic, 1)}) as reader:
        [first] = reader.read(1)
        assert offsets_by_partition(first["id"]) == {0: 1}
        began = time.monotonic()
        deadline = began + interval + Options.DEFAULT_IDLE_DELAY_MS / 1000 + 3
        while b"id: " not in after_first_event(reader.raw):
            assert time.monotonic() < deadline, reader.raw[-500:]
            assert reader._read_chunk()
        waited = time.monotonic() - began
    after = after_first_event(reader.raw).decode()
    frame = after[after.index("id: ") :].split("\n\n", 1)[0]
    # An id line alone: no data, so no message event; the id is past all 300 dropped.
    assert frame.split("\n") == [f'id: [{{"topic":"{topic}","partition":0,"offset":301}}]']
    assert "data:" not in after
    # Not sooner than the interval (at most one frame per interval).
    assert waited >= interval - 0.5


EVENTS = 10_000


def test_a_progress_frame_never_runs_ahead_of_events_still_being_made(serve, kafka, make_topic):
    """A hook that waits lends the processing slot out mid-batch; if the heartbeat fires
    then, the positions already include records whose events are not queued yet: an id
    frame sent then would let a resume skip them."""
    from tests.support.apps import SLOW_HOOK_S

    topic = make_topic()
    # Heartbeats every second (the subject here), shorter than the hook's wait.
    server = serve({"deserializer": "slow_on_n4", "heartbeat_interval_s": 1})
    url = f"{server.url}/{topic}?filter={quote('n > `2`')}"
    with SSEReader(url, timeout_s=30) as reader:
        # Right after a heartbeat, so the next one comes while the hook waits.
        reader.wait_comments(2)
        kafka.produce(topic, [{"n": n} for n in range(3)])  # all dropped: the id is behind
        time.sleep(0.3)  # a poll of their own
        kafka.produce(topic, [{"n": 3}, {"n": 4}, {"n": 5}])  # n=3 made, then n=4 waits
        events = reader.read(3, timeout_s=SLOW_HOOK_S + 10)
    assert [json.loads(e["data"])["n"] for e in events] == [3, 4, 5]
    # Every frame in order: an id-only frame must not name a position an event after it
    # still needs (that event's own id would then be no greater than the frame's).
    frames = [block for block in reader.raw.decode().split("\n\n") if "id: " in block]
    offsets = [
        (("data:" in f), offsets_by_partition(f.split("id: ", 1)[1].split("\n")[0])[0])
        for f in frames
    ]
    for i, (is_event, offset) in enumerate(offsets):
        if not is_event:
            later = [o for event, o in offsets[i + 1 :] if event]
            assert all(o > offset for o in later), offsets


def test_cut_and_resume_with_a_1_percent_filter_has_no_gap_or_duplicate(serve, kafka, make_topic):
    topic = make_topic(partitions=2)
    for partition in (0, 1):
        kafka.produce(
            topic, [{"p": partition, "n": n, "hit": n % 100 == 7} for n in range(EVENTS)], partition
        )
    server = serve()
    url = f"{server.url}/{topic}?filter=hit"
    rng = random.Random(3)
    last_id = from_start(topic, 2)
    seen: list[tuple[int, int]] = []
    cuts = 0
    want = sorted((p, n) for p in (0, 1) for n in range(EVENTS) if n % 100 == 7)
    while len(seen) < len(want) and cuts < 1000:
        with SSEReader(url, headers={"Last-Event-ID": last_id}) as reader:
            events = reader.read(rng.choice([1, 1, 2]), timeout_s=10)
        # Resume as a browser does: from the last id received whole.
        for event in events:
            seen.append((json.loads(event["data"])["p"], json.loads(event["data"])["n"]))
            last_id = event["id"]
        cuts += 1
    assert cuts >= 100
    assert len(seen) == len(set(seen)), "duplicates"
    assert sorted(seen) == want, "gaps"


# --- fuzz over HTTP ----------------------------------------------------------------------------

HTTP_FUZZ_EXAMPLES = 500


@pytest.fixture(scope="module")
def fuzz_target(kafka, kafka_bootstrap, tmp_path_factory):
    """A server and a topic of 20 awkward events: a fuzzed filter's replay ends by itself."""
    from tests.support.kafka import unique_topic
    from tests.support.servers import start_gevent_server

    topic = kafka.create_topic(unique_topic("filter-fuzz"), 1, {"retention.ms": "-1"})
    kafka.produce(topic, make_events(20, seed=5))
    config = {"options": {"kafka_config": {"bootstrap_servers": kafka_bootstrap}}}
    server = start_gevent_server(config, log_path=tmp_path_factory.mktemp("fuzz") / "server.log")
    yield server, topic, now_ms() + 1
    server.stop()
    kafka.delete_topics([topic])


@pytest.mark.slow
@pytest.mark.timeout(300)
@settings(
    max_examples=HTTP_FUZZ_EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(text=expressions)
def test_fuzzed_filters_over_http_are_a_stream_or_a_400_never_a_5xx(fuzz_target, text):
    server, topic, until = fuzz_target
    url = f"{server.url}/{topic}?since=0&until={until}&filter={quote(text, safe='')}"
    began = time.monotonic()
    response = requests.get(url, headers=JSON, timeout=30)
    elapsed = time.monotonic() - began
    assert response.status_code in (200, 400), response.text[:300]
    assert "Traceback" not in response.text and 'File "' not in response.text
    if response.status_code == 400:
        assert response.json()["name"] == "InvalidFilterError"
    else:
        assert len(ndjson(response)) <= 20  # a finite replay: every event at most once
    # Setup (a consumer, metadata, offsets) plus 20 events; an evaluation is bounded by
    # MAX_STEPS, far below this on any expression.
    assert elapsed < 5, (text, elapsed)
