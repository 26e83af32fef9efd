"""JWKS URLs as an attacker or a failing identity provider would use them: plain http only on
loopback, symmetric keys in a fetched set ignored, the last good set kept through failures,
static keys first, and a deadline no slow provider can hold a request past. Real HTTP servers
on 127.0.0.1, the verifier as a request calls it."""

from __future__ import annotations

import base64
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from kafkasse_wsgi._tokens import keys as token_keys
from kafkasse_wsgi.errors import ConfigurationError, InvalidTokenError, TokenKeysUnavailableError
from kafkasse_wsgi.tokens import JWKS_DEADLINE_S, KeySet, TokenVerifier, mint_token
from tests.support.clients import SSEReader, payloads_of
from tests.support.servers import free_port
from tests.support.tokens import SECRET, JwksServer, public_jwk, rsa_key

RSA = rsa_key()


def rs_token(kid: str = "r1", key=RSA) -> str:
    return mint_token(key, ["t"], algorithm="RS256", kid=kid)


@pytest.mark.parametrize(
    "url", ["http://idp.example/jwks.json", "http://10.0.0.1/jwks", "http://0.0.0.0:80/jwks"]
)
def test_a_plain_http_jwks_url_is_refused_unless_its_host_is_loopback(url):
    """Broke: any http:// URL was fetched: a key set an on-path attacker can replace."""
    with pytest.raises(ConfigurationError, match="https"):
        KeySet(url)


@pytest.mark.parametrize(
    "url",
    [
        "https://idp.example/.well-known/jwks.json",
        "http://127.0.0.1:8080/jwks",
        "http://localhost/jwks",
        "http://[::1]:9000/jwks",
    ],
)
def test_https_and_loopback_http_jwks_urls_are_accepted(url):
    assert KeySet(url).clients


def test_symmetric_keys_in_a_fetched_jwks_are_ignored():
    """Broke: a ``kty: oct`` key served by the URL verified HS tokens: whoever can read the
    set (it is public) could sign any token."""
    oct_jwk = {
        "kty": "oct",
        "kid": "h1",
        "k": base64.urlsafe_b64encode(SECRET.encode()).rstrip(b"=").decode(),
    }
    with JwksServer([oct_jwk, public_jwk(RSA, "r1")]) as jwks:
        verifier = TokenVerifier(KeySet(jwks.url))
        assert verifier.verify(rs_token()).topics == ("t",)
        with pytest.raises(InvalidTokenError):
            verifier.verify(mint_token(SECRET, ["t"], kid="h1"))
        with pytest.raises(InvalidTokenError):
            verifier.verify(mint_token(SECRET, ["t"]))


def test_a_failing_fetch_keeps_the_last_good_set(monkeypatch):
    """Broke: once the cached set expired, a failing provider made every token a 503."""
    monkeypatch.setattr(token_keys, "JWKS_LIFESPAN_S", 0.2)
    monkeypatch.setattr(token_keys, "JWKS_REFRESH_COOLDOWN_S", 0.1)
    with JwksServer([public_jwk(RSA, "r1")]) as jwks:
        verifier = TokenVerifier(KeySet(jwks.url))
        assert verifier.verify(rs_token())
        jwks.status = 500
        for _ in range(3):
            time.sleep(0.3)  # the set is older than its lifespan: fetched again, and fails
            assert verifier.verify(rs_token()).topics == ("t",)
        deadline = time.monotonic() + 5
        while jwks.fetches < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert jwks.fetches >= 2  # it did try


def test_static_keys_are_tried_before_a_jwks_url_is_fetched():
    """Broke: every token made the server fetch the JWKS first, so a provider that is down
    refused tokens signed with a static key too (503)."""
    with JwksServer([public_jwk(RSA, "r1")]) as jwks:
        jwks.status = 500
        verifier = TokenVerifier(KeySet([SECRET, jwks.url]))
        assert verifier.verify(mint_token(SECRET, ["t"])).topics == ("t",)
        assert verifier.verify(mint_token(SECRET, ["t"], kid="any")).topics == ("t",)
        assert jwks.fetches == 0
    dead = f"http://127.0.0.1:{free_port()}/jwks.json"
    assert TokenVerifier(KeySet([SECRET, dead])).verify(mint_token(SECRET, ["t"]))


def test_a_slow_identity_provider_cannot_hold_requests_past_the_deadline(monkeypatch):
    """Broke: a provider dribbling its answer held each request for as long as it liked
    (the 5 s timeout is per read), and each request started its own fetch."""
    monkeypatch.setattr(token_keys, "JWKS_DEADLINE_S", 0.5)
    deadline_s = 0.5
    with JwksServer([public_jwk(RSA, "r1")]) as jwks:
        jwks.trickle_s = 6.0
        verifier = TokenVerifier(KeySet(jwks.url))

        def timed_verify(_: int) -> float:
            started = time.monotonic()
            with pytest.raises(TokenKeysUnavailableError):
                verifier.verify(rs_token())
            return time.monotonic() - started

        with ThreadPoolExecutor(10) as pool:
            waits = list(pool.map(timed_verify, range(10)))
        assert max(waits) < deadline_s + 1.0, waits
        assert jwks.fetches == 1  # one fetch at a time, whatever the number of requests


def test_clients_inventing_kids_against_a_slow_provider_wait_at_most_the_deadline(
    kafka, make_topic, serve
):
    """Hostile clients, a gevent server with default settings but the keys: tokens with
    invented ``kid``s while the provider dribbles its answer. Each is answered within the
    deadline, the provider sees one fetch at a time, and a stream whose token a static key
    signed keeps receiving."""
    topic = make_topic()
    intruder = rsa_key()
    with JwksServer([public_jwk(RSA, "r1")]) as jwks:
        jwks.trickle_s = 5.0
        server = serve({"allowed_topics": [topic], "jwt_keys": [SECRET, jwks.url]})
        good = {"Authorization": f"Bearer {mint_token(SECRET, [topic])}"}
        with SSEReader(f"{server.url}/{topic}", headers=good) as reader:
            kafka.produce(topic, [{"n": 0}])
            assert [e["n"] for e in payloads_of(reader.read(1))] == [0]

            def hostile(i: int) -> tuple[int, float]:
                token = mint_token(intruder, [topic], algorithm="RS256", kid=f"invented-{i}")
                started = time.monotonic()
                answer = requests.get(
                    f"{server.url}/{topic}",
                    headers={"Authorization": f"Bearer {token}"},
                    timeout=30,
                )
                return answer.status_code, time.monotonic() - started

            with ThreadPoolExecutor(20) as pool:
                answers = list(pool.map(hostile, range(40)))
            assert {status for status, _ in answers} <= {401, 503}, answers
            assert max(wait for _, wait in answers) < JWKS_DEADLINE_S + 2.0, answers
            kafka.produce(topic, [{"n": 1}])
            assert [e["n"] for e in payloads_of(reader.read(1))] == [1]
        assert jwks.fetches <= 2  # the first, then at most one more after the cooldown
