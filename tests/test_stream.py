"""The core stream against a real broker, through a real gevent WSGIServer, with real HTTP
clients: everything the Node KafkaSSE does (its own test cases first), then what it gets
wrong and we fix."""

from __future__ import annotations

import json
import time

import pytest
import requests

from kafkasse_wsgi.options import Options
from tests.support.clients import SSEReader, collect_events, data_of, read_json_lines

HEARTBEAT_S = 0.5


def ids(events):
    return [json.loads(e["id"]) for e in events]


def payloads(events):
    return [json.loads(e["data"]) for e in events]


@pytest.fixture
def server(serve):
    """KafkaSSE as a WSGI app with quick heartbeats."""
    return serve({"heartbeat_interval_s": HEARTBEAT_S})


def offset_assignments(*topics_partitions, offset=0):
    return json.dumps(
        [{"topic": t, "partition": p, "offset": offset} for t, p in topics_partitions]
    )


# --- The Node original's own cases ---------------------------------------------------------


def test_connect_answers_200_with_ok_comment_and_sse_headers(server, make_topic):
    topic = make_topic()
    with SSEReader(f"{server.url}/{topic}", headers={"X-Request-ID": "req-123"}) as reader:
        assert reader.status == 200
        reader.wait_comments(1, timeout_s=5)
        assert reader.raw.startswith(b":ok\n\n")
        headers = reader.response.headers
        assert headers["Content-Type"] == "text/event-stream; charset=utf-8"
        assert headers["Cache-Control"] == "no-cache"
        assert headers["X-Accel-Buffering"] == "no"
        assert headers["X-Request-ID"] == "req-123"


@pytest.mark.parametrize("count", [1, 2])
def test_consume_messages_from_offset_zero(server, kafka, make_topic, count):
    topic = make_topic()
    kafka.produce(topic, [{"n": i} for i in range(count)])
    events = collect_events(
        f"{server.url}/{topic}", count, last_event_id=offset_assignments((topic, 0))
    )
    assert [d["n"] for d in data_of(events)] == list(range(count))
    assert [d["_kafka"]["offset"] for d in data_of(events)] == list(range(count))


def test_consume_three_messages_from_two_topics_from_offset_zero(server, kafka, make_topic):
    first, second = make_topic(), make_topic()
    kafka.produce(first, [{"n": 0}, {"n": 1}])
    kafka.produce(second, [{"n": 2}])
    with SSEReader(
        f"{server.url}/{first},{second}",
        headers={"Last-Event-ID": offset_assignments((first, 0), (second, 0))},
    ) as reader:
        events = reader.read(3)
    got = sorted((d["_kafka"]["topic"], d["n"]) for d in payloads(events))
    assert got == sorted([(first, 0), (first, 1), (second, 2)])
    # The last id carries both topics' next offsets.
    last = {(p["topic"], p["partition"]): p["offset"] for p in ids(events)[-1]}
    assert last == {(first, 0): 2, (second, 0): 1}


def test_consume_from_a_timestamp_600_seconds_ago(serve, kafka, make_topic):
    topic = make_topic()
    now = int(time.time() * 1000)
    kafka.produce(topic, [{"n": 0}], timestamp_ms=now - 1_200_000)
    kafka.produce(topic, [{"n": 1}, {"n": 2}], timestamp_ms=now - 300_000)
    server = serve({"heartbeat_interval_s": HEARTBEAT_S})
    with SSEReader(f"{server.url}/{topic}?since={now - 600_000}") as reader:
        events = reader.read(2)
    assert [d["n"] for d in payloads(events)] == [1, 2]


def test_bad_data_is_skipped_and_the_stream_goes_on(server, kafka, make_topic):
    topic = make_topic()
    kafka.produce(topic, [{"n": 0}, b"\xff not json", "also {not json", {"n": 3}])
    with SSEReader(
        f"{server.url}/{topic}", headers={"Last-Event-ID": offset_assignments((topic, 0))}
    ) as reader:
        events = reader.read(2)
    assert [d["n"] for d in payloads(events)] == [0, 3]
    assert ids(events)[-1] == [{"topic": topic, "partition": 0, "offset": 4}]


def test_unavailable_topic_is_404(server, make_topic):
    make_topic()  # with no topic at all the server is misconfigured: that is a 500 (below)
    response = requests.get(f"{server.url}/no-such-topic-here", timeout=10)
    assert response.status_code == 404
    body = response.json()
    assert body["name"] == "TopicNotAvailableError"
    assert body["origin"] == "KafkaSSE"
    assert "Traceback" not in response.text


