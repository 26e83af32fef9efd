"""Subscriber tokens against the real broker, through real servers and clients.

A token (HS secret, PEM public key or JWKS URL) is read from ``Authorization: Bearer``, the
cookie, or (when enabled) ``?access_token=``; its topics claim narrows what the allow-list
admits; a stream ends cleanly when its token expires, with the id the client resumes from.
"""

from __future__ import annotations

import json
import subprocess
import time

import jwt
import pytest
import requests

from kafkasse_wsgi.tokens import JWKS_REFRESH_COOLDOWN_S, mint_token
from tests.support.clients import SSEReader, payloads_of, read_raw
from tests.support.kafka import unique_topic
from tests.support.node_client import node_client_available, records_of, start_node_client
from tests.support.servers import start_gunicorn
from tests.support.tokens import (
    OTHER_SECRET,
    SECRET,
    JwksServer,
    ec_key,
    ed_key,
    public_jwk,
    public_pem,
    rsa_key,
)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def refusal(response: requests.Response) -> dict:
    """A refusal's body with the topic names taken out: what a client can tell apart."""
    body = response.json()
    body.pop("topics", None)
    body["message"] = body["message"].split(" ", 1)[0]
    return body


def test_a_token_in_the_header_streams_its_topics_and_nothing_else(kafka, make_topic, serve):
    granted, other, unlisted = make_topic(), make_topic(), make_topic()
    kafka.produce(granted, [{"n": i} for i in range(3)])
    server = serve({"allowed_topics": [granted, other], "jwt_keys": SECRET})
    token = mint_token(SECRET, [granted])

    with SSEReader(f"{server.url}/{granted}?since=0", headers=bearer(token)) as reader:
        assert reader.status == 200
        assert [e["n"] for e in payloads_of(reader.read(3))] == [0, 1, 2]

    # Outside the claim: refused exactly like a topic outside allowed_topics.
    outside_claim = requests.get(f"{server.url}/{other}", headers=bearer(token), timeout=10)
    outside_list = requests.get(f"{server.url}/{unlisted}", headers=bearer(token), timeout=10)
    missing = requests.get(f"{server.url}/no-such-topic-x", headers=bearer(token), timeout=10)
    assert outside_claim.status_code == outside_list.status_code == missing.status_code == 404
    assert refusal(outside_claim) == refusal(outside_list) == refusal(missing)
    assert set(outside_claim.headers) == set(outside_list.headers)
    # Also when one of several topics is outside the claim.
    both = requests.get(f"{server.url}/{granted},{other}", headers=bearer(token), timeout=10)
    assert both.status_code == 404 and both.json()["topics"] == [other]


def test_a_token_in_the_cookie_streams_like_one_in_the_header(kafka, make_topic, serve):
    topic = make_topic()
    kafka.produce(topic, [{"n": 1}])
    server = serve({"allowed_topics": [topic], "jwt_keys": SECRET})
    cookie = {"Cookie": f"theme=dark; kafkasse_token={mint_token(SECRET, [topic])}; x=1"}
    with SSEReader(f"{server.url}/{topic}?since=0", headers=cookie) as reader:
        assert reader.status == 200
        assert payloads_of(reader.read(1))[0]["n"] == 1
    # The header wins over the cookie: a bad header token is not rescued by a good cookie.
    bad = {**cookie, "Authorization": "Bearer " + mint_token(OTHER_SECRET, [topic])}
    assert requests.get(f"{server.url}/{topic}", headers=bad, timeout=10).status_code == 401


