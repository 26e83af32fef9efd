"""Subscriber tokens as pure units: keys, algorithms, claims, globs, where a token is read.

The hostile-token property at the end draws over 2,000 tokens (``alg: none``, HS/RS confusion,
wrong ``aud``/``iss``, future ``nbf``, huge, malformed, claims of the wrong type, glob and
look-alike tricks) and checks: a grant only for a token signed by a configured key with a
valid claim, otherwise :class:`InvalidTokenError` and never another exception; never a part of
the token in a message or header; and a grant never allows a topic its claim does not name.
"""

from __future__ import annotations

import base64
import collections
import hashlib
import hmac
import json
import re
import time
from pathlib import Path
from typing import Any

import jwt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kafkasse_wsgi import Options
from kafkasse_wsgi import tokens as tokens_module
from kafkasse_wsgi._internal_topics import is_internal_topic
from kafkasse_wsgi.errors import ConfigurationError, InvalidTokenError
from kafkasse_wsgi.tokens import (
    MAX_TOKEN_BYTES,
    KeySet,
    TokenGrant,
    TokenVerifier,
    authenticate,
    mint_token,
    read_token,
)
from tests.support.tokens import (
    OTHER_SECRET,
    SECRET,
    ec_key,
    ed_key,
    public_jwk,
    public_pem,
    rsa_key,
)

RSA, EC, ED, STRANGER = rsa_key(), ec_key(), ed_key(), rsa_key()
KEYS = KeySet([SECRET, public_pem(RSA), public_pem(EC), public_pem(ED)])
AUDIENCE, ISSUER = "kafkasse-tests", "https://issuer.test"
VERIFIER = TokenVerifier(KEYS, audience=[AUDIENCE], issuer=ISSUER)
TOPIC_CHARS = "abcxyz019._-"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def raw_token(header: Any, payload: Any, key: bytes | None = None, signature: str = "") -> str:
    """A token assembled by hand: any header and payload, HMAC-signed with ``key`` if given."""
    head = b64(json.dumps(header).encode())
    body = b64(json.dumps(payload).encode())
    if key is not None:
        signature = b64(hmac.new(key, f"{head}.{body}".encode(), hashlib.sha256).digest())
    return f"{head}.{body}.{signature}"


def claims(topics: Any = ("a",), **extra: Any) -> dict[str, Any]:
    now = int(time.time())
    body = {"exp": now + 60, "iat": now, "aud": AUDIENCE, "iss": ISSUER}
    if topics is not None:
        body["kafkasse"] = {"topics": topics}
    body.update(extra)
    return body


def sign(
    payload: dict[str, Any], key: Any = SECRET, algorithm: str = "HS256", **headers: Any
) -> str:
    return jwt.encode(payload, key, algorithm=algorithm, headers=headers or None)


# --- keys and options ------------------------------------------------------------------------


def test_each_key_kind_verifies_its_own_algorithms():
    for key, algorithm in [
        (SECRET, "HS256"),
        (SECRET, "HS512"),
        (RSA, "RS256"),
        (RSA, "PS384"),
        (EC, "ES256"),
        (ED, "EdDSA"),
    ]:
        grant = VERIFIER.verify(sign(claims(["t1"]), key, algorithm))
        assert grant.topics == ("t1",), algorithm


def test_a_key_never_verifies_another_kind_of_algorithm():
    rsa_pem = public_pem(RSA).encode()
    # HS256 with the RSA public key as the HMAC secret: the classic confusion attack.
    confused = raw_token({"alg": "HS256", "typ": "JWT"}, claims(), key=rsa_pem)
    with pytest.raises(InvalidTokenError, match="signature does not verify"):
        VERIFIER.verify(confused)
    only_rsa = TokenVerifier(KeySet(public_pem(RSA)))
    with pytest.raises(InvalidTokenError, match="key is not known"):
        only_rsa.verify(raw_token({"alg": "HS256"}, claims(), key=rsa_pem))
    with pytest.raises(InvalidTokenError, match="key is not known"):
        only_rsa.verify(sign(claims(), EC, "ES256"))  # ES token, only an RSA key here


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE", "", None, 1, ["HS256"]])
def test_alg_none_and_its_spellings_are_refused(alg):
    for signature in ("", "AAAA"):
        token = raw_token({"alg": alg, "typ": "JWT"}, claims(), signature=signature)
        with pytest.raises(InvalidTokenError, match="algorithm is not accepted"):
            VERIFIER.verify(token)


