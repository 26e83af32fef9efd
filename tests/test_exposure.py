"""What a default deployment exposes to anonymous clients: the Kafka ecosystem's own topics
are not served unless named, and the CLI refuses to listen beyond loopback with every topic
open. Hostile clients, default settings, real broker and servers."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import requests

from kafkasse_wsgi.tokens import mint_token
from tests.support.clients import SSEReader, payloads_of
from tests.support.kafka import unique_topic
from tests.support.tokens import SECRET


def refusal(response: requests.Response) -> dict:
    """A refusal's body with the topic names taken out: what a client can tell apart."""
    body = response.json()
    body.pop("topics", None)
    body["message"] = body["message"].split(" ", 1)[0]
    return body


def get(url: str, **kwargs) -> requests.Response:
    """The answer's head (and a refusal's body) without waiting on a stream's body."""
    with requests.get(url, stream=True, timeout=10, **kwargs) as response:
        if response.status_code != 200:
            response.content  # noqa: B018 - read the refusal's body before closing
        return response


@pytest.fixture
def ecosystem_topics(kafka):
    """One topic of each kind the ecosystem keeps for itself, each holding one event."""
    suffix = unique_topic("x")
    names = [
        f"_schemas-{suffix}",
        f"_confluent-command-{suffix}",
        f"_{suffix}",
        f"app-{suffix}-store-changelog",
        f"app-{suffix}-by-key-repartition",
    ]
    # Connect's exact names (connect-configs...) are left to the unit tests: creating them, or
    # _schemas, on a shared broker could upset a real Connect or schema registry using it.
    for name in names:
        kafka.create_topic(name)
        kafka.produce(name, [{"secret": name}])
    yield names
    kafka.delete_topics(names)


def test_ecosystem_topics_are_refused_by_default_like_a_missing_topic(
    kafka, make_topic, serve, ecosystem_topics
):
    """Broke: with allowed_topics=None, _schemas, connect-configs (connector credentials),
    Streams changelogs... were streamable by anyone; only __* was kept back."""
    public = make_topic()
    kafka.produce(public, [{"n": 0}])
    server = serve()  # KafkaSSE() defaults, the shared tail
    missing = requests.get(f"{server.url}/{unique_topic('absent')}", timeout=10)
    assert missing.status_code == 404
    for topic in ecosystem_topics:
        for query in ("", "?since=0"):
            response = get(f"{server.url}/{topic}{query}")
            assert response.status_code == 404, topic
            assert refusal(response) == refusal(missing), topic
    # Another client on the same worker keeps streaming.
    with SSEReader(f"{server.url}/{public}?since=0") as reader:
        assert [e["n"] for e in payloads_of(reader.read(1))] == [0]


def test_ecosystem_topics_are_served_when_allowed_topics_names_them(
    make_topic, serve, ecosystem_topics
):
    server = serve({"allowed_topics": ecosystem_topics})
    for topic in ecosystem_topics:
        with SSEReader(f"{server.url}/{topic}?since=0") as reader:
            assert reader.status == 200, topic
            assert [e["secret"] for e in payloads_of(reader.read(1))] == [topic]


def test_a_token_glob_never_matches_ecosystem_topics(serve, ecosystem_topics):
    """A ``*`` in a token's claim is for the application's topics, not the machinery's."""
    server = serve({"allowed_topics": ecosystem_topics, "jwt_keys": SECRET})
    glob = {"Authorization": f"Bearer {mint_token(SECRET, ['*', '_*', 'connect-*'])}"}
    for topic in ecosystem_topics:
        response = get(f"{server.url}/{topic}", headers=glob)
        assert response.status_code == 404, topic
    named = {"Authorization": f"Bearer {mint_token(SECRET, [ecosystem_topics[0]])}"}
    with SSEReader(f"{server.url}/{ecosystem_topics[0]}?since=0", headers=named) as reader:
        assert reader.status == 200


def run_serve(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("KAFKASSE_")}
    return subprocess.run(
        [sys.executable, "-m", "kafkasse_wsgi", "serve", "--port", "1", *args],
        capture_output=True,
        text=True,
        env={**clean, **(env or {})},
        timeout=30,
    )


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.1"])
def test_the_cli_refuses_to_serve_every_topic_beyond_loopback(host):
    """Broke: ``serve --host 0.0.0.0`` served every topic to the internet. It must refuse
    before anything else (a bad heartbeat keeps the unfixed server from ever binding)."""
    for workers in ("1", "2"):
        result = run_serve("--host", host, "--workers", workers, "--heartbeat", "-1")
        assert result.returncode == 2, result.stderr
        [line] = result.stderr.strip().splitlines()
        assert "--allowed-topics" in line and "--allow-all-topics" in line, line


@pytest.mark.parametrize(
    ("args", "env"),
    [
        (["--allow-all-topics"], {}),
        ([], {"KAFKASSE_ALLOW_ALL_TOPICS": "true"}),
        (["--allowed-topics", "edits"], {}),
        ([], {"KAFKASSE_JWT_KEYS": SECRET}),
    ],
)
def test_the_cli_serves_beyond_loopback_when_topics_are_named_or_opened_on_purpose(args, env):
    """Past the exposure check, a bad heartbeat is found (before binding): it got that far."""
    result = run_serve("--host", "0.0.0.0", *args, "--heartbeat", "-1", env=env)
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert "heartbeat_interval_s" in line and "--allowed-topics" not in line, line
    shown = run_serve("--host", "0.0.0.0", *args, "--print-config", env=env)
    assert shown.returncode == 0 and "allow_all_topics" in shown.stdout, shown.stderr


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1"])
def test_the_cli_on_loopback_needs_no_allow_list(host):
    result = run_serve("--host", host, "--heartbeat", "-1")
    assert result.returncode == 2
    assert "heartbeat_interval_s" in result.stderr and "--allowed-topics" not in result.stderr


def test_allow_all_topics_from_the_config_file(tmp_path):
    config = tmp_path / "kafkasse.toml"
    config.write_text('host = "0.0.0.0"\nallow_all_topics = true\n')
    result = run_serve("--config", str(config), "--heartbeat", "-1")
    assert result.returncode == 2 and "heartbeat_interval_s" in result.stderr, result.stderr
    shown = run_serve("--config", str(config), "--print-config")
    assert f"allow_all_topics = true  # file {config}:2" in shown.stdout, shown.stdout