def test_a_request_without_a_good_token_is_401_with_a_bearer_challenge(make_topic, serve):
    topic = make_topic()
    server = serve({"allowed_topics": [topic], "jwt_keys": SECRET})
    url = f"{server.url}/{topic}"

    missing = requests.get(url, timeout=10)
    assert missing.status_code == 401
    assert missing.headers["WWW-Authenticate"] == 'Bearer realm="kafkasse"'
    assert missing.json()["name"] == "InvalidTokenError"

    cases = {
        "forged": mint_token(OTHER_SECRET, [topic]),
        "expired": mint_token(SECRET, [topic], expires_in_s=-5),
        "malformed": "not.a.token",
    }
    for name, token in cases.items():
        answer = requests.get(url, headers=bearer(token), timeout=10)
        assert answer.status_code == 401, name
        challenge = answer.headers["WWW-Authenticate"]
        assert challenge.startswith('Bearer realm="kafkasse", error="invalid_token"'), name
        assert token not in answer.text and token not in challenge
    expired = requests.get(url, headers=bearer(cases["expired"]), timeout=10)
    assert "expired" in expired.json()["message"]


def test_claims_narrow_allowed_topics_and_globs_never_reach_internal_topics(
    kafka, make_topic, serve
):
    listed, unlisted = make_topic(), make_topic()
    everything = mint_token(SECRET, ["*", "__*", "?_*"])
    narrowed = serve({"allowed_topics": [listed], "jwt_keys": SECRET})
    granted = requests.get(
        f"{narrowed.url}/{listed}", headers=bearer(everything), timeout=10, stream=True
    )
    assert granted.status_code == 200
    granted.close()
    widened = requests.get(f"{narrowed.url}/{unlisted}", headers=bearer(everything), timeout=10)
    assert widened.status_code == 404

    # A topic that looks internal ("__…"), on the allow-list: no glob reaches it, its name does.
    internal = kafka.create_topic(unique_topic("__tokens"), 1)
    try:
        server = serve({"jwt_keys": SECRET, "allowed_topics": [listed, internal]})
        by_glob = requests.get(f"{server.url}/{internal}", headers=bearer(everything), timeout=10)
        assert by_glob.status_code == 404
        exact = mint_token(SECRET, [internal])
        by_name = requests.get(
            f"{server.url}/{internal}", headers=bearer(exact), timeout=10, stream=True
        )
        assert by_name.status_code == 200
        by_name.close()
        # Kafka's own internal topic is never served, whatever the token says.
        offsets = requests.get(
            f"{server.url}/__consumer_offsets",
            headers=bearer(mint_token(SECRET, ["__consumer_offsets"])),
            timeout=10,
        )
        assert offsets.status_code == 404
    finally:
        kafka.delete_topics([internal])


def test_last_event_id_cannot_reach_a_topic_outside_the_claim(kafka, make_topic, serve):
    granted, other = make_topic(), make_topic()
    token = mint_token(SECRET, [granted])
    app = serve({"allowed_topics": [granted, other], "jwt_keys": SECRET})
    resume_other = json.dumps([{"topic": other, "partition": 0, "offset": 0}])
    answer = requests.get(
        f"{app.url}/{granted}",
        headers={**bearer(token), "Last-Event-ID": resume_other},
        timeout=10,
    )
    assert answer.status_code == 400  # an id only positions the path's topics
    # kafka_sse() with the application's assignments: the claim still decides.
    function = serve(
        {"allowed_topics": [granted, other], "jwt_keys": SECRET},
        mode="function",
        assignments=[granted, other],
    )
    answer = requests.get(
        f"{function.url}/", headers={**bearer(token), "Last-Event-ID": resume_other}, timeout=10
    )
    assert answer.status_code == 404 and answer.json()["topics"] == [other]