def test_jwt_algorithms_narrow_and_never_accept_none():
    narrow = TokenVerifier(KEYS, algorithms=["RS256"])
    assert narrow.verify(sign(claims(), RSA, "RS256"))
    with pytest.raises(InvalidTokenError, match="algorithm"):
        narrow.verify(sign(claims()))
    for bad in (["none"], ["HS256", "none"], [], ["HS1"]):
        with pytest.raises(ConfigurationError, match="jwt_algorithms"):
            Options(jwt_keys=SECRET, jwt_algorithms=bad)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: claims(aud="someone-else"), "aud"),
        (lambda: {k: v for k, v in claims().items() if k != "aud"}, "lacks its aud claim"),
        (lambda: claims(iss="https://evil.test"), "iss"),
        (lambda: claims(nbf=int(time.time()) + 3600), "not valid yet"),
        (lambda: claims(iat=int(time.time()) + 3600), "not valid yet"),
        (lambda: claims(exp=int(time.time()) - 1), "expired"),
        (lambda: {k: v for k, v in claims().items() if k != "exp"}, "lacks its exp claim"),
        (lambda: claims(exp="tomorrow"), "malformed"),
    ],
)
def test_registered_claims_are_checked(make, message):
    # Built when the test runs: a token made at collection could expire before it.
    with pytest.raises(InvalidTokenError, match=message):
        VERIFIER.verify(sign(make()))


def test_audience_and_issuer_are_only_checked_when_set():
    lax = TokenVerifier(KEYS)
    assert lax.verify(sign(claims(aud="anyone", iss="anybody"))).topics == ("a",)


def test_a_token_for_one_of_several_audiences_is_accepted():
    verifier = TokenVerifier(KEYS, audience=["x", AUDIENCE])
    assert verifier.verify(sign(claims(aud=[AUDIENCE, "other"])))


@pytest.mark.parametrize(
    "topics",
    [
        "a",
        {"a": 1},
        [1],
        ["a", None],
        [""],
        ["a/b"],
        ["a b"],
        ["tοpic"],  # noqa: RUF001 (a look-alike on purpose)
        ["ｔopic"],  # noqa: RUF001
        ["a\n"],
        ["[ab]*"],
        ["a" * 250],
        True,
    ],
)
def test_a_topics_claim_of_the_wrong_shape_makes_the_token_invalid(topics):
    with pytest.raises(InvalidTokenError, match="topics claim"):
        VERIFIER.verify(sign(claims(topics)))


def test_the_topics_claim_is_found_by_its_exact_name_or_its_dotted_path():
    assert VERIFIER.verify(sign(claims(None, **{"kafkasse.topics": ["flat"]}))).topics == ("flat",)
    assert VERIFIER.verify(sign(claims(["nested"]))).topics == ("nested",)
    assert VERIFIER.verify(sign(claims(None))).topics == ()  # no claim: grants nothing
    url_claim = TokenVerifier(KEYS, topics_claim="https://example.com/topics")
    token = sign(claims(None, **{"https://example.com/topics": ["u"]}))
    assert url_claim.verify(token).topics == ("u",)


def test_globs_match_names_but_never_internal_topics():
    grant = TokenGrant(("orders-*", "user.?", "__exact", "*"), time.time() + 60)
    assert grant.allows("orders-eu") and grant.allows("user.1") and grant.allows("anything")
    assert grant.allows("__exact")
    assert not grant.allows("__consumer_offsets") and not grant.allows("__transaction_state")
    for internal in ("_schemas", "connect-configs", "app-store-changelog", "a-b-repartition"):
        assert not grant.allows(internal)
    narrow = TokenGrant(("orders-*", "Case"), time.time() + 60)
    assert (
        not narrow.allows("orders") and not narrow.allows("case") and not narrow.allows("xorders-1")
    )


