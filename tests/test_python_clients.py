"""The Python SSE clients people already use, against a real server and broker.

Each client is the snippet the docs show (``examples/clients/``), imported here, so the docs
cannot drift from what is tested: pywikibot's ``EventStreams``, requests-sse, sseclient-py over
``requests``, httpx-sse sync and async. Every snippet's ``follow(url, last_event_id)`` yields
``(id, event)`` per message, resumes when the server ends a stream and returns when a bounded
replay is done. The clients share their topics (each reads them from the start) and servers.
"""

from __future__ import annotations

import asyncio
import http.server
import importlib.util
import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import requests

from tests.support.kafka import KafkaHelper, unique_topic
from tests.support.servers import ROOT, Server, start_gevent_server

PARTITIONS = 3
#: Server-ended streams (the subject of the resume test): short, so a few fit in a test.
LIFETIME_S = 1.0
#: The ``retry:`` spread of those ends, kept short so five clients resume quickly.
SPREAD_MS = 200
#: Events a second per partition while a lifetime stream flows, and for how many lifetimes.
FLOW_RATE = 10.0
FLOW_LIFETIMES = 4.0
#: Text that line-based parsers get wrong: line breaks of every kind (escaped in the JSON,
#: except U+2028 and NEL, sent raw), and characters outside ASCII.
TRICKY = "première ligne\nseconde\r\ntroisième\r— 日本語 🚀 \u2028 after LS, \x85 after NEL"
SINCE_START = "1970-01-01T00:00:00Z"

Follow = Callable[[str, str | None], Iterator[tuple[str, Any]]]