def test_a_query_token_is_refused_unless_enabled_and_never_logged(
    kafka, make_topic, serve, tmp_path, kafka_bootstrap
):
    topic = make_topic()
    kafka.produce(topic, [{"n": 7}])
    token = mint_token(SECRET, [topic])
    refused = serve({"allowed_topics": [topic], "jwt_keys": SECRET})
    curl = ["curl", "-sS", "-N", "--max-time", "5", "-D", "-"]
    out = subprocess.run(
        [*curl, f"{refused.url}/{topic}?access_token={token}"], capture_output=True, text=True
    ).stdout
    assert out.startswith("HTTP/1.1 400") and token not in out
    assert 'error="invalid_request"' in out

    # Enabled, through gunicorn whose access log writes the request line: redacted there.
    config = {
        "options": {
            "allowed_topics": [topic],
            "jwt_keys": SECRET,
            "jwt_allow_query_token": True,
            "kafka_config": {"bootstrap_servers": kafka_bootstrap},
        }
    }
    log_path = tmp_path / "gunicorn.log"
    server = start_gunicorn(
        "tests.support.gunicorn_app:app",
        extra_args=["--access-logfile", "-"],
        env={"TEST_APP_CONFIG": json.dumps(config)},
        log_path=log_path,
    )
    try:
        out = subprocess.run(
            [*curl, "--max-time", "4", f"{server.url}/{topic}?since=0&access_token={token}"],
            capture_output=True,
            text=True,
        ).stdout
        assert out.startswith("HTTP/1.1 200")
        assert '"n": 7' in out or '"n":7' in out
        bad = subprocess.run(
            [*curl, f"{server.url}/{topic}?access_token=x{token}"], capture_output=True, text=True
        ).stdout
        assert bad.startswith("HTTP/1.1 401") and token not in bad
    finally:
        server.stop()
    log = log_path.read_text()
    assert "access_token=REDACTED" in log
    assert token not in log and token.split(".")[2] not in log