def test_keys_from_a_jwks_mapping_and_file_honour_kid_and_alg(tmp_path: Path):
    jwks = {"keys": [public_jwk(RSA, "r1", "RS256"), public_jwk(EC, "e1")]}
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(jwks))
    for spec in (jwks, path):
        verifier = TokenVerifier(KeySet(spec))
        assert verifier.verify(sign(claims(), RSA, "RS256", kid="r1"))
        assert verifier.verify(sign(claims(), EC, "ES256", kid="e1"))
        with pytest.raises(InvalidTokenError, match=r"algorithm|key"):
            verifier.verify(sign(claims(), RSA, "PS256", kid="r1"))  # its JWK says RS256
        with pytest.raises(InvalidTokenError, match="key is not known"):
            verifier.verify(sign(claims(), RSA, "RS256", kid="e1"))
        with pytest.raises(InvalidTokenError, match="key is not known"):
            verifier.verify(sign(claims(), RSA, "RS256", kid="../../etc/passwd"))


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("short", "at least 32 bytes"),
        ([], "names no key"),
        (42, "not a key"),
        ("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----", "private key"),
        ("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----", "not a public key"),
        ({"keys": []}, "no usable"),
        ({"keys": "x"}, "must be a list"),
        ({"keys": [{"kty": "oct", "k": "c2hvcnQ"}]}, "no usable"),
        (Path("/nonexistent/jwks.json"), "cannot read"),
        ("ftp://example.test/jwks.json", "pathlib"),  # not a URL we fetch, nor a secret
    ],
)
def test_bad_keys_are_configuration_errors_naming_the_option(spec, message):
    with pytest.raises(ConfigurationError, match=message) as raised:
        Options(jwt_keys=spec)
    assert "jwt_keys" in raised.value.message


def test_a_string_naming_a_file_is_not_taken_as_a_secret(tmp_path: Path):
    path = tmp_path / ("k" * 40)
    path.write_text(public_pem(RSA))
    for name in (
        str(path),
        "/etc/kafkasse/no-such-public-key-file.pem",
        "keys/jwks-of-the-idp.json",
    ):
        with pytest.raises(ConfigurationError, match=r"pathlib\.Path"):
            Options(jwt_keys=name)
    # As bytes, such a string is a secret after all.
    assert Options(jwt_keys=b"/a-secret-that-starts-like-a-path-0123456789").jwt_required
    assert Options(jwt_keys=path).token_verifier.verify(sign(claims(), RSA, "RS256"))


def test_token_options_validation():
    assert Options().jwt_required is False and Options().token_verifier is None
    assert Options(jwt_keys=SECRET).jwt_required is True
    assert Options(jwt_keys=SECRET, jwt_required=False).jwt_required is False
    with pytest.raises(ConfigurationError, match="jwt_required"):
        Options(jwt_required=True)
    with pytest.raises(ConfigurationError, match="need jwt_keys"):
        Options(jwt_audience="x")
    with pytest.raises(ConfigurationError, match="jwt_cookie_name"):
        Options(jwt_keys=SECRET, jwt_cookie_name="a b")
    with pytest.raises(ConfigurationError, match="jwt_allow_query_token"):
        Options(jwt_allow_query_token="yes")
    with pytest.raises(ConfigurationError, match="jwt_audience"):
        Options(jwt_keys=SECRET, jwt_audience=[""])
    options = Options(jwt_keys=SECRET, jwt_algorithms="HS256, HS512", jwt_audience="a")
    assert options.jwt_algorithms == ("HS256", "HS512") and options.jwt_audience == ("a",)
    # replace() keeps the key set (a JWKS client and its cache are not rebuilt per request).
    assert options.replace(disable_sse_formatting=True).jwt_keys is options.jwt_keys


