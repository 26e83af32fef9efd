"""Hostile tokens over real HTTP (gevent server, real broker): never a 5xx, never a stream of
a topic outside the claim or the allow-list, never the token in the answer.

Tokens are drawn symbolically (which key signs them, which topics the claim names, how they
are spoiled, where they travel) and carry their own oracle, decided from what was drawn.
The pure verifier gets 2,400 more hostile tokens in ``tests/unit/test_tokens.py``.
"""

from __future__ import annotations

import collections
import time
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kafkasse_wsgi.tokens import MAX_TOKEN_BYTES, mint_token
from tests.support.tokens import OTHER_SECRET, SECRET, public_pem, rsa_key

pytestmark = pytest.mark.slow

EXAMPLES = 400
RSA, STRANGER = rsa_key(), rsa_key()
OUTCOMES: collections.Counter[str] = collections.Counter()

# Symbolic topics: A and B allowed, F exists but is not on the allow-list, INTERNAL is Kafka's.
TOPICS = ["A", "B", "F", "INTERNAL"]
claim_entries = st.lists(
    st.one_of(
        st.sampled_from(["A", "B", "F", "INTERNAL"]),
        st.sampled_from(["*", "?*", "__*", "A*", "*-x", "[A]", "a/b", "Α"]),  # noqa: RUF001
    ),
    max_size=4,
)
spoilers = st.sampled_from(
    [
        "none",
        "none",
        "none",
        "expired",
        "nbf",
        "other_secret",
        "stranger",
        "alg_none",
        "truncate",
        "huge",
        "garbage",
        "claim_not_list",
    ]
)
signers = st.sampled_from(["HS256", "RS256"])
carriers = st.sampled_from(["header", "cookie", "query", "query_disabled", "absent"])


def render_claim(entries: list[str], names: dict[str, str]) -> list[str]:
    return [names.get(e, e) for e in entries]


def make_token(signer: str, claim: list[str], spoiler: str) -> tuple[str, bool]:
    """The token and whether it is valid (signed by a configured key, in date, well-formed)."""
    key: Any = SECRET if signer == "HS256" else RSA
    lifetime = 60.0
    extra: dict[str, Any] = {}
    if spoiler == "expired":
        lifetime = -30
    elif spoiler == "nbf":
        extra["nbf"] = int(time.time()) + 3600
    elif spoiler == "other_secret":
        key, signer = OTHER_SECRET, "HS256"
    elif spoiler == "stranger":
        key, signer = STRANGER, "RS256"
    elif spoiler == "claim_not_list":
        extra["kafkasse"] = {"topics": ",".join(claim) or "x"}
    token = mint_token(key, claim, algorithm=signer, expires_in_s=lifetime, claims=extra)
    head, body, signature = token.split(".")
    if spoiler == "alg_none":
        return "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0." + body + ".", False
    if spoiler == "truncate":
        return f"{head}.{body}.{signature[:-3]}", False
    if spoiler == "huge":
        return token + "A" * MAX_TOKEN_BYTES, False
    if spoiler == "garbage":
        return "\x00\u00e9" + token[::-1], False
    valid = spoiler == "none" and all(entry_is_valid(e) for e in claim)
    return token, valid


def entry_is_valid(entry: str) -> bool:
    return all(c.isascii() and (c.isalnum() or c in "._-*?") for c in entry) and bool(entry)


def granted(entry_keys: list[str], topic_key: str) -> bool:
    """Oracle: the symbolic claim grants the symbolic topic (globs never reach INTERNAL)."""
    if topic_key in entry_keys:
        return True
    if topic_key == "INTERNAL":
        return False
    # Real names are "<prefix>-<uuid>": "*" and "?*" match them all; the others match none.
    return any(entry in ("*", "?*") for entry in entry_keys)


@pytest.fixture(scope="module")
def world(kafka):
    from tests.support.kafka import unique_topic

    names = {
        key: kafka.create_topic(unique_topic(f"hostile-tok-{key.lower()}"), 1) for key in "ABF"
    }
    names["INTERNAL"] = "__consumer_offsets"
    yield names
    kafka.delete_topics([names[k] for k in "ABF"])


def test_hostile_tokens_over_http(world, serve):
    names = world
    options = {"allowed_topics": [names["A"], names["B"]], "jwt_keys": [SECRET, public_pem(RSA)]}
    with_query = serve({**options, "jwt_allow_query_token": True})
    without_query = serve(options)
    OUTCOMES.clear()

    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    @given(
        entries=claim_entries,
        spoiler=spoilers,
        signer=signers,
        carrier=carriers,
        topic_key=st.sampled_from(TOPICS),
    )
    def check(entries, spoiler, signer, carrier, topic_key):
        claim = render_claim(entries, names)
        token, valid = make_token(signer, claim, spoiler)
        topic = names[topic_key]
        server = without_query if carrier == "query_disabled" else with_query
        headers: dict[str, str] = {}
        url = f"{server.url}/{topic}"
        if carrier == "header":
            headers["Authorization"] = f"Bearer {token}"
        elif carrier == "cookie":
            headers["Cookie"] = f"kafkasse_token={token}"
        elif carrier in ("query", "query_disabled"):
            url += "?access_token=" + requests.utils.quote(token, safe="")
        try:
            response = requests.get(url, headers=headers, timeout=15, stream=True)
        except (requests.exceptions.InvalidHeader, ValueError):
            OUTCOMES["unsendable"] += 1  # the client library refuses such a header itself
            assert spoiler == "garbage"
            return
        except requests.ConnectionError:
            # The server may drop a request it cannot parse (a header byte it refuses).
            OUTCOMES["dropped"] += 1
            assert spoiler in ("garbage", "huge")
            return
        try:
            status = response.status_code
            body = b"" if status == 200 else response.content
        finally:
            response.close()
        OUTCOMES[str(status)] += 1
        assert status < 500, (status, body)
        assert token.encode("utf-8", "replace") not in body
        assert all(token not in value for value in response.headers.values())
        if carrier == "absent":
            assert status == 401
        elif carrier == "query_disabled":
            assert status in (400, 414)  # 414: the server's own limit on the request line
        elif not valid:
            assert status in (400, 401, 414, 431), (spoiler, claim, status)
        elif topic_key in ("A", "B") and granted(entries, topic_key):
            assert status == 200, (claim, topic_key, body)
        else:
            assert status == 404, (claim, topic_key, status)

    check()
    print("hostile tokens over HTTP, outcomes:", sorted(OUTCOMES.items()))
    assert sum(OUTCOMES.values()) >= EXAMPLES
    for outcome in ("200", "401", "404", "400"):
        assert OUTCOMES[outcome] >= 10, sorted(OUTCOMES.items())
