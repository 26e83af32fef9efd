"""Flask, Django and the middleware, each served by a real ``gunicorn -k gevent`` against the
real broker and read by real HTTP clients: the same stream through every framework's glue,
errors as JSON responses, and the consumer closed when the client leaves."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from tests.support.clients import SSEReader, collect_events, data_of, read_json_lines
from tests.support.framework_apps import CORS_ORIGIN, TOKEN, echo_app
from tests.support.servers import Server, broker_connections, start_gunicorn

#: (server, path prefix) of every way the frameworks serve ``<prefix>/<topics>``.
ENDPOINTS = [
    pytest.param(("flask", "/stream"), id="flask-view"),
    pytest.param(("flask", "/bp"), id="flask-blueprint"),
    pytest.param(("django", "/fn"), id="django-function-view"),
    pytest.param(("django", "/cbv"), id="django-class-view"),
    pytest.param(("middleware", "/stream"), id="middleware"),
    pytest.param(("plain", ""), id="kafkasse-app"),
]


def _gunicorn(factory: str, kafka_bootstrap: str, logs: Path, name: str) -> Iterator[Server]:
    server = start_gunicorn(
        f"tests.support.framework_apps:{factory}()",
        workers=1,
        env={"KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap},
        log_path=logs / f"{name}.log",
    )
    try:
        worker_pid(server)  # gunicorn answers connects before its worker is up
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("gunicorn")


@pytest.fixture(scope="module")
def flask_server(kafka_bootstrap: str, logs: Path) -> Iterator[Server]:
    yield from _gunicorn("flask_app", kafka_bootstrap, logs, "flask")


@pytest.fixture(scope="module")
def django_server(kafka_bootstrap: str, logs: Path) -> Iterator[Server]:
    yield from _gunicorn("django_app", kafka_bootstrap, logs, "django")


@pytest.fixture(scope="module")
def middleware_server(kafka_bootstrap: str, logs: Path) -> Iterator[Server]:
    yield from _gunicorn("middleware_app", kafka_bootstrap, logs, "middleware")


@pytest.fixture(scope="module")
def plain_server(kafka_bootstrap: str, logs: Path) -> Iterator[Server]:
    yield from _gunicorn("kafkasse_app", kafka_bootstrap, logs, "plain")


@pytest.fixture
def endpoint(request: pytest.FixtureRequest) -> Callable[[str], str]:
    """``endpoint(topics)`` → the URL that streams ``topics`` through one framework."""
    server_name, prefix = request.param
    server: Server = request.getfixturevalue(f"{server_name}_server")
    url = f"{server.url}{prefix}"
    fn = lambda topics: f"{url}/{topics}"  # noqa: E731
    fn.server = server  # type: ignore[attr-defined]
    fn.log = request.getfixturevalue("logs") / f"{server_name}.log"  # type: ignore[attr-defined]
    fn.server_name = server_name  # type: ignore[attr-defined]
    return fn


def worker_pid(server: Server, timeout_s: float = 10) -> int:
    """The pid of the single gunicorn worker: the child of the master process."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        children = _children(server.pid)
        if children:
            return children[0]
        time.sleep(0.05)
    raise TimeoutError(f"gunicorn {server.pid} has no worker after {timeout_s}s")


def _children(pid: int) -> list[int]:
    try:
        found = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True)
        return [int(p) for p in found.stdout.split()]
    except FileNotFoundError:  # no procps: read the parent pid of every process
        children = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                children.append(int(stat.parent.name))
        return children


def wait_connections(pid: int, port: int, until: Callable[[int], bool], timeout_s: float) -> int:
    deadline = time.monotonic() + timeout_s
    count = broker_connections(pid, port)
    while not until(count) and time.monotonic() < deadline:
        time.sleep(0.05)
        count = broker_connections(pid, port)
    return count


def from_offset_zero(topic: str, partitions: int) -> str:
    return json.dumps([{"topic": topic, "partition": p, "offset": 0} for p in range(partitions)])


# --- The same stream through every framework -------------------------------------------------


