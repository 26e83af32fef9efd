"""Subscriber tokens: which topics one client may read, carried by a JWT a browser can send.

``EventSource`` cannot set an ``Authorization`` header, so a token is read from, in order:
``Authorization: Bearer``, a cookie, and (only when enabled) ``?access_token=``. It is
verified against the configured keys (:class:`KeySet`: HS secrets, PEM public keys, JWKS
files or URLs), and its topics claim becomes a :class:`TokenGrant` that *narrows* what
``allowed_topics`` admits, never widens it.

Careful parts, each tested with hostile tokens:

* every key verifies only the algorithms of its own kind (an RSA public key is never an
  HMAC secret), and ``none`` is never accepted;
* a glob in the claim never matches an internal topic (``_*``, ``connect-configs``, …):
  only an exact name does;
* error messages are fixed strings, so a token (or any part of it) is never echoed; a query
  token is redacted from the environ, so the server's access log does not keep it either.

Pure apart from fetching a JWKS URL (``_tokens/jwks.py``: https only, symmetric keys ignored,
the last good set kept, refreshed on an unknown ``kid`` at most every
:data:`JWKS_REFRESH_COOLDOWN_S`, a request never held past :data:`JWKS_DEADLINE_S`); static keys
are tried first.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, quote, urlencode

from werkzeug.datastructures import Authorization

from ._internal_topics import is_internal_topic
from ._tokens.keys import (
    JWKS_DEADLINE_S,
    JWKS_LIFESPAN_S,
    JWKS_REFRESH_COOLDOWN_S,
    KNOWN_ALGORITHMS,
    MIN_SECRET_BYTES,
    KeySet,
    require_jwt,
)
from .errors import InvalidTokenError
from .options import Options

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment

try:
    import jwt
except ImportError:  # the optional "jwt" extra: require_jwt() says so where it is needed
    jwt = None  # type: ignore[assignment]

__all__ = [
    "DEFAULT_COOKIE_NAME",
    "DEFAULT_TOPICS_CLAIM",
    "JWKS_DEADLINE_S",
    "JWKS_LIFESPAN_S",
    "JWKS_REFRESH_COOLDOWN_S",
    "KNOWN_ALGORITHMS",
    "MIN_SECRET_BYTES",
    "KeySet",
    "TokenGrant",
    "TokenVerifier",
    "authenticate",
    "mint_token",
    "read_token",
]

#: The claim holding the topics a token grants; a dotted name also finds nested objects.
DEFAULT_TOPICS_CLAIM = Options.DEFAULT_JWT_TOPICS_CLAIM
DEFAULT_COOKIE_NAME = Options.DEFAULT_JWT_COOKIE_NAME
QUERY_PARAMETER = "access_token"
#: Longest token accepted (a header or cookie beyond it is a 431, a query token a 400).
MAX_TOKEN_BYTES = 8192
#: Latest expiry a stream's timer is set for (year 9999): ``exp`` may be any JSON integer.
MAX_EXPIRES_AT = 253402300799

# A claim entry: a topic name, or a glob with ``*`` and ``?`` (no ``[...]`` classes).
_PATTERN = re.compile(r"[a-zA-Z0-9._*?-]{1,249}")
_COOKIE_NAME = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]{1,128}")
# JWS compact serialization: three base64url segments, no padding (RFC 7515 §2, §7.1).
_COMPACT = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")


# --- what a token grants ---------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class TokenGrant:
    """What a verified token allows: topic names and globs, until ``expires_at``.

    :param topics: exact names and glob patterns (``*``, ``?``) from the topics claim.
    :param expires_at: the token's ``exp`` (Unix seconds): a stream ends then.
    :param subject: the token's ``sub``, for logs.
    """

    topics: tuple[str, ...]
    expires_at: float
    subject: str | None = None

    def allows(self, topic: str) -> bool:
        """Whether ``topic`` is named, or matched by a glob; internal topics
        (:func:`~kafkasse_wsgi._internal_topics.is_internal_topic`) only by name."""
        for pattern in self.topics:
            if pattern == topic:
                return True
            if (
                not is_internal_topic(topic)
                and ("*" in pattern or "?" in pattern)
                and fnmatch.fnmatchcase(topic, pattern)
            ):
                return True
        return False

    def seconds_left(self) -> float:
        return self.expires_at - time.time()


def topics_of_claims(claims: Mapping[str, Any], claim: str) -> tuple[str, ...]:
    """The topics claim of verified ``claims``: a list of names and globs; absent = none.

    The claim is looked up by its exact name first (``"https://example.com/topics"``), then as
    a dotted path into nested objects (``kafkasse.topics`` → ``{"kafkasse": {"topics": …}}``).

    :raises InvalidTokenError: the claim is not a list of valid names or patterns.
    """
    value: Any = claims.get(claim)
    if value is None and claim not in claims:
        node: Any = claims
        for part in claim.split("."):
            node = node.get(part) if isinstance(node, Mapping) else None
        value = node
    if value is None:
        return ()
    if not isinstance(value, list) or not all(
        isinstance(item, str) and _PATTERN.fullmatch(item) for item in value
    ):
        raise InvalidTokenError.invalid(
            "the token's topics claim must be a list of topic names or glob patterns"
        )
    return tuple(dict.fromkeys(value))


# --- verification ----------------------------------------------------------------------------

#: Fixed messages for PyJWT's errors: theirs may quote bytes of the token.
_MESSAGES: list[tuple[str, str]] = [
    ("ExpiredSignatureError", "the token has expired"),
    ("ImmatureSignatureError", "the token is not valid yet"),
    ("InvalidAudienceError", "the token is not meant for this service (aud)"),
    ("InvalidIssuerError", "the token's issuer is not accepted (iss)"),
    ("InvalidIssuedAtError", "the token's iat claim is not valid"),
    ("InvalidSignatureError", "the token's signature does not verify"),
    ("InvalidAlgorithmError", "the token's algorithm is not accepted"),
    ("DecodeError", "the token is malformed"),
]


class TokenVerifier:
    """Verifies a token string and returns what it grants.

    :param keys: the keys (see :class:`KeySet`).
    :param algorithms: accepted ``alg`` values; ``None``: whatever fits a configured key.
    :param audience: required ``aud`` (one or any of several); ``None``: not checked.
    :param issuer: required ``iss``; ``None``: not checked.
    :param topics_claim: the claim holding the granted topics.
    """

    def __init__(
        self,
        keys: KeySet,
        algorithms: Iterable[str] | None = None,
        audience: str | Sequence[str] | None = None,
        issuer: str | None = None,
        topics_claim: str = DEFAULT_TOPICS_CLAIM,
    ) -> None:
        self.keys = keys
        self.algorithms = frozenset(algorithms) if algorithms is not None else KNOWN_ALGORITHMS
        self.audience = audience
        self.issuer = issuer
        self.topics_claim = topics_claim

    def verify(self, token: str) -> TokenGrant:
        """:raises InvalidTokenError: the token is malformed, forged, expired or not for us.
        :raises TokenKeysUnavailableError: a JWKS URL could not be fetched."""
        if len(token) > MAX_TOKEN_BYTES:
            raise InvalidTokenError.too_large()
        if not _COMPACT.fullmatch(token):
            raise InvalidTokenError.invalid("the token is malformed")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise InvalidTokenError.invalid("the token is malformed") from None
        algorithm = header.get("alg")
        kid = header.get("kid")
        if not isinstance(algorithm, str) or algorithm not in self.algorithms:
            raise InvalidTokenError.invalid("the token's algorithm is not accepted")
        if kid is not None and not isinstance(kid, str):
            raise InvalidTokenError.invalid("the token is malformed")
        claims, failure = self._decode(token, algorithm, kid)
        if claims is None:
            raise InvalidTokenError.invalid(failure)
        # PyJWT checked that int(exp) is in the future: it also takes "123" and True. RFC 7519
        # wants a JSON number; one beyond a float's range is capped.
        exp = claims["exp"]
        if isinstance(exp, bool) or not isinstance(exp, (int, float)):
            raise InvalidTokenError.invalid("the token is malformed")
        expires_at = float(min(exp, MAX_EXPIRES_AT)) if exp == exp else 0.0
        subject = claims.get("sub")
        return TokenGrant(
            topics=topics_of_claims(claims, self.topics_claim),
            expires_at=expires_at,
            subject=subject if isinstance(subject, str) else None,
        )

    def _decode(self, token: str, algorithm: str, kid: str | None) -> tuple[Any, str]:
        """The verified claims (``None`` if none) and why not: the static keys first, then,
        only if none of them verified the signature, the JWKS URLs' keys."""
        failure = "the token's key is not known here"
        for find in (self.keys.static_candidates, self.keys.fetched_candidates):
            for key in find(algorithm, kid):
                try:
                    claims = jwt.decode(
                        token,
                        key.key,
                        algorithms=[algorithm],
                        audience=self.audience,
                        issuer=self.issuer,
                        options={"require": ["exp"], "verify_aud": self.audience is not None},
                    )
                    return claims, ""
                except jwt.InvalidSignatureError:
                    failure = "the token's signature does not verify"  # maybe the next key
                except jwt.PyJWTError as exc:
                    return None, _message_of(exc)
        return None, failure


