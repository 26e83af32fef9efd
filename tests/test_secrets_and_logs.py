"""Secrets stay out of logs and answers: query tokens in the access log, key values in the
CLI's messages, client text in log lines, an application's exception text. Real servers,
default settings but for the subject."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import pytest
import requests

from kafkasse_wsgi.tokens import mint_token
from tests.support.clients import SSEReader, payloads_of
from tests.support.servers import start_cli, start_gunicorn
from tests.support.tokens import SECRET
from tests.test_frameworks import worker_pid


@pytest.mark.parametrize(
    ("factory", "prefix"),
    [("flask_app", "/stream"), ("django_app", "/fn"), ("middleware_app", "/stream")],
)
def test_a_query_token_never_reaches_the_servers_access_log(
    factory, prefix, make_topic, kafka_bootstrap, tmp_path
):
    """Broke: KafkaSSEMiddleware redacted a copy of the environ; gunicorn logged the token."""
    topic = make_topic()
    log_path = tmp_path / "gunicorn.log"
    server = start_gunicorn(
        f"tests.support.token_apps:{factory}()",
        extra_args=["--access-logfile", "-"],
        env={"KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap},
        log_path=log_path,
    )
    forged = mint_token(b"x" * 32 + SECRET.encode(), [topic])
    other = mint_token(SECRET, ["another-topic"])
    try:
        worker_pid(server)  # gunicorn answers connects before its worker is up
        url = f"{server.url}{prefix}/{topic}?since=0&access_token="
        assert requests.get(url + forged, timeout=10).status_code == 401
        assert requests.get(url + other, timeout=10).status_code == 404
    finally:
        server.stop()
    log = log_path.read_text()
    access = [line for line in log.splitlines() if '"GET ' in line]
    assert len(access) == 2 and all("access_token=REDACTED" in line for line in access), log
    for token in (forged, other):
        assert token not in log and token.split(".")[2] not in log


# -- key files and inline secrets: one rule, and a secret in no message -------------------------

#: What ``openssl rand -base64 33`` prints: "/" and "+" are base64 characters.
SLASHED_SECRETS = [
    "q/8Rk2+Zp0/Lw3mN5xYt7vB1cD9eF4gH6jK8lM0nP2Qr",
    "/8Rk2+Zp0/Lw3mN5xYt7vB1cD9eF4gH6jK8lM0nP2Qr=",
]


def run_serve(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("KAFKASSE_")}
    return subprocess.run(
        [sys.executable, "-m", "kafkasse_wsgi", "serve", *args],
        capture_output=True,
        text=True,
        env={**clean, **(env or {})},
        timeout=30,
    )


@pytest.mark.parametrize("secret", SLASHED_SECRETS)
def test_an_inline_base64_secret_with_a_slash_works_and_is_never_echoed(
    secret, kafka, make_topic, kafka_bootstrap, tmp_path
):
    """Broke: KAFKASSE_JWT_KEYS=<base64 with "/"> was taken for a path, and the secret was
    printed inside "no such key file"."""
    topic = make_topic()
    kafka.produce(topic, [{"n": 1}])
    env = {"KAFKASSE_JWT_KEYS": secret}
    shown = run_serve("--print-config", env=env)
    assert shown.returncode == 0, shown.stderr
    assert secret not in shown.stdout + shown.stderr
    log = tmp_path / "cli.log"
    server = start_cli(
        ["--bootstrap-servers", kafka_bootstrap, "--allowed-topics", topic], env, log_path=log
    )
    try:
        token = mint_token(secret, [topic])
        headers = {"Authorization": f"Bearer {token}"}
        with SSEReader(f"{server.url}/{topic}?since=0", headers=headers) as reader:
            assert [e["n"] for e in payloads_of(reader.read(1))] == [1]
    finally:
        server.stop()
    assert secret not in log.read_text()


@pytest.mark.parametrize(
    ("where", "value"),
    [
        ("env", "/etc/kafkasse/no-such-key.pem"),
        ("env", "./keys/missing-public-key.json"),
        ("flag", "/etc/kafkasse/no-such-key.pem"),
        ("flag", SLASHED_SECRETS[0]),  # an inline secret does not belong on a command line
        ("flag", "an inline secret that is long enough: 0123456789"),
    ],
)
def test_a_key_that_names_no_file_is_refused_saying_so_without_echoing_it(where, value):
    """Broke: a missing file on the flag said "invalid parse_jwt_keys value: '<value>'"."""
    if where == "env":
        result = run_serve("--print-config", env={"KAFKASSE_JWT_KEYS": value})
    else:
        result = run_serve("--jwt-keys", value, "--print-config")
    assert result.returncode == 2
    assert value not in result.stderr and value not in result.stdout
    assert "parse_jwt_keys" not in result.stderr and "Traceback" not in result.stderr
    assert "names no key file" in result.stderr, result.stderr
    if where == "flag":
        assert "KAFKASSE_JWT_KEYS" in result.stderr  # where an inline secret goes


def test_help_and_docs_agree_on_where_an_inline_secret_goes():
    """Broke: --help said "or the secret itself" while the docs say KAFKASSE_JWT_KEYS."""
    help_text = " ".join(run_serve("--help").stdout.split())
    assert "or the secret itself" not in help_text
    assert "an inline HS secret only in KAFKASSE_JWT_KEYS" in help_text
    cli_page = " ".join(Path("docs/cli.md").read_text().split())
    assert "an inline HS secret only in `KAFKASSE_JWT_KEYS`" in cli_page


# -- an application's exception text stays in the log --------------------------------------------


def test_a_filterers_exception_text_is_logged_not_sent_to_the_client(
    serve, kafka, make_topic, tmp_path
):
    """Broke: the error event said "filterer failed: RuntimeError: <the exception's text>",
    which may hold anything of the application's (a query, a credential)."""
    topic = make_topic()
    kafka.produce(topic, [{"n": i} for i in range(4)])
    server = serve({"filterer": "exploding_filter"})
    with SSEReader(f"{server.url}/{topic}?since=0") as reader:
        events = reader.read_until_end(timeout_s=15)
    assert [e["event"] for e in events] == ["message", "message", "error"]
    error = json.loads(events[-1]["data"])
    assert error["name"] == "FilterError"
    assert error["message"] == "the filterer failed on this message"
    assert "on purpose" not in events[-1]["data"] and "RuntimeError" not in events[-1]["data"]
    server.stop()
    assert "filter failed on purpose" in (tmp_path / "server-0.log").read_text()