@pytest.mark.parametrize("endpoint", ENDPOINTS, indirect=True)
def test_stream_starts_with_ok_comment_and_sse_headers(endpoint, make_topic):
    topic = make_topic()
    with SSEReader(endpoint(topic), headers={"X-Request-ID": "fw-1"}) as reader:
        assert reader.status == 200
        reader.wait_comments(1, timeout_s=5)
        assert reader.raw.startswith(b":ok\n\n")
        headers = reader.response.headers
    assert headers["Content-Type"] == "text/event-stream; charset=utf-8"
    assert headers["Cache-Control"] == "no-cache"
    assert headers["X-Accel-Buffering"] == "no"
    assert headers["X-Request-ID"] == "fw-1"
    assert "Content-Length" not in headers


@pytest.mark.parametrize("endpoint", ENDPOINTS, indirect=True)
def test_resume_with_last_event_id_has_no_gap_and_no_duplicate(endpoint, kafka, make_topic):
    topic = make_topic(partitions=2)
    for n in range(6):
        kafka.produce(topic, [{"n": n}], partition=n % 2)
    first = collect_events(endpoint(topic), 4, last_event_id=from_offset_zero(topic, 2))
    # Produced while nobody listens: the resume must start exactly after what was sent.
    for n in range(6, 10):
        kafka.produce(topic, [{"n": n}], partition=n % 2)
    second = collect_events(endpoint(topic), 6, last_event_id=first[-1].last_event_id)
    received = [d["n"] for d in data_of(first) + data_of(second)]
    assert sorted(received) == list(range(10))
    assert len(received) == 10


@pytest.mark.parametrize("endpoint", ENDPOINTS, indirect=True)
def test_since_in_the_query_starts_at_that_time(endpoint, kafka, make_topic):
    topic = make_topic()
    now = int(time.time() * 1000)
    kafka.produce(topic, [{"n": 0}], timestamp_ms=now - 120_000)
    kafka.produce(topic, [{"n": 1}], timestamp_ms=now - 30_000)
    events = collect_events(f"{endpoint(topic)}?since={now - 60_000}", 1)
    assert [d["n"] for d in data_of(events)] == [1]


@pytest.mark.parametrize("endpoint", ENDPOINTS, indirect=True)
def test_repeated_since_the_last_one_counts(endpoint, kafka, make_topic):
    """Regression: the Flask helpers took the first ``since``, everything else the last."""
    topic = make_topic()
    now = int(time.time() * 1000)
    kafka.produce(topic, [{"n": 0}], timestamp_ms=now - 120_000)
    kafka.produce(topic, [{"n": 1}], timestamp_ms=now - 30_000)
    events = collect_events(f"{endpoint(topic)}?since={now - 60_000}&since={now - 180_000}", 1)
    assert [d["n"] for d in data_of(events)] == [0]


@pytest.mark.parametrize("endpoint", ENDPOINTS, indirect=True)
def test_last_event_id_cannot_open_a_topic_the_view_did_not_ask_for(endpoint, kafka, make_topic):
    """Regression: a ``Last-Event-ID`` replaced the view's topics, so a view streaming
    ``public`` streamed any other topic named in the header (the default allow-list admits
    it)."""
    public, secret = make_topic(), make_topic()
    kafka.produce(secret, [{"secret": True}])
    with requests.get(
        endpoint(public),
        headers={"Last-Event-ID": from_offset_zero(secret, 1)},
        stream=True,
        timeout=10,
    ) as response:
        assert response.status_code == 400, f"{response.status_code}: streamed {secret}"
        assert response.headers["Content-Type"] == "application/json; charset=utf-8"
        assert response.json()["name"] == "InvalidAssignmentError"


@pytest.mark.parametrize("endpoint", ENDPOINTS, indirect=True)
def test_unknown_topic_is_404_with_json_body(endpoint, make_topic):
    response = requests.get(endpoint(f"{make_topic()}-missing"), timeout=10)
    assert response.status_code == 404
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    body = response.json()
    assert body["name"] == "TopicNotAvailableError"
    assert body["origin"] == "KafkaSSE"


@pytest.mark.parametrize("endpoint", ENDPOINTS, indirect=True)
def test_bad_last_event_id_is_400_with_json_body(endpoint, make_topic):
    response = requests.get(
        endpoint(make_topic()), headers={"Last-Event-ID": "{not json"}, timeout=10
    )
    assert response.status_code == 400
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    assert response.json()["name"] == "InvalidAssignmentError"