def test_not_allowed_topic_is_404_and_indistinguishable_from_missing(serve, make_topic):
    allowed, forbidden = make_topic(), make_topic()
    server = serve({"allowed_topics": [allowed], "heartbeat_interval_s": HEARTBEAT_S})
    refused = requests.get(f"{server.url}/{forbidden}", timeout=10)
    missing = requests.get(f"{server.url}/{allowed}-missing", timeout=10)
    assert refused.status_code == missing.status_code == 404
    assert refused.json()["name"] == missing.json()["name"] == "TopicNotAvailableError"
    assert set(refused.json()) == set(missing.json())


def test_unparseable_last_event_id_is_400(server, make_topic):
    topic = make_topic()
    response = requests.get(f"{server.url}/{topic}", headers={"Last-Event-ID": "{nope"}, timeout=10)
    assert response.status_code == 400
    assert response.json()["name"] == "InvalidAssignmentError"


@pytest.mark.parametrize(
    "last_event_id",
    [
        '[{"topic": "x", "partition": "zero", "offset": 1}]',
        '[{"partition": 0, "offset": 1}]',
        '[{"topic": "x", "partition": -1, "offset": 1}]',
        '{"topic": "x", "partition": 0}',
        "[42]",
        "[]",
    ],
)
def test_invalid_assignments_in_last_event_id_are_400(server, make_topic, last_event_id):
    topic = make_topic()
    response = requests.get(
        f"{server.url}/{topic}", headers={"Last-Event-ID": last_event_id}, timeout=10
    )
    assert response.status_code == 400, response.text
    assert response.json()["name"] == "InvalidAssignmentError"


def test_unavailable_and_not_allowed_topics_with_a_last_event_id_are_404(serve, make_topic):
    """The path decides the topics (an id naming others is a 400, see
    test_request_contract.py); a forbidden or missing one is a 404 with an id as without."""
    allowed, forbidden = make_topic(), make_topic()
    server = serve({"allowed_topics": [allowed], "heartbeat_interval_s": HEARTBEAT_S})
    for topic in (forbidden, f"{allowed}-missing"):
        response = requests.get(
            f"{server.url}/{topic}",
            headers={"Last-Event-ID": offset_assignments((topic, 0))},
            timeout=10,
        )
        assert response.status_code == 404, topic
    # A partition that does not exist is unavailable too.
    response = requests.get(
        f"{server.url}/{allowed}",
        headers={"Last-Event-ID": offset_assignments((allowed, 7))},
        timeout=10,
    )
    assert response.status_code == 404


def test_latest_sends_only_what_arrives_after_connecting(server, kafka, make_topic):
    topic = make_topic()
    kafka.produce(topic, [{"n": 0}, {"n": 1}])
    with SSEReader(f"{server.url}/{topic}") as reader:
        reader.wait_comments(1)
        kafka.produce(topic, [{"n": 2}])
        events = reader.read(1)
    assert [d["n"] for d in payloads(events)] == [2]


def test_custom_deserializer(serve, kafka, make_topic):
    topic = make_topic()
    kafka.produce(topic, [{"n": 5}])
    server = serve({"deserializer": "upper_deserializer", "heartbeat_interval_s": HEARTBEAT_S})
    with SSEReader(
        f"{server.url}/{topic}", headers={"Last-Event-ID": offset_assignments((topic, 0))}
    ) as reader:
        events = reader.read(1)
    assert payloads(events) == [{"custom": True, "n": 5, "offset": 0}]


def test_custom_filter_drops_messages_but_their_offsets_advance(serve, kafka, make_topic):
    topic = make_topic()
    kafka.produce(topic, [{"n": i} for i in range(5)])
    server = serve({"filterer": "even_filter", "heartbeat_interval_s": HEARTBEAT_S})
    with SSEReader(
        f"{server.url}/{topic}", headers={"Last-Event-ID": offset_assignments((topic, 0))}
    ) as reader:
        events = reader.read(3)
    assert [d["n"] for d in payloads(events)] == [0, 2, 4]
    assert ids(events)[1] == [{"topic": topic, "partition": 0, "offset": 3}]