def test_mint_token_round_trips_through_the_verifier():
    token = mint_token(
        SECRET, ["a", "b*"], expires_in_s=30, subject="u1", audience=AUDIENCE, issuer=ISSUER
    )
    grant = VERIFIER.verify(token)
    assert grant.topics == ("a", "b*") and grant.subject == "u1"
    assert 28 < grant.seconds_left() <= 30


# --- where a token is read -------------------------------------------------------------------


def test_a_token_is_read_from_the_header_then_the_cookie_then_the_query():
    both = {"HTTP_AUTHORIZATION": "Bearer H", "HTTP_COOKIE": "kafkasse_token=C"}
    assert read_token(dict(both)) == "H"
    assert read_token({"HTTP_AUTHORIZATION": "bearer  H "}) == "H"
    assert (
        read_token({"HTTP_AUTHORIZATION": "Basic dTpw", "HTTP_COOKIE": "a=1; kafkasse_token=C"})
        == "C"
    )
    assert read_token({"HTTP_COOKIE": "mine=M"}, cookie_name="mine") == "M"
    assert read_token({"QUERY_STRING": "access_token=Q"}, allow_query=True) == "Q"
    assert read_token({"QUERY_STRING": "access_token=Q", **both}, allow_query=True) == "H"
    assert read_token({}) is None and read_token({"HTTP_COOKIE": "kafkasse_token="}) is None


@pytest.mark.parametrize(
    ("header", "token"),
    [
        ("Bearer H", "H"),
        ("bearer  H ", "H"),  # the scheme in any case; spaces around the token
        ("BEARER H", "H"),
        ("Bearer abc==", "abc=="),  # token68 may end in =
        ("Bearer", "C"),  # no token: as without the header, the cookie
        ("Bearer   ", "C"),
        ("Basic dTpw", "C"),  # another scheme (a proxy's): the cookie
        ("Basic \x80\xe9", "C"),  # werkzeug raises on a Basic header that is not ASCII
        ("Bearer\tH", "C"),  # not the Bearer scheme: a tab is not its separator
    ],
)
def test_the_bearer_header_is_read_as_werkzeug_reads_it(header, token):
    environ = {"HTTP_AUTHORIZATION": header, "HTTP_COOKIE": "kafkasse_token=C"}
    assert read_token(environ) == token


@pytest.mark.parametrize("header", ["Bearer a b", "Bearer H, Basic dTpw", "Bearer a=b"])
def test_a_bearer_header_holding_anything_but_one_token_is_refused_not_passed_over(header):
    """A Bearer header carrying two words or a second scheme was passed over for the cookie
    (or answered "a subscriber token is required"): the client's own credential ignored in
    silence. It is refused as malformed (401 invalid_token), whatever the cookie holds."""
    cookie = mint_token(SECRET, ["a"])
    environ = {"HTTP_AUTHORIZATION": header, "HTTP_COOKIE": f"kafkasse_token={cookie}"}
    with pytest.raises(InvalidTokenError) as raised:
        authenticate(environ, Options(jwt_keys=SECRET))
    assert raised.value.status == 401 and raised.value.bearer_error == "invalid_token"
    assert raised.value.message == "the token is malformed"
    assert authenticate({"HTTP_COOKIE": f"kafkasse_token={cookie}"}, Options(jwt_keys=SECRET))


@settings(max_examples=2000, deadline=None, derandomize=True, database=None)
@given(
    header=st.one_of(
        st.text(st.characters(max_codepoint=255)),
        st.builds(
            str.__add__,
            st.sampled_from(["Bearer ", "bearer  ", "Basic ", "Digest ", "Bearer a*="]),
            st.text(st.characters(max_codepoint=255)),
        ),
    )
)
def test_any_authorization_header_is_a_token_none_or_a_refusal(header):
    """A WSGI header is any Latin-1 string: never another exception than a refusal."""
    try:
        token = read_token({"HTTP_AUTHORIZATION": header})
    except InvalidTokenError as refused:
        assert refused.status in (401, 431)
    else:
        assert token is None or (isinstance(token, str) and token)