@pytest.mark.parametrize("endpoint", ENDPOINTS, indirect=True)
def test_other_methods_get_405_with_allow(endpoint, make_topic):
    response = requests.put(endpoint(make_topic()), data="x", timeout=10)
    assert response.status_code == 405
    allow = {m.strip() for m in response.headers["Allow"].split(",")}
    assert {"GET", "HEAD"} <= allow
    if endpoint.server_name != "flask":  # Flask's router answers before the view
        assert response.json()["name"] == "MethodNotAllowedError"


@pytest.mark.parametrize("endpoint", ENDPOINTS, indirect=True)
def test_options_is_answered_with_allow(endpoint, make_topic):
    response = requests.options(endpoint(make_topic()), timeout=10)
    assert response.status_code in (200, 204)  # Flask's own OPTIONS for a plain view: 200
    assert "GET" in response.headers["Allow"]


@pytest.mark.parametrize(
    "server_name",
    [pytest.param("flask", id="flask-blueprint"), pytest.param("django", id="django")],
)
def test_cors_through_the_framework_helpers(request, server_name, make_topic):
    """The blueprint and the class-based view answer preflights and grant their origin."""
    server: Server = request.getfixturevalue(f"{server_name}_server")
    url = f"{server.url}/cors/{make_topic()}"
    preflight = requests.options(
        url,
        headers={"Origin": CORS_ORIGIN, "Access-Control-Request-Method": "GET"},
        timeout=10,
    )
    assert preflight.status_code == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == CORS_ORIGIN
    assert "Last-Event-ID" in preflight.headers["Access-Control-Allow-Headers"]
    with SSEReader(url, headers={"Origin": CORS_ORIGIN}) as reader:
        assert reader.status == 200
        assert reader.response.headers["Access-Control-Allow-Origin"] == CORS_ORIGIN
        assert reader.response.headers["Access-Control-Allow-Credentials"] == "true"
    refused = requests.get(f"{url}-missing", headers={"Origin": CORS_ORIGIN}, timeout=10)
    assert refused.status_code == 404
    assert refused.headers["Access-Control-Allow-Origin"] == CORS_ORIGIN


@pytest.mark.parametrize("endpoint", ENDPOINTS, indirect=True)
def test_client_leaving_ends_its_stream_at_once(endpoint, make_topic):
    """With the default heartbeat (15 s) in force: the worker watches the client's socket
    through every framework's glue, so an idle stream ends when its client leaves.

    The stream is on the shared tail: what it held ends with it, and the hub's consumer
    stays ``tail_linger_s`` for the next client (tests/test_shared_tail.py sees it go)."""
    request_id = f"leaving-{time.monotonic_ns()}"
    reader = SSEReader(endpoint(make_topic()), headers={"X-Request-ID": request_id})
    reader.wait_comments(1, timeout_s=5)  # ":ok": set up, and idle from here on
    ended = (request_id, "stream ended (client_left)")
    assert not logged(endpoint.log, *ended)
    reader.close()
    assert wait_logged(endpoint.log, *ended, timeout_s=2)
    assert "Traceback" not in endpoint.log.read_text()


def logged(log: Path, *parts: str) -> bool:
    """Whether one line of the server's log holds every one of ``parts``."""
    return any(all(part in line for part in parts) for line in log.read_text().splitlines())