def test_rs_es_and_eddsa_public_keys_verify_their_own_tokens_only(kafka, make_topic, serve):
    topic = make_topic()
    keys = {"RS256": rsa_key(), "ES256": ec_key(), "EdDSA": ed_key()}
    server = serve({"allowed_topics": [topic], "jwt_keys": [public_pem(k) for k in keys.values()]})
    for algorithm, key in keys.items():
        token = mint_token(key, [topic], algorithm=algorithm)
        answer = requests.get(
            f"{server.url}/{topic}", headers=bearer(token), timeout=10, stream=True
        )
        assert answer.status_code == 200, algorithm
        answer.close()
    # HS/RS confusion: the RSA public key (public knowledge) used as an HMAC secret.
    rsa_pem = public_pem(keys["RS256"]).encode()
    forged = jwt.api_jws.PyJWS().encode(
        json.dumps({"exp": int(time.time()) + 60, "kafkasse": {"topics": [topic]}}).encode(),
        b"x" * 32,
        algorithm="HS256",
    )
    header, payload, _ = forged.split(".")
    import base64
    import hashlib
    import hmac

    signature = hmac.new(rsa_pem, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    confused = f"{header}.{payload}." + base64.urlsafe_b64encode(signature).rstrip(b"=").decode()
    answer = requests.get(f"{server.url}/{topic}", headers=bearer(confused), timeout=10)
    assert answer.status_code == 401


def test_a_stream_ends_when_its_token_expires_and_resumes_exactly_with_a_new_one(
    kafka, make_topic, serve
):
    """Nothing was produced before the expiry: the end still carries the id to resume from,
    so what arrives between the end and the reconnect is not lost (no reset either)."""
    topic = make_topic(partitions=2)
    server = serve({"allowed_topics": [topic], "jwt_keys": SECRET})
    lifetime_s = 3
    token = mint_token(SECRET, [topic], expires_in_s=lifetime_s)
    expires_at = jwt.decode(token, options={"verify_signature": False})["exp"]
    with SSEReader(f"{server.url}/{topic}", headers=bearer(token)) as reader:
        assert reader.status == 200
        events = reader.read_until_end(timeout_s=lifetime_s + 10)
        ended_at = time.time()
    assert expires_at <= ended_at < expires_at + 2
    assert events == []  # no event: reset, no event: error
    tail = reader.raw.decode()
    assert tail.endswith(":end: token_expired\n\n")
    # The first frame's id, then the end's: the same, as nothing was delivered in between.
    first_id, resume_id = [line[4:] for line in tail.split("\n") if line.startswith("id: ")]
    assert first_id == resume_id
    assert "retry: " in tail
    assert sorted(p["partition"] for p in json.loads(resume_id)) == [0, 1]

    for partition in (0, 1):
        kafka.produce(topic, [{"n": i, "p": partition} for i in range(3)], partition=partition)
    fresh = mint_token(SECRET, [topic])
    with SSEReader(
        f"{server.url}/{topic}", headers={**bearer(fresh), "Last-Event-ID": resume_id}
    ) as reader:
        got = payloads_of(reader.read(6, timeout_s=10))
        assert reader.read(1, timeout_s=1, types=("reset", "error")) == []
    assert sorted((e["p"], e["n"]) for e in got) == [(p, n) for p in (0, 1) for n in range(3)]


def test_keys_from_a_jwks_url_follow_its_rotation(kafka, make_topic, serve):
    topic = make_topic()
    old, new = rsa_key(), ec_key()
    with JwksServer([public_jwk(old, "old")]) as jwks:
        server = serve({"allowed_topics": [topic], "jwt_keys": jwks.url})
        url = f"{server.url}/{topic}"
        old_token = mint_token(old, [topic], algorithm="RS256", kid="old")
        new_token = mint_token(new, [topic], algorithm="ES256", kid="new")
        first = requests.get(url, headers=bearer(old_token), timeout=10, stream=True)
        assert first.status_code == 200
        first.close()
        fetched_at = time.monotonic()
        assert jwks.fetches == 1

        jwks.keys = [public_jwk(new, "new")]  # rotation: the old key is withdrawn
        # Within the cooldown an unknown kid does not make the server fetch again.
        early = requests.get(url, headers=bearer(new_token), timeout=10)
        assert early.status_code == 401 and jwks.fetches == 1
        time.sleep(max(0.0, fetched_at + JWKS_REFRESH_COOLDOWN_S + 0.5 - time.monotonic()))
        rotated = requests.get(url, headers=bearer(new_token), timeout=10, stream=True)
        assert rotated.status_code == 200 and jwks.fetches == 2
        rotated.close()
        withdrawn = requests.get(url, headers=bearer(old_token), timeout=10)
        assert withdrawn.status_code == 401


def test_node_eventsource_streams_with_an_authorization_header(kafka, make_topic, serve):
    if not node_client_available():
        pytest.fail("Node's eventsource client is missing: run scripts/ci-deps")
    topic = make_topic()
    kafka.produce(topic, [{"n": i} for i in range(5)])
    server = serve({"allowed_topics": [topic], "jwt_keys": SECRET})
    token = mint_token(SECRET, [topic])
    process = start_node_client(f"{server.url}/{topic}?since=0", 5, 15_000, headers=bearer(token))
    records = records_of(process, timeout_s=30)
    assert [json.loads(r["data"])["n"] for r in records if r["type"] == "message"] == list(range(5))
    refused = start_node_client(f"{server.url}/{topic}?since=0", 1, 3_000)
    records = records_of(refused, timeout_s=30)
    assert not [r for r in records if r["type"] in ("open", "message")]
    assert any(r["type"] == "error" for r in records)


def test_a_refused_query_token_is_not_in_the_error_body(make_topic, serve):
    topic = make_topic()
    server = serve({"allowed_topics": [topic], "jwt_keys": SECRET})
    token = mint_token(SECRET, [topic])
    response, body = read_raw(f"{server.url}/{topic}?access_token={token}")
    assert response.status_code == 400 and token.encode() not in body


def test_a_request_without_a_token_is_refused_before_admission(kafka, make_topic, serve):
    """401 comes first: a tokenless client takes no stream slot and opens no consumer, so
    with the process full it still gets 401, not 503."""
    topic = make_topic()
    server = serve({"allowed_topics": [topic], "jwt_keys": SECRET, "max_streams": 1})
    token = mint_token(SECRET, [topic])
    with SSEReader(f"{server.url}/{topic}", headers=bearer(token)) as holder:
        assert holder.status == 200
        full = requests.get(f"{server.url}/{topic}", headers=bearer(token), timeout=10)
        assert full.status_code == 503
        tokenless = requests.get(f"{server.url}/{topic}", timeout=10)
        assert tokenless.status_code == 401


def test_a_cross_origin_preflight_allows_the_authorization_header(make_topic, serve):
    topic = make_topic()
    origin = "http://app.test"
    server = serve({"allowed_topics": [topic], "jwt_keys": SECRET, "cors_origins": [origin]})
    answer = requests.options(
        f"{server.url}/{topic}",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization",
        },
        timeout=10,
    )
    assert answer.status_code == 204
    allowed = answer.headers["Access-Control-Allow-Headers"].lower().split(", ")
    assert "authorization" in allowed
    # The refusal of a cross-origin request is readable by the page (CORS on errors too).
    refused = requests.get(f"{server.url}/{topic}", headers={"Origin": origin}, timeout=10)
    assert refused.status_code == 401
    assert refused.headers["Access-Control-Allow-Origin"] == origin