def _message_of(exc: Exception) -> str:
    if isinstance(exc, jwt.MissingRequiredClaimError):
        if exc.claim in ("exp", "aud", "iss"):  # our own list: never text from the token
            return f"the token lacks its {exc.claim} claim"
        return "the token lacks a required claim"
    names = {cls.__name__ for cls in type(exc).__mro__}
    for name, message in _MESSAGES:
        if name in names:
            return message
    return "the token is not valid"


# --- where a request carries its token -------------------------------------------------------


def read_token(
    environ: WSGIEnvironment, cookie_name: str = DEFAULT_COOKIE_NAME, allow_query: bool = False
) -> str | None:
    """The request's token: ``Authorization: Bearer``, else the cookie, else (if allowed) the
    ``access_token`` query parameter. A query token is redacted from the environ at once.

    The header as werkzeug's ``Authorization`` reads it; another scheme (a proxy's ``Basic``)
    or ``Bearer`` alone is no token, but anything else than one token after ``Bearer`` is
    refused, never passed over for the cookie: it is the client's own credential.

    :raises InvalidTokenError: a token in the query when that is not allowed (400), a
        malformed Bearer header (401), or a token longer than :data:`MAX_TOKEN_BYTES` (431 in
        a header or cookie, 400 in a query).
    """
    query_token = _take_query_token(environ)
    if query_token is not None and not allow_query:
        raise InvalidTokenError.query_refused()
    token = _bearer_token(environ.get("HTTP_AUTHORIZATION"))
    if token is None:
        cookie = environ.get("HTTP_COOKIE")
        if cookie:
            if len(cookie) > 4 * MAX_TOKEN_BYTES:
                raise InvalidTokenError.too_large()
            token = _cookie_value(cookie, cookie_name)
    if token is not None:
        if len(token) > MAX_TOKEN_BYTES:
            raise InvalidTokenError.too_large()
        return token
    if query_token is not None and len(query_token) > MAX_TOKEN_BYTES:
        raise InvalidTokenError.too_large(status=400)
    return query_token or None