def test_a_query_token_is_redacted_from_the_environ_and_refused_unless_allowed():
    environ = {
        "QUERY_STRING": "since=0&access_token=SECRET.TOKEN.X",
        "RAW_URI": "/t?since=0&access_token=SECRET.TOKEN.X",
        "REQUEST_URI": "/t?since=0&access_token=SECRET.TOKEN.X",
    }
    assert read_token(environ, allow_query=True) == "SECRET.TOKEN.X"
    for key in ("QUERY_STRING", "RAW_URI", "REQUEST_URI"):
        assert "SECRET" not in environ[key] and "access_token=REDACTED" in environ[key]
    assert environ["QUERY_STRING"].startswith("since=0&")
    refused = {"QUERY_STRING": "access%5Ftoken=SECRET"}  # an encoded name is the same name
    with pytest.raises(InvalidTokenError) as raised:
        read_token(refused)
    assert raised.value.status == 400 and "SECRET" not in refused["QUERY_STRING"]


def test_huge_tokens_are_refused_before_any_parsing():
    huge = "a" * (MAX_TOKEN_BYTES + 1)
    for environ, status in [
        ({"HTTP_AUTHORIZATION": f"Bearer {huge}"}, 431),
        ({"HTTP_COOKIE": f"kafkasse_token={huge}"}, 431),
        ({"QUERY_STRING": f"access_token={huge}"}, 400),
    ]:
        with pytest.raises(InvalidTokenError) as raised:
            read_token(environ, allow_query=True)
        assert raised.value.status == status
    with pytest.raises(InvalidTokenError) as raised:
        VERIFIER.verify(huge)
    assert raised.value.status == 431


def test_the_challenge_header_follows_rfc_6750():
    assert InvalidTokenError.missing().http_headers() == [
        ("WWW-Authenticate", 'Bearer realm="kafkasse"')
    ]
    [(_, value)] = InvalidTokenError.invalid("the token has expired").http_headers()
    assert value == (
        'Bearer realm="kafkasse", error="invalid_token", error_description="the token has expired"'
    )


# --- hostile tokens (property-based) ---------------------------------------------------------

HOSTILE_EXAMPLES = 2400
OUTCOMES: collections.Counter[str] = collections.Counter()
FIXED_MESSAGES = {message for _, message in tokens_module._MESSAGES} | {
    "the token is too large",
    "the token is not valid",
    "the token lacks its exp claim",
    "the token lacks its aud claim",
    "the token lacks its iss claim",
    "the token lacks a required claim",
    "the token's key is not known here",
    "the token's algorithm is not accepted",
    "the token's topics claim must be a list of topic names or glob patterns",
}
LOOKALIKES = [
    "tοpic",  # noqa: RUF001 (look-alikes on purpose)
    "ｔopic",  # noqa: RUF001
    "topic\u200b",
    "topic\n",
    "TOPIC",
    "top ic",
    "__consumer_offsets",
    "*",
    "**",
    "?",
    "__*",
    "_*",
    "..",
    "a" * 249,
]
#: Topics a grant is asked about: plain, internal, look-alike and glob-shaped names.
PROBES = [
    "topic",
    "topic-1",
    "orders.eu",
    "a",
    "b",
    "__consumer_offsets",
    "__transaction_state",
    "_schemas",
    "x" * 249,
    "Topic",
    "*",
]