def test_an_optional_token_narrows_when_present(kafka, make_topic, serve):
    first, second = make_topic(), make_topic()
    server = serve({"allowed_topics": [first, second], "jwt_keys": SECRET, "jwt_required": False})
    anonymous = requests.get(f"{server.url}/{second}", timeout=10, stream=True)
    assert anonymous.status_code == 200
    anonymous.close()
    token = mint_token(SECRET, [first])
    narrowed = requests.get(f"{server.url}/{second}", headers=bearer(token), timeout=10)
    assert narrowed.status_code == 404
    forged = mint_token(OTHER_SECRET, [second])
    assert (
        requests.get(f"{server.url}/{second}", headers=bearer(forged), timeout=10).status_code
        == 401
    )


@pytest.mark.parametrize("how", ["key-file-flag", "jwks-url-env", "secret-env"])
def test_kafkasse_wsgi_serve_takes_its_token_settings_from_flags_or_environment(
    kafka, make_topic, kafka_bootstrap, tmp_path, how
):
    from tests.support.servers import start_cli

    topic, other = make_topic(), make_topic()
    kafka.produce(topic, [{"n": 1}])
    key = rsa_key()
    args = ["--bootstrap-servers", kafka_bootstrap, "--allowed-topics", f"{topic},{other}"]
    env: dict[str, str] = {}
    jwks = None
    if how == "key-file-flag":
        pem = tmp_path / "public.pem"
        pem.write_text(public_pem(key))
        args += ["--jwt-key", str(pem), "--jwt-algorithms", "RS256", "--jwt-audience", "svc"]
        token = mint_token(key, [topic], algorithm="RS256", audience="svc")
        wrong = mint_token(key, [topic], algorithm="RS256", audience="other")
    elif how == "jwks-url-env":
        jwks = JwksServer([public_jwk(key, "k1")]).__enter__()
        env = {"KAFKASSE_JWT_JWKS": jwks.url, "KAFKASSE_JWT_ISSUER": "https://idp.test"}
        token = mint_token(key, [topic], algorithm="RS256", kid="k1", issuer="https://idp.test")
        wrong = mint_token(key, [topic], algorithm="RS256", kid="k1", issuer="https://evil.test")
    else:
        env = {"KAFKASSE_JWT_KEYS": SECRET, "KAFKASSE_JWT_ALLOW_QUERY_TOKEN": "1"}
        token = mint_token(SECRET, [topic])
        wrong = mint_token(OTHER_SECRET, [topic])
    server = start_cli(args, env=env)
    try:
        with SSEReader(f"{server.url}/{topic}?since=0", headers=bearer(token)) as reader:
            assert reader.status == 200 and payloads_of(reader.read(1))[0]["n"] == 1
        assert (
            requests.get(f"{server.url}/{other}", headers=bearer(token), timeout=10).status_code
            == 404
        )
        assert (
            requests.get(f"{server.url}/{topic}", headers=bearer(wrong), timeout=10).status_code
            == 401
        )
        assert requests.get(f"{server.url}/{topic}", timeout=10).status_code == 401
        if how == "secret-env":
            query = requests.get(
                f"{server.url}/{topic}?access_token={token}", timeout=10, stream=True
            )
            assert query.status_code == 200
            query.close()
    finally:
        assert server.stop() == 0
        if jwks is not None:
            jwks.__exit__(None, None, None)