def wait_logged(log: Path, *parts: str, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while not logged(log, *parts):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


@pytest.mark.parametrize("endpoint", ENDPOINTS, indirect=True)
def test_head_answers_with_headers_and_keeps_no_consumer(endpoint, make_topic, broker_port):
    """A server sends no body for HEAD but would iterate an endless one forever."""
    pid = worker_pid(endpoint.server)
    before = broker_connections(pid, broker_port)  # earlier tests' hubs may still linger
    response = requests.head(endpoint(make_topic()), timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/event-stream; charset=utf-8"
    assert wait_connections(pid, broker_port, lambda n: n <= before, timeout_s=3) <= before


# --- Flask: decided in the view, before the stream -------------------------------------------


def test_flask_view_refuses_before_streaming_and_adds_its_headers(
    flask_server, kafka, make_topic, broker_port
):
    topic = make_topic()
    kafka.produce(topic, [{"n": 0}])
    refused = requests.get(f"{flask_server.url}/private/{topic}", timeout=10)
    assert refused.status_code == 401
    assert refused.json() == {"error": "unauthorized"}
    events = collect_events(
        f"{flask_server.url}/private/{topic}",
        1,
        last_event_id=from_offset_zero(topic, 1),
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    assert data_of(events)[0]["n"] == 0
    with SSEReader(
        f"{flask_server.url}/private/{topic}", headers={"Authorization": f"Bearer {TOKEN}"}
    ) as reader:
        assert reader.response.headers["X-Stream-Owner"] == "tests"


def test_flask_options_per_view_json_lines(flask_server, kafka, make_topic):
    topic = make_topic()
    kafka.produce(topic, [{"n": 0}, {"n": 1}])
    response = requests.get(
        f"{flask_server.url}/json/{topic}",
        headers={"Last-Event-ID": from_offset_zero(topic, 1)},
        stream=True,
        timeout=10,
    )
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    lines = read_json_lines(response, 2)
    assert [item["n"] for item in lines] == [0, 1]


# --- Middleware: everything outside the prefix is the wrapped app's ---------------------------


def test_middleware_passes_other_requests_through_unchanged(middleware_server):
    url = middleware_server.url
    got = requests.get(
        f"{url}/some/path?x=1&y=a%20b&stream=/stream", headers={"X-Custom": "kept"}, timeout=10
    )
    assert got.status_code == 200
    assert got.headers["X-Echo"] == "wrapped-app"
    assert got.headers["Set-Cookie"] == "seen=1; Path=/"
    assert got.json() == {
        "method": "GET",
        "script_name": "",
        "path_info": "/some/path",
        "query_string": "x=1&y=a%20b&stream=/stream",
        "content_type": "",
        "x_custom": "kept",
        "body": "",
    }
    posted = requests.post(
        f"{url}/api/items?q=1",
        data=b"a=1&b=two",
        headers={"X-Custom": "post", "Content-Type": "application/x-www-form-urlencoded"},
        timeout=10,
    )
    assert posted.status_code == 201
    assert posted.json() == {
        "method": "POST",
        "script_name": "",
        "path_info": "/api/items",
        "query_string": "q=1",
        "content_type": "application/x-www-form-urlencoded",
        "x_custom": "post",
        "body": "a=1&b=two",
    }
    # Matching is by whole path segments: /streamer is not under /stream.
    assert requests.get(f"{url}/streamer", timeout=10).json()["path_info"] == "/streamer"
    # POST inside the prefix is the stream's business, not the wrapped app's.
    assert requests.post(f"{url}/stream/anything", data="x", timeout=10).status_code == 405


def test_middleware_moves_the_prefix_from_path_info_to_script_name():
    from kafkasse_wsgi.middleware import KafkaSSEMiddleware

    seen: list[dict] = []

    def recorder(environ, start_response):
        seen.append(dict(environ))
        start_response("200 OK", [])
        return [b""]

    middleware = KafkaSSEMiddleware(echo_app, prefix="stream/")
    middleware.streams = recorder  # type: ignore[assignment]
    environ = {"REQUEST_METHOD": "GET", "SCRIPT_NAME": "/app", "PATH_INFO": "/stream/a,b"}
    middleware(environ, lambda status, headers: None)
    assert (seen[0]["SCRIPT_NAME"], seen[0]["PATH_INFO"]) == ("/app/stream", "/a,b")
    assert environ["PATH_INFO"] == "/stream/a,b"  # the caller's environ is untouched
    middleware({"REQUEST_METHOD": "GET", "PATH_INFO": "/stream"}, lambda s, h: None)
    assert (seen[1]["SCRIPT_NAME"], seen[1]["PATH_INFO"]) == ("/stream", "")


def test_middleware_refuses_an_empty_prefix():
    from kafkasse_wsgi.errors import ConfigurationError
    from kafkasse_wsgi.middleware import KafkaSSEMiddleware

    with pytest.raises(ConfigurationError):
        KafkaSSEMiddleware(echo_app, prefix="/")