names = st.text(alphabet=TOPIC_CHARS + "*?", min_size=1, max_size=12)
claim_values = st.one_of(
    st.lists(st.one_of(names, st.sampled_from(LOOKALIKES)), max_size=6),
    st.lists(names, max_size=4),
    st.one_of(
        st.none(),
        st.integers(),
        st.text(max_size=10),
        st.booleans(),
        st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
        st.lists(st.one_of(st.integers(), st.none(), st.floats()), max_size=3),
    ),
)
registered = st.fixed_dictionaries(
    {},
    optional={
        "exp": st.one_of(
            st.integers(-(10**12), 10**12),
            st.integers(min_value=10**15),  # far beyond a float's integers, too
            st.just(10**400),
            st.just(int(time.time()) + 365 * 86400),  # drawn at import: far off
            st.text(max_size=5),
            st.integers(10**10, 10**12).map(str),  # a number in a string, in the future
            st.floats(allow_nan=True),
        ),
        "nbf": st.one_of(
            st.integers(-(10**6), 10**12),
            st.just(int(time.time()) + 365 * 86400),
            st.just(-(10**400)),
        ),
        "iat": st.integers(-(10**6), 10**12),
        "aud": st.one_of(
            st.just(AUDIENCE), st.text(max_size=8), st.lists(st.text(max_size=5), max_size=2)
        ),
        "iss": st.one_of(st.just(ISSUER), st.text(max_size=8), st.integers()),
    },
)
signers = st.sampled_from(
    [
        ("HS256", SECRET),
        ("HS384", SECRET),
        ("HS256", OTHER_SECRET),
        ("RS256", RSA),
        ("PS256", RSA),
        ("RS256", STRANGER),
        ("ES256", EC),
        ("EdDSA", ED),
        ("EdDSA", ed_key()),
        ("HS256", public_pem(RSA).encode()),
        ("none", None),
        ("HS256", SECRET + "x"),
    ]
)
headers = st.fixed_dictionaries(
    {},
    optional={
        "kid": st.one_of(st.text(max_size=8), st.integers(), st.none()),
        "typ": st.sampled_from(["JWT", "at+jwt", "", None]),
        "crit": st.lists(st.text(max_size=4), max_size=2),
        "b64": st.booleans(),
    },
)


@st.composite
def signed_tokens(draw: Any) -> tuple[str, dict[str, Any], bool]:
    """A token with a real signature (by a configured key or not) over hostile claims."""
    algorithm, key = draw(signers)
    payload = draw(registered)
    if draw(st.integers(0, 9)) < 7:  # mostly sane: at most one registered claim is hostile
        hostile = dict(list(payload.items())[:1])
        payload = {**claims(None), **hostile}
    topics = draw(claim_values)
    where = draw(st.sampled_from(["nested", "flat", "absent"]))
    if where == "nested":
        payload["kafkasse"] = {"topics": topics}
    elif where == "flat":
        payload["kafkasse.topics"] = topics
    header = draw(headers) if draw(st.integers(0, 3)) == 0 else {}
    if algorithm == "none" or isinstance(key, bytes):
        # PyJWT refuses to make these: assemble them by hand.
        token = raw_token({**header, "alg": algorithm}, payload, key=key if key else None)
        return token, payload, False
    try:
        token = jwt.encode(payload, key, algorithm=algorithm, headers=header or None)
    except (TypeError, ValueError, jwt.PyJWTError):
        token = raw_token({**header, "alg": algorithm}, payload)
        return token, payload, False
    trusted = key in (SECRET, RSA, EC, ED)
    return token, payload, trusted


mangled = st.one_of(
    st.text(max_size=60),
    st.text(alphabet="ABCabc0123-_=.+/ \t%", max_size=80),
    st.builds(
        lambda a, b, c: f"{a}.{b}.{c}",
        st.text(max_size=20),
        st.text(max_size=40),
        st.text(max_size=20),
    ),
    st.builds(lambda n: "eyJ" + "A" * n, st.integers(0, MAX_TOKEN_BYTES + 100)),
    st.binary(max_size=40).map(lambda b: base64.b64encode(b).decode() + ".e30." + b64(b)),
)


@st.composite
def tampered(draw: Any) -> tuple[str, dict[str, Any], bool]:
    """A valid token with one segment replaced, truncated or padded."""
    token = sign(claims(draw(st.lists(names, min_size=1, max_size=3))))
    parts = token.split(".")
    i = draw(st.integers(0, 2))
    parts[i] = draw(
        st.one_of(
            st.text(alphabet="AZaz09-_=", max_size=30),
            st.just(parts[i][:-1]),
            st.just(parts[i] + "="),
            st.just(parts[i] + "A"),
        )
    )
    return ".".join(parts), {}, False


