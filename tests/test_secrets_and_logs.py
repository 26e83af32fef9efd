"""Secrets stay out of logs and answers: query tokens in the access log, key values in the
CLI's messages, client text in log lines, an application's exception text. Real servers,
default settings but for the subject."""

from __future__ import annotations

import pytest
import requests

from kafkasse_wsgi.tokens import mint_token
from tests.support.servers import start_gunicorn
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