# -- client text cannot forge log lines ----------------------------------------------------------

#: Requests whose path, query or headers carry line breaks and terminal escapes.
FORGERIES = [
    ("/edits%0AERROR%20kafkasse_wsgi%20forged", {}),
    ("/edits%0D%0AERROR%20forged", {}),
    ("/edits?filter=%0AERROR%20kafkasse_wsgi%20forged%20%5B", {}),
    ("/edits?filter=" + quote("@ '\nERROR kafkasse_wsgi forged'"), {}),
    ("/edits?filter=" + quote("a \x1b[31m"), {}),
    ("/edits?since=%0AERROR%20kafkasse_wsgi%20forged", {}),
    ("/edits?until=%0AERROR%20forged&since=0", {}),
    ("/edits", {"Last-Event-ID": "\x1b[2K\tERROR kafkasse_wsgi forged\x85"}),
    ("/edits\u2028ERROR%20forged", {}),
    ("/no-such-topic-\x1b[31m", {}),
]


def test_client_text_in_log_lines_cannot_forge_lines(kafka_bootstrap):
    """Broke: with a plain-text log format (an application's own ``logging`` set-up), a
    ``?filter=``, a path or an id holding a line break wrote a line of the client's choosing;
    terminal escapes went through as they were."""
    from werkzeug.test import Client

    from kafkasse_wsgi import KafkaSSE

    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    logger = logging.getLogger("kafkasse_wsgi")
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.INFO)
    try:
        client = Client(KafkaSSE(kafka_config={"bootstrap_servers": kafka_bootstrap}))
        for url, headers in FORGERIES:
            response = client.get(url, headers=headers)
            assert 400 <= response.status_code < 500, (url, response.status_code)
            response.close()
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    lines = out.getvalue().split("\n")[:-1]
    assert len(lines) >= len(FORGERIES), out.getvalue()
    for line in lines:
        assert line.startswith(("INFO kafkasse_wsgi", "WARNING kafkasse_wsgi")), line
        assert "forged" not in line or not line.split("forged")[0].endswith(("\n", "\r")), line
        assert not re.search(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]", line), repr(line)