@settings(
    max_examples=HOSTILE_EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    case=st.one_of(
        signed_tokens(),
        signed_tokens(),
        signed_tokens(),
        signed_tokens(),
        tampered(),
        mangled.map(lambda t: (t, {}, False)),
    )
)
def check_hostile_token(case: tuple[str, dict[str, Any], bool]) -> None:
    token, payload, trusted = case
    try:
        grant = VERIFIER.verify(token)
    except InvalidTokenError as refused:
        OUTCOMES[refused.message] += 1
        assert refused.status in (400, 401, 431)
        # Only fixed texts go out, so no part of the token can (Hypothesis also draws
        # strings from the code's own constants, so a substring check would be fooled).
        assert refused.message in FIXED_MESSAGES, refused.message
        assert refused.to_dict() == {
            "name": "InvalidTokenError",
            "message": refused.message,
            "origin": "KafkaSSE",
        }
        assert refused.http_headers() == [
            (
                "WWW-Authenticate",
                f'Bearer realm="kafkasse", error="{refused.bearer_error}", '
                f'error_description="{refused.message}"',
            )
        ]
        return
    # Accepted: only a configured key's signature over a well-formed claim.
    OUTCOMES["accepted"] += 1
    assert trusted, token
    claim = payload.get("kafkasse.topics", (payload.get("kafkasse") or {}).get("topics"))
    for topic in PROBES + list(claim or []):
        if grant.allows(topic):
            assert topic in claim or (
                not is_internal_topic(topic)
                and any(re.fullmatch(_glob_regex(p), topic) for p in claim)
            ), (topic, claim)


def test_hostile_tokens_are_refused_cleanly_and_never_widen_access():
    OUTCOMES.clear()
    check_hostile_token()
    print("hostile tokens, outcomes:", sorted(OUTCOMES.items()))
    assert sum(OUTCOMES.values()) >= HOSTILE_EXAMPLES
    # The draw reaches every kind of refusal, and acceptance too (else it proves little).
    for message in (
        "accepted",
        "the token is malformed",
        "the token's algorithm is not accepted",
        "the token's signature does not verify",
        "the token has expired",
        "the token's topics claim must be a list of topic names or glob patterns",
    ):
        assert OUTCOMES[message] >= 20, sorted(OUTCOMES.items())


def _glob_regex(pattern: str) -> str:
    """An independent reading of the claim's globs: ``*`` any run, ``?`` one character."""
    return "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)


def test_a_cookie_header_that_is_not_utf8_is_a_401_not_a_crash():
    """Broke: werkzeug's parse_cookie raised UnicodeDecodeError on a Latin-1 byte (a 500)."""
    environ = {"HTTP_COOKIE": "kafkasse_token=\x00\xe9abc.def.ghi; other=\xff"}
    token = read_token(environ)
    with pytest.raises(InvalidTokenError, match="malformed"):
        VERIFIER.verify(token or "")


def test_an_unreachable_jwks_url_is_a_503_and_one_client_serves_each_url():
    from kafkasse_wsgi.errors import TokenKeysUnavailableError
    from tests.support.servers import free_port

    url = f"http://127.0.0.1:{free_port()}/jwks.json"  # nothing listens there
    keys = KeySet(url)
    assert KeySet([url]).clients[0] is keys.clients[0]  # options built per request share it
    with pytest.raises(TokenKeysUnavailableError) as raised:
        TokenVerifier(keys).verify(sign(claims(), RSA, "RS256", kid="k1"))
    assert raised.value.status == 503 and raised.value.http_headers() == [("Retry-After", "5")]


def test_a_secret_file_is_read_without_its_line_end(tmp_path: Path):
    path = tmp_path / "secret"
    path.write_text(SECRET + "\n")
    assert TokenVerifier(KeySet(path)).verify(sign(claims()))