def _load(name: str) -> ModuleType:
    """A snippet of the docs' clients page, imported from its file."""
    path = ROOT / "examples" / "clients" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"client_snippets.{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def pywikibot_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """pywikibot reads its config folder at import: an empty ``user-config.py`` will do."""
    folder = tmp_path_factory.mktemp("pywikibot")
    (folder / "user-config.py").write_text("")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PYWIKIBOT_DIR", str(folder))
        yield folder


def _sync(events: Any) -> Iterator[tuple[str, Any]]:
    """Step an async generator from sync code, one event at a time (between steps the test
    produces, as it does between the other clients' events)."""
    loop = asyncio.new_event_loop()
    try:
        while True:
            try:
                yield loop.run_until_complete(events.__anext__())
            except StopAsyncIteration:
                return
    finally:
        loop.run_until_complete(events.aclose())
        loop.close()


@pytest.fixture(scope="module")
def clients(pywikibot_dir: Path) -> dict[str, Follow]:
    """``follow(url, last_event_id)`` for each client, on its snippet."""
    wiki = _load("pywikibot_eventstreams")
    plain = {
        name: _load(module).follow
        for name, module in {
            "requests-sse": "requests_sse_client",
            "sseclient-py": "sseclient_requests",
            "httpx-sse": "httpx_sse_client",
        }.items()
    }
    httpx_async = _load("httpx_sse_async").follow

    def pywikibot(url: str, last_event_id: str | None) -> Iterator[Any]:
        # ``retry=``: pywikibot's own wait (doubled) before a reconnection the server gave no
        # hint for (after a bounded replay's end), 5 s unless set.
        return wiki.follow(
            wiki.kafkasse_site(url.rsplit("/", 1)[0]),  # the family names the server
            url=url,
            latest_event_id=last_event_id,
            retry=500,
        )

    followers: dict[str, Follow] = {"pywikibot": pywikibot, **plain}
    followers["httpx-sse async"] = lambda url, last: _sync(httpx_async(url, last))
    return followers


CLIENTS = ["pywikibot", "requests-sse", "sseclient-py", "httpx-sse", "httpx-sse async"]


@pytest.fixture(scope="module")
def server(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Default options."""
    config = {"options": {"kafka_config": {"bootstrap_servers": kafka_bootstrap}}}
    log = tmp_path_factory.mktemp("server") / "server.log"
    running = start_gevent_server(config, log_path=log)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def lifetime_server(
    kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Server, Path]]:
    """Streams end after ``LIFETIME_S``; its log tells how many ended so."""
    options = {
        "kafka_config": {"bootstrap_servers": kafka_bootstrap},
        "max_stream_lifetime_s": LIFETIME_S,
        "reconnect_spread_ms": SPREAD_MS,
    }
    log = tmp_path_factory.mktemp("lifetime") / "server.log"
    running = start_gevent_server({"options": options}, log_path=log)
    yield running, log
    running.stop()


def ended_by_lifetime(log: Path) -> int:
    return log.read_text().count("stream ended (limit)")


class Feed:
    """A topic of 3 partitions and what was produced to each, in order."""

    def __init__(self, kafka: KafkaHelper, prefix: str) -> None:
        self.kafka = kafka
        self.topic = kafka.create_topic(unique_topic(prefix), PARTITIONS)
        self.sent: dict[int, list[dict[str, Any]]] = {p: [] for p in range(PARTITIONS)}

    def produce(self, tag: str, per_partition: int, timestamp_ms: int | None = None) -> None:
        for partition in range(PARTITIONS):
            values = [
                {"tag": tag, "p": partition, "n": len(self.sent[partition]) + i, "text": TRICKY}
                for i in range(per_partition)
            ]
            self.kafka.produce(self.topic, values, partition=partition, timestamp_ms=timestamp_ms)
            self.sent[partition].extend(values)

    def total(self) -> int:
        return sum(len(values) for values in self.sent.values())


def by_partition(events: list[Any]) -> dict[int, list[dict[str, Any]]]:
    """What a client received, per partition, without ``_kafka`` (checked apart)."""
    seen: dict[int, list[dict[str, Any]]] = {p: [] for p in range(PARTITIONS)}
    for event in events:
        kafka = event.pop("_kafka")
        assert kafka["partition"] == event["p"], event
        seen[kafka["partition"]].append(event)
    return seen


@pytest.fixture(scope="module")
def live_feed(kafka: KafkaHelper) -> Iterator[Feed]:
    feed = Feed(kafka, "clients-live")
    feed.produce("before", 3)
    yield feed
    kafka.delete_topics([feed.topic])


@pytest.fixture(scope="module")
def flowing_feed(kafka: KafkaHelper) -> Iterator[Feed]:
    feed = Feed(kafka, "clients-flow")
    yield feed
    kafka.delete_topics([feed.topic])


@pytest.mark.parametrize("client", CLIENTS)
def test_client_gets_events_from_before_and_during_its_stream_once_each_in_order(
    client, clients, server, live_feed
):
    """From the start of the topic (``since``), then events produced while it reads."""
    feed = live_feed
    before = feed.total()
    received: list[Any] = []
    for _, event in clients[client](f"{server.url}/{feed.topic}?since={SINCE_START}", None):
        received.append(event)
        if len(received) == before:
            feed.produce(f"during {client}", 2)
        if len(received) == feed.total():
            break
    assert by_partition(received) == feed.sent


def test_pywikibot_filters_on_kafka_metadata(clients, pywikibot_dir, server, live_feed):
    """``register_filter`` sees the whole event, ``_kafka`` included."""
    from pywikibot.comms.eventstreams import EventStreams

    wiki = _load("pywikibot_eventstreams")
    stream = EventStreams(
        site=wiki.kafkasse_site(server.url), streams=live_feed.topic, since=SINCE_START
    )
    stream.register_filter(lambda change: change["_kafka"]["partition"] == 1)
    stream.set_maximum_items(len(live_feed.sent[1]))
    changes = list(stream)
    assert [change["_kafka"]["partition"] for change in changes] == [1] * len(changes)
    assert [change["n"] for change in changes] == [e["n"] for e in live_feed.sent[1]]


@pytest.mark.parametrize("client", CLIENTS)
def test_client_resumes_exactly_across_streams_the_server_ends(
    client, clients, lifetime_server, flowing_feed
):
    """Events flow for several ``max_stream_lifetime_s``: no stream lasts that long, so the
    client resumes with its last id several times, and loses and repeats nothing."""
    server, log = lifetime_server
    ends_before = ended_by_lifetime(log)
    feed = flowing_feed
    flow_s = LIFETIME_S * FLOW_LIFETIMES
    count = int(flow_s * FLOW_RATE)
    expected = feed.total() + count * PARTITIONS

    def flow() -> None:
        for _ in range(count):
            feed.produce(client, 1)
            time.sleep(1 / FLOW_RATE)

    producer = threading.Thread(target=flow, daemon=True)
    received: list[Any] = []
    began = time.monotonic()
    producer.start()
    try:
        for _, event in clients[client](f"{server.url}/{feed.topic}?since={SINCE_START}", None):
            received.append(event)
            if len(received) >= expected:
                break
    finally:
        producer.join(30)
    took = time.monotonic() - began
    assert by_partition(received) == feed.sent
    # The last events were produced after ``flow_s``, four lifetimes: the server ended at
    # least two of this client's streams on the way (a client waits up to a lifetime apart).
    assert took >= flow_s >= 4 * LIFETIME_S
    assert ended_by_lifetime(log) - ends_before >= 2


@pytest.fixture(scope="module")
def replay_feed(kafka: KafkaHelper) -> Iterator[tuple[Feed, int]]:
    """Four events per partition, a second apart in their timestamps; ``until`` falls
    between the third and the fourth."""
    feed = Feed(kafka, "clients-replay")
    base = int(time.time() * 1000) - 3_600_000
    for i in range(4):
        feed.produce(f"t{i}", 1, timestamp_ms=base + i * 1000)
    yield feed, base + 2500
    kafka.delete_topics([feed.topic])


@pytest.mark.parametrize("client", CLIENTS)
def test_client_ends_with_a_bounded_replay_and_its_resume_gets_204(
    client, clients, server, replay_feed
):
    feed, until = replay_feed
    url = f"{server.url}/{feed.topic}?since={SINCE_START}&until={until}"
    began = time.monotonic()
    received = list(clients[client](url, None))
    events = [event for _, event in received]
    assert by_partition(events) == {p: sent[:3] for p, sent in feed.sent.items()}
    final_id = received[-1][0]
    assert list(clients[client](url, final_id)) == []
    # The server says so with a 204, which every client takes as the end.
    response = requests.get(url, headers={"Last-Event-ID": final_id}, timeout=10)
    assert response.status_code == 204
    print(f"\n{client}: replay and its 204 in {time.monotonic() - began:.1f}s")
    assert json.loads(final_id) == [
        {"topic": feed.topic, "partition": p, "offset": 3} for p in range(PARTITIONS)
    ]


#: The ``retry:`` hint of the canned stream below, and a bound on a reconnection that honours
#: it: without a hint each client waits 1 s or more (requests-sse 5 s doubled, the httpx-sse
#: snippets 1 s, pywikibot as set up here 0.5 s doubled).
CANNED_RETRY_MS = 10
HONOURED_WITHIN_S = 0.8
#: A stream that opens with an id-only frame (a start position, as browsers tolerate), one
#: message, then a ``retry:`` hint, another id-only frame and the end a server gives a stream.
ID_ONLY_FRAMES = (
    b":ok\n\nid: START\n\n"
    b'event: message\nid: ONE\ndata: {"n": 1}\n\n'
    b"retry: %d\n\nid: TWO\n\n:end: limit\n\n" % CANNED_RETRY_MS
)


class _CannedStream(http.server.BaseHTTPRequestHandler):
    """``ID_ONLY_FRAMES`` to a first request, 204 to a resume; notes each resume's id and how
    long after the end of the stream it came."""

    ended_at: list[float] = []
    resumes: list[tuple[str, float]] = []

    def do_GET(self) -> None:
        last_event_id = self.headers.get("Last-Event-ID")
        if last_event_id:
            self.resumes.append((last_event_id, time.monotonic() - self.ended_at[-1]))
            self.send_response(204)
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.end_headers()
        self.wfile.write(ID_ONLY_FRAMES)
        self.wfile.flush()
        self.ended_at.append(time.monotonic())

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def canned_stream() -> Iterator[str]:
    _CannedStream.ended_at, _CannedStream.resumes = [], []
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _CannedStream)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/topic"
    httpd.shutdown()
    httpd.server_close()


#: The id each client resumes with after a stream whose last frame has an id and no data.
RESUMES_WITH = {
    "pywikibot": "TWO",
    "requests-sse": "TWO",
    "sseclient-py": "ONE",  # it drops blocks without data, their ids too
    "httpx-sse": "TWO",
    "httpx-sse async": "TWO",
}


@pytest.mark.parametrize("client", CLIENTS)
def test_client_tolerates_id_only_frames_and_honours_retry(client, clients, canned_stream):
    """A frame with an id and no data (a start position, progress under a filter) is no
    event: the client yields only the message, and resumes from the latest id it tracks,
    after the server's ``retry:`` hint (sseclient-py sees neither: its snippet's own wait)."""
    assert list(clients[client](canned_stream, None)) == [("ONE", {"n": 1})]
    resumed_with, waited_s = _CannedStream.resumes[0]
    assert resumed_with == RESUMES_WITH[client]
    if client == "sseclient-py":
        assert waited_s >= _load("sseclient_requests").RECONNECT_DELAY_S
    else:
        assert waited_s < HONOURED_WITHIN_S