def test_filter_that_raises_sends_an_error_event_and_ends_the_stream(serve, kafka, make_topic):
    topic = make_topic()
    kafka.produce(topic, [{"n": i} for i in range(4)])
    server = serve({"filterer": "exploding_filter", "heartbeat_interval_s": HEARTBEAT_S})
    with SSEReader(
        f"{server.url}/{topic}", headers={"Last-Event-ID": offset_assignments((topic, 0))}
    ) as reader:
        events = reader.read_until_end(timeout_s=15)
    assert [e["event"] for e in events] == ["message", "message", "error"]
    error = json.loads(events[-1]["data"])
    assert error["name"] == "FilterError" and error["origin"] == "KafkaSSE"
    # The error carries the position of what was really sent: a resume retries message 2.
    assert json.loads(events[-1]["id"]) == [{"topic": topic, "partition": 0, "offset": 2}]


def test_timestamp_ids(serve, kafka, make_topic):
    topic = make_topic()
    base = int(time.time() * 1000) - 60_000
    kafka.produce(topic, [{"n": 0}], timestamp_ms=base)
    kafka.produce(topic, [{"n": 1}], timestamp_ms=base + 10)
    server = serve({"use_timestamp_for_id": True, "heartbeat_interval_s": HEARTBEAT_S})
    with SSEReader(f"{server.url}/{topic}?since={base}") as reader:
        events = reader.read(2)
    assert ids(events) == [
        [{"topic": topic, "partition": 0, "timestamp": base + 1}],
        [{"topic": topic, "partition": 0, "timestamp": base + 11}],
    ]
    # Resuming from the first id continues with the second message.
    with SSEReader(f"{server.url}/{topic}", headers={"Last-Event-ID": events[0]["id"]}) as reader:
        assert [d["n"] for d in payloads(reader.read(1))] == [1]


# --- Exact resume, fixed where the original loses events ------------------------------------


def test_ids_start_with_concrete_offsets_never_minus_one(server, kafka, make_topic):
    """Regression: the Node original sent -1 for partitions that had sent nothing yet, so a
    reconnect restarted them at "latest" and lost what they received meanwhile."""
    topic = make_topic(partitions=2)
    kafka.produce(topic, [{"n": 0}, {"n": 1}], partition=1)
    with SSEReader(f"{server.url}/{topic}") as reader:
        reader.wait_comments(1)
        kafka.produce(topic, [{"n": 2}], partition=0)
        events = reader.read(1)
    assert ids(events)[0] == [
        {"topic": topic, "partition": 0, "offset": 1},
        {"topic": topic, "partition": 1, "offset": 2},
    ]


