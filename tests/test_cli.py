"""``kafkasse-wsgi serve`` as a user runs it: flags, environment variables, the endpoints it
serves, JSON logs, clean stop on SIGTERM; and its metrics under gunicorn with 2 workers."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest
import requests

from kafkasse_wsgi.metrics import FLUSH_INTERVAL_S
from tests.support.clients import SSEReader, payloads_of
from tests.support.servers import free_port, start_cli, start_gunicorn


def test_help_explains_every_option():
    result = subprocess.run(
        [sys.executable, "-m", "kafkasse_wsgi", "serve", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    for flag in (
        "--bootstrap-servers",
        "--host",
        "--port",
        "--allowed-topics",
        "--cors-origins",
        "--workers",
        "--heartbeat",
        "--log-level",
    ):
        assert flag in result.stdout
    assert "KAFKASSE_BOOTSTRAP_SERVERS" in result.stdout
    assert "6927" in result.stdout and "127.0.0.1" in result.stdout


def test_serve_with_flags_streams_and_stops_cleanly_on_sigterm(
    kafka, make_topic, kafka_bootstrap, tmp_path
):
    topic, other = make_topic(), make_topic()
    kafka.produce(topic, [{"n": 1}])
    log = tmp_path / "cli.log"
    server = start_cli(
        ["--bootstrap-servers", kafka_bootstrap, "--allowed-topics", topic, "--heartbeat", "0.5"],
        log_path=log,
    )
    try:
        assert requests.get(f"{server.url}/healthz", timeout=5).json()["status"] == "ok"
        assert requests.get(f"{server.url}/healthz?kafka=1", timeout=10).json()["kafka"] == "ok"
        page = requests.get(f"{server.url}/", timeout=5)
        assert page.status_code == 200 and "EventSource" in page.text
        assert requests.get(f"{server.url}/{other}", timeout=10).status_code == 404
        reader = SSEReader(f"{server.url}/{topic}?since=0")
        assert [p["n"] for p in payloads_of(reader.read(1))] == [1]
        began = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(15) == 0
        assert time.monotonic() - began < 10
        reader.read_until_end(timeout_s=5)
        assert reader.ended
        reader.close()
    finally:
        server.stop()
    records = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    assert any(r["message"].startswith("serving on http://127.0.0.1:") for r in records)
    ended = [r for r in records if r["message"].startswith("stream ended")]
    assert ended and ended[0]["end_cause"] == "shutdown" and ended[0]["request_id"]


def test_serve_takes_its_settings_from_kafkasse_environment_variables(
    kafka, make_topic, kafka_bootstrap
):
    topic, other = make_topic(), make_topic()
    kafka.produce(topic, [{"n": 7}])
    port = free_port()
    server = start_cli(
        [],
        env={
            "KAFKASSE_PORT": str(port),
            "KAFKASSE_BOOTSTRAP_SERVERS": kafka_bootstrap,
            "KAFKASSE_ALLOWED_TOPICS": topic,
            "KAFKASSE_HEARTBEAT": "0.5",
            "KAFKASSE_LOG_LEVEL": "warning",
        },
    )
    try:
        assert server.port == port
        assert requests.get(f"{server.url}/{other}", timeout=10).status_code == 404
        with SSEReader(f"{server.url}/{topic}?since=0") as reader:
            assert [p["n"] for p in payloads_of(reader.read(1))] == [7]
            assert reader.wait_comments(3, timeout_s=5) >= 3
    finally:
        assert server.stop() == 0


@pytest.mark.parametrize(
    "kafka_config",
    [
        pytest.param({}, id="version-probed"),
        # With api_version set kafka-python skips its version probe (which fails fast) and
        # waits in metadata with no timeout of its own: the health check used to hang.
        pytest.param({"api_version": "2.6.0"}, id="api-version-set"),
    ],
)
def test_kafka_health_check_answers_503_within_5s_when_brokers_are_unreachable(serve, kafka_config):
    server = serve(
        {"kafka_config": {**kafka_config, "bootstrap_servers": f"127.0.0.1:{free_port()}"}},
        mode="server",
    )
    began = time.monotonic()
    response = requests.get(f"{server.url}/healthz?kafka=1", timeout=30)
    assert time.monotonic() - began < 5
    assert response.status_code == 503
    assert response.json()["status"] == "kafka unavailable"
    assert requests.get(f"{server.url}/healthz", timeout=5).json()["status"] == "ok"


def test_a_5xx_refusal_is_logged_at_warning_with_its_cause(tmp_path):
    """Regression: refusals were logged at INFO, so at ``--log-level WARNING`` (what
    ``scripts/demo`` uses) a server whose brokers cannot be reached logged nothing."""
    log = tmp_path / "serve.log"
    server = start_cli(
        [
            "--log-level",
            "WARNING",
            "--bootstrap-servers",
            f"127.0.0.1:{free_port()}",
            "--kafka-config",
            "api_version_auto_timeout_ms=1000",
        ],
        log_path=log,
    )
    try:
        response = requests.get(f"{server.url}/anything", timeout=20)
        assert response.status_code == 503
    finally:
        server.stop()
    records = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    refusals = [r for r in records if "503" in r.get("message", "")]
    assert refusals, log.read_text()
    assert refusals[0]["level"] in ("WARNING", "ERROR")
    assert response.json()["message"] in refusals[0]["message"]
    assert refusals[0]["request_id"] == response.headers["X-Request-ID"]


@pytest.mark.parametrize("how", ["flag", "environment"])
def test_cors_origins_from_the_flag_or_the_environment(make_topic, kafka_bootstrap, how):
    topic = make_topic()
    origin = "https://app.example"
    args = ["--bootstrap-servers", kafka_bootstrap]
    env = None
    if how == "flag":
        args += ["--cors-origins", f"{origin},http://localhost:3000"]
    else:
        env = {"KAFKASSE_CORS_ORIGINS": f"{origin},http://localhost:3000"}
    server = start_cli(args, env=env)
    try:
        preflight = requests.options(
            f"{server.url}/{topic}",
            headers={"Origin": origin, "Access-Control-Request-Method": "GET"},
            timeout=10,
        )
        assert preflight.status_code == 204
        assert preflight.headers["Access-Control-Allow-Origin"] == origin
        with SSEReader(f"{server.url}/{topic}", headers={"Origin": origin}) as reader:
            assert reader.status == 200
            assert reader.response.headers["Access-Control-Allow-Origin"] == origin
        # The server's own endpoints answer other methods as the streams do.
        refused = requests.post(f"{server.url}/healthz", timeout=10)
        assert refused.status_code == 405 and "GET" in refused.headers["Allow"]
    finally:
        assert server.stop() == 0


def tail_status(server) -> list[dict]:
    response = requests.get(f"{server.url}/_tail", timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    return response.json()["hubs"]


@pytest.mark.parametrize("shared", [True, False], ids=["shared-tail", "no-shared-tail"])
def test_tail_status_lists_the_hub_a_stream_at_latest_reads_from(
    kafka, make_topic, kafka_bootstrap, shared
):
    topic = make_topic()
    args = ["--bootstrap-servers", kafka_bootstrap, "--allowed-topics", topic]
    server = start_cli(args if shared else [*args, "--no-shared-tail"])
    try:
        assert tail_status(server) == []
        with SSEReader(f"{server.url}/{topic}") as reader:
            assert reader.status == 200
            # Read through the stream, so it is surely set up, before asking.
            deadline = time.monotonic() + 20
            got: list = []
            while len(got) < 3 and time.monotonic() < deadline:
                kafka.produce(topic, [{"n": len(got)}])
                got += reader.read(1, timeout_s=2)
            assert len(got) >= 3
            hubs = tail_status(server)
            if shared:
                [hub] = hubs
                assert hub["topic"] == topic and hub["clients"] == 1
                assert hub["ring_events"] >= 3 and hub["ring_bytes"] > 0
                assert hub["partitions"] == 1
                assert set(hub) >= {"ring_age_s", "lag", "handoffs", "detaches"}
            else:
                assert hubs == []
        if shared:
            # The client left: the hub lingers (tail_linger_s, 10 s) without it.
            deadline = time.monotonic() + 5
            while tail_status(server)[0]["clients"] and time.monotonic() < deadline:
                time.sleep(0.2)
            [hub] = tail_status(server)
            assert hub["topic"] == topic and hub["clients"] == 0
        refused = requests.post(f"{server.url}/_tail", timeout=10)
        assert refused.status_code == 405 and "GET" in refused.headers["Allow"]
        assert refused.json()["name"] == "MethodNotAllowedError"
    finally:
        assert server.stop() == 0


def test_bad_flags_are_refused_with_a_message():
    result = subprocess.run(
        [sys.executable, "-m", "kafkasse_wsgi", "serve", "--workers", "0"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2 and "--workers" in result.stderr


def metric(text: str, name: str, labels: str = "") -> float:
    pattern = rf"^{re.escape(name)}{re.escape(labels)} ([0-9.e+]+)$"
    values = [float(m.group(1)) for m in re.finditer(pattern, text, re.MULTILINE)]
    return sum(values)


def test_metrics_move_as_streams_open_send_filter_and_close_across_two_workers(
    kafka, make_topic, kafka_bootstrap, tmp_path
):
    topic = make_topic()
    kafka.produce(topic, [{"n": i} for i in range(10)])
    metrics_dir = tmp_path / "prom"
    metrics_dir.mkdir()
    server = start_gunicorn(
        "tests.support.metrics_app:app",
        workers=2,
        env={
            "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
            "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        },
    )
    try:
        readers = [SSEReader(f"{server.url}/{topic}?since=0") for _ in range(4)]
        for reader in readers:
            assert [p["n"] for p in payloads_of(reader.read(5))] == [0, 2, 4, 6, 8]
        # The per-batch counters reach prometheus_client at most FLUSH_INTERVAL_S later.
        deadline = time.monotonic() + FLUSH_INTERVAL_S + 2
        while True:
            text = requests.get(f"{server.url}/metrics", timeout=5).text
            if metric(text, "kafkasse_events_sent_total") >= 20 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert metric(text, "kafkasse_streams_open") == 4
        assert metric(text, "kafkasse_streams_started_total") == 4
        assert metric(text, "kafkasse_events_sent_total") == 20
        assert metric(text, "kafkasse_events_filtered_total") == 20
        assert metric(text, "kafkasse_bytes_sent_total") > 0
        assert metric(text, "kafkasse_consumer_lag_messages_count") >= 4
        # Whichever worker answers /metrics, the totals are those of all workers.
        for _ in range(6):
            again = requests.get(f"{server.url}/metrics", timeout=5).text
            assert metric(again, "kafkasse_events_sent_total") == 20
        for reader in readers:
            reader.close()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            text = requests.get(f"{server.url}/metrics", timeout=5).text
            if metric(text, "kafkasse_streams_open") == 0:
                break
            time.sleep(0.2)
        assert metric(text, "kafkasse_streams_open") == 0
        assert metric(text, "kafkasse_streams_ended_total", '{cause="client_left"}') == 4
        requests.get(f"{server.url}/{topic}-missing", timeout=10)
        text = requests.get(f"{server.url}/metrics", timeout=5).text
        assert metric(text, "kafkasse_streams_refused_total", '{status="404"}') == 1
    finally:
        server.stop()


def run_serve(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kafkasse_wsgi", "serve", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=60,
    )


def test_print_config_shows_each_value_with_its_source_and_masks_secrets(tmp_path):
    config = tmp_path / "kafkasse.toml"
    config.write_text(
        'max_streams = 10\nretry_ms = 10\n\n[kafka]\n"sasl.password" = "pw-in-file"\n'
    )
    result = run_serve(
        "--config",
        str(config),
        "--max-streams",
        "30",
        "--print-config",
        env={"KAFKASSE_RETRY_MS": "20", "KAFKASSE_KAFKA_SSL_PASSWORD": "pw-in-env"},
    )
    assert result.returncode == 0, result.stderr
    assert "max_streams = 30  # flag --max-streams" in result.stdout
    assert "retry_ms = 20  # env KAFKASSE_RETRY_MS" in result.stdout
    assert f'"sasl.password" = "***"  # file {config}:5' in result.stdout
    assert "pw-in-file" not in result.stdout and "pw-in-env" not in result.stdout


def test_a_bad_config_file_is_one_line_naming_key_and_line_before_anything_starts(tmp_path):
    config = tmp_path / "kafkasse.toml"
    config.write_text('max_streams = 10\n\n[kafka]\n"sasl.pasword" = "x"\n')
    for workers in ("1", "2"):
        result = run_serve("--config", str(config), "--workers", workers)
        assert result.returncode == 2
        assert "Traceback" not in result.stderr
        [line] = result.stderr.strip().splitlines()
        assert "sasl.pasword" in line and f"{config}:4" in line