@pytest.mark.parametrize("exp", [10**400, 2**64, 1e300])
def test_an_absurdly_distant_exp_is_no_crash(exp):
    """Broke: ``float(exp)`` raised OverflowError on a JSON integer beyond a float (a 500)."""
    token = sign({**claims(), "exp": exp})
    try:
        grant = VERIFIER.verify(token)
    except InvalidTokenError:
        return
    assert grant.seconds_left() > 0


@pytest.mark.parametrize(
    "payload",
    [
        '{"exp": Infinity, "kafkasse": {"topics": ["a"]}}',
        '{"exp": -Infinity}',
        '{"exp": NaN}',
        '{"exp": 1e999}',
        '{"a": ' + "[" * 3000 + "]" * 3000 + ', "exp": 9999999999}',
        "[" * 3000 + "]" * 3000,
    ],
)
def test_payloads_python_json_trips_on_are_malformed_not_a_crash(payload):
    """Non-finite numbers and deep nesting (well within 8 KB) that Python's json module
    accepts or trips on: refused as a bad token, never an exception of another kind."""
    head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = b64(payload.encode())
    signature = b64(hmac.new(SECRET.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest())
    token = f"{head}.{body}.{signature}"
    assert len(token) <= MAX_TOKEN_BYTES
    with pytest.raises(InvalidTokenError):
        VERIFIER.verify(token)


@pytest.mark.parametrize("exp", ["9999999999", " 9999999999", True])
def test_an_exp_that_is_not_a_json_number_is_refused(exp):
    """Broke: PyJWT accepts exp "9999999999" (int() of a string); the grant then compared it
    with a number and raised TypeError (a 500). RFC 7519: a NumericDate is a JSON number."""
    with pytest.raises(InvalidTokenError, match=r"malformed|expired"):
        VERIFIER.verify(sign({**claims(), "exp": exp}))


def test_without_pyjwt_token_options_say_which_extra_to_install():
    """The jwt extra is optional: the package works without PyJWT until tokens are asked for."""
    import subprocess
    import sys

    code = (
        "import sys; sys.modules['jwt'] = None\n"  # makes `import jwt` fail
        "from kafkasse_wsgi import Options\n"
        "from kafkasse_wsgi.errors import ConfigurationError\n"
        "Options(allowed_topics=['a'])\n"
        "try:\n"
        "    Options(jwt_keys='x' * 32)\n"
        "except ConfigurationError as error:\n"
        "    print(error.message)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "jwt_keys needs PyJWT: pip install 'kafkasse_wsgi[jwt]'"


def test_jwks_keys_that_can_verify_nothing_here_are_left_out():
    """Broke: a JWK with "alg": "none" made PyJWT raise NotImplementedError, not a
    ConfigurationError."""
    from jwt.algorithms import RSAAlgorithm

    private = json.loads(RSAAlgorithm.to_jwk(RSA))  # a private key has no place in a JWKS
    none_alg = {**public_jwk(EC, "e-none"), "alg": "none"}
    wrong_alg = {**public_jwk(EC, "e-hs"), "alg": "HS256"}  # an EC key never does HMAC
    with pytest.raises(ConfigurationError, match="no usable signing key"):
        KeySet({"keys": [private, none_alg, wrong_alg]})
    keys = KeySet({"keys": [private, none_alg, public_jwk(ED, "ed")]})
    assert [key.kid for key in keys.static] == ["ed"]


def test_a_jwks_url_serving_an_unusable_key_set_is_a_503_not_a_crash():
    """Broke: PyJWT raises NotImplementedError for a JWK with "alg": "none" (a 500)."""
    from kafkasse_wsgi.errors import TokenKeysUnavailableError
    from tests.support.tokens import JwksServer

    with JwksServer([{**public_jwk(EC, "e-none"), "alg": "none"}]) as jwks:
        verifier = TokenVerifier(KeySet(jwks.url))
        with pytest.raises(TokenKeysUnavailableError):
            verifier.verify(sign(claims(), EC, "ES256", kid="e-none"))