def test_resume_skips_nothing_on_quiet_partition(server, kafka, make_topic):
    """Read k events, disconnect, reconnect with the last id: the concatenation equals what
    was produced, on 3 partitions, one of them quiet until after the disconnect."""
    topic = make_topic(partitions=3)
    for i in range(6):
        kafka.produce(topic, [{"p": i % 2, "seq": i // 2}], partition=i % 2)
    start = offset_assignments((topic, 0), (topic, 1), (topic, 2))
    first = collect_events(f"{server.url}/{topic}", 4, last_event_id=start)
    last_id = first[-1].last_event_id
    assert {p["partition"]: p["offset"] for p in json.loads(last_id)}[2] == 0
    # While disconnected: more on the busy partitions, and the quiet one wakes up.
    kafka.produce(topic, [{"p": 2, "seq": 0}, {"p": 2, "seq": 1}], partition=2)
    kafka.produce(topic, [{"p": 0, "seq": 3}], partition=0)
    second = collect_events(f"{server.url}/{topic}", 5, last_event_id=last_id)
    seen: dict[int, list[int]] = {0: [], 1: [], 2: []}
    for item in data_of(first) + data_of(second):
        seen[item["p"]].append(item["seq"])
    assert seen == {0: [0, 1, 2, 3], 1: [0, 1, 2], 2: [0, 1]}


def test_a_stream_started_at_latest_resumes_exactly_including_a_quiet_partition(
    serve, kafka, make_topic
):
    """No id, no since (latest) on 3 partitions; events on 2; cut; meanwhile events on all 3:
    the resume sends exactly what was missed, on the quiet partition too (its id entry is
    the end offset the stream started at, not "latest" once more)."""
    topic = make_topic(partitions=3)
    for p in range(3):  # history before the stream: never sent
        kafka.produce(topic, [{"p": p, "seq": seq} for seq in range(3)], partition=p)
    server = serve()
    with SSEReader(f"{server.url}/{topic}") as reader:
        reader.wait_comments(1)  # ":ok": its start offsets are fixed
        kafka.produce(topic, [{"p": 0, "seq": 3}, {"p": 0, "seq": 4}], partition=0)
        kafka.produce(topic, [{"p": 1, "seq": 3}], partition=1)
        first = reader.read(3)
    last_id = first[-1]["id"]
    assert {e["partition"]: e["offset"] for e in json.loads(last_id)} == {0: 5, 1: 4, 2: 3}
    # While disconnected: every partition, the quiet one included.
    kafka.produce(topic, [{"p": 0, "seq": 5}], partition=0)
    kafka.produce(topic, [{"p": 1, "seq": 4}, {"p": 1, "seq": 5}], partition=1)
    kafka.produce(topic, [{"p": 2, "seq": 3}, {"p": 2, "seq": 4}], partition=2)
    with SSEReader(f"{server.url}/{topic}", headers={"Last-Event-ID": last_id}) as reader:
        second = reader.read(6, timeout_s=3)  # one more than expected: a duplicate shows
    seen: dict[int, list[int]] = {0: [], 1: [], 2: []}
    for item in payloads(first) + payloads(second):
        seen[item["p"]].append(item["seq"])
    assert seen == {0: [3, 4, 5], 1: [3, 4, 5], 2: [3, 4]}


def test_assignment_with_offset_and_timestamp_is_kept_and_offset_wins(serve, kafka, make_topic):
    """Regression: the original dropped assignments that had both offset and timestamp."""
    topic = make_topic()
    now = int(time.time() * 1000)
    kafka.produce(topic, [{"n": i} for i in range(3)], timestamp_ms=now)
    server = serve(
        mode="function",
        assignments=[{"topic": topic, "partition": 0, "offset": 1, "timestamp": now + 60_000}],
        options={"heartbeat_interval_s": HEARTBEAT_S},
    )
    with SSEReader(f"{server.url}/") as reader:
        events = reader.read(2)
    assert [d["n"] for d in payloads(events)] == [1, 2]


def test_timestamp_with_no_offset_yet_resolves_to_the_end_offset(
    serve, kafka, make_topic, tmp_path
):
    """Regression: a timestamp after the last message used to start nowhere in particular;
    it now starts at the end offset (said in the log) and receives what comes next."""
    topic = make_topic()
    kafka.produce(topic, [{"n": 0}, {"n": 1}])
    future = int(time.time() * 1000) + 3_600_000
    server = serve({"heartbeat_interval_s": HEARTBEAT_S})
    with SSEReader(f"{server.url}/{topic}?since={future}") as reader:
        reader.wait_comments(1)
        kafka.produce(topic, [{"n": 2}])
        events = reader.read(1)
    assert [d["n"] for d in payloads(events)] == [2]
    assert ids(events)[0] == [{"topic": topic, "partition": 0, "offset": 3}]
    log = (tmp_path / "server-0.log").read_text()
    assert "starting at its end offset 2" in log


# --- Modes, formats, lifecycle ---------------------------------------------------------------


def test_json_mode_sends_one_object_per_line(server, kafka, make_topic):
    topic = make_topic()
    kafka.produce(topic, [{"n": 0}, {"n": 1}])
    response = requests.get(
        f"{server.url}/{topic}",
        headers={"Accept": "application/json", "Last-Event-ID": offset_assignments((topic, 0))},
        stream=True,
        timeout=10,
    )
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    lines = read_json_lines(response, 2)
    assert [item["n"] for item in lines] == [0, 1]
    assert lines[0]["_kafka"] == {
        "topic": topic,
        "partition": 0,
        "offset": 0,
        "timestamp": lines[0]["_kafka"]["timestamp"],
        "key": None,
    }


@pytest.mark.serial  # headers within 100 ms of setup: no other test's load beside it
def test_json_mode_answers_at_once_on_an_idle_topic(serve, make_topic, tmp_path):
    """gevent sends the status and headers with the first body write, and JSON mode used
    to write nothing before the first record or heartbeat (15 s by default).

    Measured from the server's "stream started" log record (setup done, just before
    ``start_response``) to the client holding the headers: same machine, same clock."""
    server = serve()
    topic = make_topic()
    response = requests.get(
        f"{server.url}/{topic}", headers={"Accept": "application/json"}, stream=True, timeout=20
    )
    answered = time.time()
    try:
        assert response.status_code == 200
        assert response.headers["Content-Type"] == "application/json; charset=utf-8"
        assert response.raw.read(1) == b"\n"  # the JSON-mode heartbeat: readers skip it
    finally:
        response.close()
    started = [
        json.loads(line)
        for line in (tmp_path / "server-0.log").read_text().splitlines()
        if '"stream started' in line
    ]
    assert len(started) == 1
    stamp = started[0]["time"]  # asctime: local time with milliseconds
    setup_done = (
        time.mktime(time.strptime(stamp[:19], "%Y-%m-%d %H:%M:%S")) + int(stamp[20:23]) / 1000
    )
    assert answered - setup_done < 0.1


def test_iso8601_since(server, kafka, make_topic):
    """Timestamps are recent on purpose: older than the broker's retention (7 days), the
    test data could be deleted under the test."""
    topic = make_topic()
    hour_ago = (int(time.time()) - 3600) * 1000
    kafka.produce(topic, [{"n": 0}], timestamp_ms=hour_ago)
    kafka.produce(topic, [{"n": 1}], timestamp_ms=hour_ago + 100_000)
    since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(hour_ago / 1000 + 60))
    with SSEReader(f"{server.url}/{topic}?since={since}") as reader:
        events = reader.read(1)
    assert [d["n"] for d in payloads(events)] == [1]
    response = requests.get(f"{server.url}/{topic}?since=yesterday-ish", timeout=10)
    assert response.status_code == 400


def test_heartbeats_arrive_on_an_idle_stream(server, make_topic):
    topic = make_topic()
    with SSEReader(f"{server.url}/{topic}") as reader:
        began = time.monotonic()
        assert reader.wait_comments(4, timeout_s=10) >= 4  # ":ok" and three heartbeats
        assert time.monotonic() - began < 5


def test_consumer_connections_close_within_2s_after_the_client_leaves(
    serve, kafka, make_topic, broker_port, tmp_path
):
    """Idle streams with the default heartbeat (15 s): the server used to notice a client
    that left only at its next heartbeat write; now it watches the client's socket.

    Streams with consumers of their own (the subject; on the shared tail, the stream holds
    no connection and the hub's go ``tail_linger_s`` after its last client: see
    tests/test_shared_tail.py)."""
    from tests.support.servers import broker_connections

    server = serve({"shared_tail": False})
    topic = make_topic()
    readers = [SSEReader(f"{server.url}/{topic}") for _ in range(3)]
    for reader in readers:
        reader.wait_comments(1)  # ":ok": the stream is set up and idle
    assert broker_connections(server.pid, broker_port) >= 3
    for reader in readers:
        reader.close()
    deadline = time.monotonic() + 2
    while broker_connections(server.pid, broker_port) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert broker_connections(server.pid, broker_port) == 0
    state = requests.get(f"{server.url}/_debug", timeout=5).json()
    assert state["threads"] == 1, state
    log = (tmp_path / "server-0.log").read_text()
    assert log.count("stream ended (client_left)") == 3
    assert "Traceback" not in log


def test_a_kept_alive_connection_serves_the_next_request_after_a_stream_ends(
    serve, make_topic, tmp_path
):
    """The disconnect watcher reads the client's socket while the stream runs: it must let
    go of it before the server reads the next request on the same connection."""
    import http.client

    server = serve({"max_stream_lifetime_s": 0.5})
    topic = make_topic()
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        for _ in range(2):
            connection.request("GET", f"/{topic}")
            response = connection.getresponse()
            assert response.status == 200
            assert response.read().endswith(b":end: limit\n\n")
    finally:
        connection.close()
    log = (tmp_path / "server-0.log").read_text()
    assert log.count("stream ended (limit)") == 2
    assert "Traceback" not in log


def test_broker_lists_no_consumer_group_of_ours_after_streaming(server, kafka, make_topic):
    topic = make_topic()
    kafka.produce(topic, [{"n": 0}])
    collect_events(f"{server.url}/{topic}", 1, last_event_id=offset_assignments((topic, 0)))
    groups = kafka.consumer_groups()
    assert not [g for g in groups if "KafkaSSE" in g or topic in g], groups


def test_lifecycle_hooks_are_called_in_order(serve, kafka, make_topic, tmp_path):
    topic = make_topic()
    kafka.produce(topic, [{"n": 0}])
    record = tmp_path / "hooks.jsonl"
    server = serve({"heartbeat_interval_s": HEARTBEAT_S}, record_hooks=str(record))
    collect_events(f"{server.url}/{topic}", 1, last_event_id=offset_assignments((topic, 0)))
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        calls = (
            [json.loads(line) for line in record.read_text().splitlines()]
            if record.exists()
            else []
        )
        if calls and calls[-1]["event"] == "disconnected":
            break
        time.sleep(0.1)
    assert [c["event"] for c in calls] == ["connected", "assigned", "message", "disconnected"]
    assert calls[1]["detail"] == [{"topic": topic, "partition": 0, "offset": 0}]
    assert calls[2]["detail"] == [topic, 0, 0]


def test_librdkafka_style_config_carries_over(serve, kafka, make_topic, kafka_bootstrap):
    topic = make_topic()
    kafka.produce(topic, [{"n": 0}])
    server = serve(
        {
            "kafka_config": {
                "metadata.broker.list": kafka_bootstrap,
                "client.id": "node-style",
                "default_topic_config": {"auto.offset.reset": "smallest"},
            },
            "heartbeat_interval_s": HEARTBEAT_S,
        }
    )
    events = collect_events(
        f"{server.url}/{topic}", 1, last_event_id=offset_assignments((topic, 0))
    )
    assert data_of(events)[0]["n"] == 0


def test_allowed_topics_callable_decides_per_topic(serve, make_topic):
    """Regression (of the test): both topics shared the allowed prefix, so the refusal
    branch never ran. The callable now allows exactly one of two existing topics."""
    topic, other = make_topic(), make_topic()
    assert not other.startswith(topic)
    server = serve({"allowed_topics": {"prefix": topic}})
    with SSEReader(f"{server.url}/{topic}") as reader:
        assert reader.status == 200
    refused = requests.get(f"{server.url}/{other}", timeout=10)
    assert refused.status_code == 404
    assert refused.json()["name"] == "TopicNotAvailableError"


def test_an_allowed_topic_that_does_not_exist_yet_is_a_404(serve, make_topic):
    """Regression: an allowed topic not created yet was a 500 ConfigurationError ("no topic
    is available to stream") when no allowed topic existed, while asking for an existing one
    beside it gave a 404: a missing topic is a 404 either way."""
    existing = make_topic()
    missing = f"{existing}-not-created"
    server = serve({"allowed_topics": [missing, existing]})
    for path in (missing, f"{missing},{existing}"):
        response = requests.get(f"{server.url}/{path}", timeout=10)
        assert response.status_code == 404, (path, response.text)
        assert response.json()["name"] == "TopicNotAvailableError"
        assert "127.0.0.1" not in response.text
    only_missing = serve({"allowed_topics": [missing]})
    response = requests.get(f"{only_missing.url}/{missing}", timeout=10)
    assert response.status_code == 404, response.text
    assert response.json()["name"] == "TopicNotAvailableError"


def test_unreachable_brokers_answer_503_with_retry_after_quickly(serve):
    from tests.support.servers import free_port

    server = serve(
        {
            "kafka_config": {
                "bootstrap_servers": f"127.0.0.1:{free_port()}",
                "api_version_auto_timeout_ms": 1000,
            }
        }
    )
    began = time.monotonic()
    response = requests.get(f"{server.url}/anything", timeout=20)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert response.json()["name"] == "KafkaUnavailableError"
    assert time.monotonic() - began < 5
    assert "127.0.0.1" not in response.text


def test_many_concurrent_streams_in_one_process_then_nothing_leaks(
    server, kafka, make_topic, broker_port
):
    """kafka-python under gevent: 30 consumers at once in one worker, each gets everything,
    and after they end no thread, greenlet or broker connection is left behind."""
    from tests.support.servers import broker_connections

    topic = make_topic(partitions=2)
    before = requests.get(f"{server.url}/_debug", timeout=5).json()
    kafka.produce(topic, [{"n": i} for i in range(50)], partition=0)
    kafka.produce(topic, [{"n": i} for i in range(50, 100)], partition=1)
    start = offset_assignments((topic, 0), (topic, 1))
    readers = [
        SSEReader(f"{server.url}/{topic}", headers={"Last-Event-ID": start}) for _ in range(30)
    ]
    try:
        for reader in readers:
            got = reader.read(100, timeout_s=30)
            assert sorted(d["n"] for d in payloads(got)) == list(range(100))
    finally:
        for reader in readers:
            reader.close()
    # They handed off to the topic's shared tail, which closes tail_linger_s after them.
    deadline = time.monotonic() + Options.DEFAULT_TAIL_LINGER_S + 5
    while broker_connections(server.pid, broker_port) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert broker_connections(server.pid, broker_port) == 0
    after = requests.get(f"{server.url}/_debug", timeout=5).json()
    assert after["threads"] == before["threads"]
    assert after["greenlets"] <= before["greenlets"] + 2, (before, after)