def _bearer_token(header: str | None) -> str | None:
    """A ``Bearer`` header's token (several words as they are: ``verify`` refuses them)."""
    try:
        credentials = Authorization.from_header(header)
    except ValueError:  # werkzeug decodes a Basic header and raises on one that is not ASCII
        return None
    if credentials is None or credentials.type != "bearer":
        return None
    if credentials.token is None:  # auth-params (a=b), which a Bearer header never holds
        raise InvalidTokenError.invalid("the token is malformed")
    return credentials.token or None


def authenticate(environ: WSGIEnvironment, options: Options) -> TokenGrant | None:
    """What the request's token grants; ``None`` when tokens are off, or optional and absent.

    :raises InvalidTokenError: no token though one is required, or a bad one.
    :raises TokenKeysUnavailableError: a JWKS URL could not be fetched.
    """
    verifier = options.token_verifier
    if verifier is None:
        return None
    token = read_token(environ, options.jwt_cookie_name, options.jwt_allow_query_token)
    if token is None:
        if options.jwt_required:
            raise InvalidTokenError.missing()
        return None
    return verifier.verify(token)


def redact_query_token(environ: WSGIEnvironment) -> None:
    """Replace an ``access_token`` in the query with ``REDACTED``, for an entry point that
    passes a copy of the server's environ on: the server's access log reads its own."""
    _take_query_token(environ)


def _take_query_token(environ: WSGIEnvironment) -> str | None:
    """Remove ``access_token`` from the query the server logs; return its (last) value."""
    query = environ.get("QUERY_STRING", "")
    if not query:
        return None
    pairs = parse_qsl(query, keep_blank_values=True)
    tokens = [value for name, value in pairs if name == QUERY_PARAMETER]
    if not tokens:
        return None
    kept = urlencode(
        [(n, v if n != QUERY_PARAMETER else "REDACTED") for n, v in pairs], quote_via=quote
    )
    environ["QUERY_STRING"] = kept
    for key in ("RAW_URI", "REQUEST_URI"):
        uri = environ.get(key)
        if isinstance(uri, str):
            environ[key] = uri.split("?", 1)[0] + "?" + kept
    return tokens[-1]


def _cookie_value(header: str, name: str) -> str | None:
    """The first cookie called ``name`` (browsers send the most specific path first).

    Read by hand: werkzeug's parser raises on bytes that are not UTF-8 (a WSGI header is any
    Latin-1 string); a token is ASCII, so anything else simply fails to verify.
    """
    for pair in header.split(";"):
        key, _, value = pair.strip().partition("=")
        if key == name:
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] == '"':
                value = value[1:-1]
            return value or None
    return None


def is_cookie_name(name: Any) -> bool:
    return isinstance(name, str) and bool(_COOKIE_NAME.fullmatch(name))


def is_topics_claim_name(name: Any) -> bool:
    return isinstance(name, str) and 0 < len(name) <= 256 and name.isprintable()


# --- minting, for tests and examples ---------------------------------------------------------


def mint_token(
    key: str | bytes | Any,
    topics: Sequence[str],
    *,
    expires_in_s: float = 300.0,
    algorithm: str = "HS256",
    subject: str | None = None,
    audience: str | None = None,
    issuer: str | None = None,
    kid: str | None = None,
    topics_claim: str = DEFAULT_TOPICS_CLAIM,
    claims: Mapping[str, Any] | None = None,
) -> str:
    """A signed subscriber token granting ``topics`` (names or globs) for ``expires_in_s``.

    For tests, examples and the login view of an application; production tokens usually
    come from an identity provider. The topics claim is nested along its dots
    (``kafkasse.topics`` → ``{"kafkasse": {"topics": [...]}}``).

    :param key: an HS secret, or a private key (PEM or a ``cryptography`` key) for RS/ES/EdDSA.
    """
    require_jwt()
    now = int(time.time())
    payload: dict[str, Any] = {"iat": now, "exp": now + expires_in_s}
    if isinstance(payload["exp"], float) and payload["exp"].is_integer():
        payload["exp"] = int(payload["exp"])
    node = payload
    *parents, leaf = topics_claim.split(".")
    for part in parents:
        node = node.setdefault(part, {})
    node[leaf] = list(topics)
    for name, value in (("sub", subject), ("aud", audience), ("iss", issuer)):
        if value is not None:
            payload[name] = value
    payload.update(claims or {})
    headers = {"kid": kid} if kid is not None else None
    return jwt.encode(payload, key, algorithm=algorithm, headers=headers)
