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

Pure apart from fetching a JWKS URL (``jwks.py``: https only, symmetric keys ignored, the last
good set kept, refreshed on an unknown ``kid`` at most every :data:`JWKS_REFRESH_COOLDOWN_S`,
a request never held past :data:`JWKS_DEADLINE_S`); static keys are tried first.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import json
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, quote, urlencode

from .errors import ConfigurationError, InvalidTokenError
from .internal_topics import is_internal_topic
from .jwks import JwksSource
from .key_text import looks_like_a_path

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment

    from .options import Options

try:
    import jwt

    _JWT_IMPORT_ERROR: ImportError | None = None
except ImportError as exc:  # the optional "jwt" extra is not installed
    jwt = None  # type: ignore[assignment]
    _JWT_IMPORT_ERROR = exc

__all__ = [
    "DEFAULT_COOKIE_NAME",
    "DEFAULT_TOPICS_CLAIM",
    "KeySet",
    "TokenGrant",
    "TokenVerifier",
    "authenticate",
    "mint_token",
    "read_token",
]

#: The claim holding the topics a token grants; a dotted name also finds nested objects.
DEFAULT_TOPICS_CLAIM = "kafkasse.topics"
DEFAULT_COOKIE_NAME = "kafkasse_token"
QUERY_PARAMETER = "access_token"
#: Longest token accepted (a header or cookie beyond it is a 431, a query token a 400).
MAX_TOKEN_BYTES = 8192
#: Seconds a fetched JWKS is used before it is fetched again.
JWKS_LIFESPAN_S = 300.0
#: Least seconds between two fetches forced by unknown ``kid`` values: a client inventing
#: key ids cannot make this server hammer the key endpoint.
JWKS_REFRESH_COOLDOWN_S = 10.0
#: Seconds one JWKS fetch may take (it runs behind the requests).
JWKS_TIMEOUT_S = 5.0
#: Longest a request waits for a JWKS fetch, when it has no key to try without one.
JWKS_DEADLINE_S = 2.0
#: Least length of an HS secret (RFC 7518 §3.2: a key as long as the hash; HS384 and HS512
#: are accepted only with a secret of 48 and 64 bytes).
MIN_SECRET_BYTES = 32
#: Latest expiry a stream's timer is set for (year 9999): ``exp`` may be any JSON integer.
MAX_EXPIRES_AT = 253402300799

_HS = ("HS256", "HS384", "HS512")
_RSA = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512")
_EC_BY_CURVE = {"secp256r1": ("ES256",), "secp384r1": ("ES384",), "secp521r1": ("ES512",)}
_ED = ("EdDSA",)
#: Every algorithm a key may be configured for; ``none`` is not one.
KNOWN_ALGORITHMS = frozenset(_HS + _RSA + ("ES256", "ES384", "ES512") + _ED)
# A claim entry: a topic name, or a glob with ``*`` and ``?`` (no ``[...]`` classes).
_PATTERN = re.compile(r"[a-zA-Z0-9._*?-]{1,249}")
_COOKIE_NAME = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]{1,128}")
# JWS compact serialization: three base64url segments, no padding (RFC 7515 §2, §7.1).
_COMPACT = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
_BEARER = re.compile(r"[Bb][Ee][Aa][Rr][Ee][Rr] +(\S+) *")


def require_jwt() -> None:
    """:raises ConfigurationError: PyJWT (the ``jwt`` extra) is not installed."""
    if jwt is None:
        raise ConfigurationError(
            "jwt_keys needs PyJWT: pip install 'kafkasse_wsgi[jwt]'"
        ) from _JWT_IMPORT_ERROR


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
        (:func:`~kafkasse_wsgi.internal_topics.is_internal_topic`) only by name."""
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


# --- keys --------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class VerificationKey:
    """One key and the algorithms it may verify (those of its kind, or its JWK's ``alg``)."""

    key: Any
    algorithms: frozenset[str]
    kid: str | None = None


class KeySet:
    """The keys tokens are verified with: secrets, PEM public keys, JWKS (inline, file, URL).

    Built once from ``jwt_keys`` (the option), which may be one of these or a list of them:

    * ``str``/``bytes`` starting with ``-----BEGIN``: a PEM public key or certificate;
    * ``str`` starting with ``https://`` (``http://`` to a loopback host): a JWKS URL;
    * :class:`pathlib.Path`: a file holding a PEM key, a JWKS (JSON) or an HS secret (its
      surrounding whitespace and line end are not part of it);
    * a mapping: a JWKS (``{"keys": [...]}``) or one JWK;
    * any other ``str``/``bytes``: an HS secret of at least :data:`MIN_SECRET_BYTES`.

    A plain string is never read as a file name (a mistyped path must not become a secret):
    pass a :class:`~pathlib.Path`.
    """

    def __init__(self, spec: Any) -> None:
        require_jwt()
        items = [spec] if _is_single(spec) else list(spec)
        if not items:
            raise ConfigurationError("jwt_keys names no key")
        self.static: list[VerificationKey] = []
        self.clients: list[JwksSource] = []
        for item in items:
            self._add(item)

    def _add(self, item: Any) -> None:
        if isinstance(item, Path):
            try:
                text = item.read_text("utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise ConfigurationError(f"jwt_keys: cannot read {str(item)!r}: {exc}") from exc
            if text.lstrip().startswith("{"):
                self._add(_json_object(text, str(item)))
            elif text.lstrip().startswith("-----BEGIN"):
                self._add(text)
            else:  # a secret, without the line end a file usually has
                self.static.append(_secret(text.strip().encode("utf-8")))
            return
        if isinstance(item, Mapping):
            self.static.extend(_jwks_keys(item))
            return
        if isinstance(item, bytes):
            if item.lstrip().startswith(b"-----BEGIN"):
                self.static.append(_pem_key(item))
            else:
                self.static.append(_secret(item))
            return
        if not isinstance(item, str):
            raise ConfigurationError(
                f"jwt_keys: {type(item).__name__} is not a key; give a secret, a PEM public "
                "key, a JWKS (mapping, pathlib.Path or URL)"
            )
        stripped = item.strip()
        if stripped.startswith("-----BEGIN"):
            self.static.append(_pem_key(stripped.encode("ascii", "replace")))
        elif stripped.startswith(("https://", "http://")):
            self.clients.append(_jwks_source(stripped))
        else:
            if looks_like_a_path(item):
                raise ConfigurationError(
                    "jwt_keys: a string is a secret, never a file name; pass "
                    "pathlib.Path(...) to read a key file (or bytes for such a secret)"
                )
            self.static.append(_secret(item.encode("utf-8")))

    def static_candidates(self, algorithm: str, kid: str | None) -> list[VerificationKey]:
        """The configured keys that may verify a token signed with ``algorithm`` under
        ``kid``: tried first, they need no fetch."""
        return [
            key
            for key in self.static
            if algorithm in key.algorithms and (kid is None or key.kid in (None, kid))
        ]

    def fetched_candidates(self, algorithm: str, kid: str | None) -> list[VerificationKey]:
        """The JWKS URLs' keys for ``algorithm`` and ``kid``, fetched if need be.

        :raises TokenKeysUnavailableError: a JWKS URL has no key set, nor one in time.
        """
        return [
            key
            for source in self.clients
            for key in source.keys(kid)
            if algorithm in key.algorithms
        ]


_jwks_sources: dict[str, JwksSource] = {}


def _jwks_source(url: str) -> JwksSource:
    """One source (and cache) per URL and process: options built per request (a dict passed
    to ``kafka_sse``) must not fetch the key set per request."""
    source = _jwks_sources.get(url)
    if source is None:
        source = JwksSource(
            url,
            _fetched_keys,
            lifespan_s=JWKS_LIFESPAN_S,
            cooldown_s=JWKS_REFRESH_COOLDOWN_S,
            timeout_s=JWKS_TIMEOUT_S,
            deadline_s=JWKS_DEADLINE_S,
        )
        _jwks_sources[url] = source
    return source


def _is_single(spec: Any) -> bool:
    return isinstance(spec, (str, bytes, Path, Mapping)) or not isinstance(spec, Iterable)


def _json_object(text: str, where: str) -> Mapping[str, Any]:
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise ConfigurationError(f"jwt_keys: {where} is not valid JSON") from exc
    if not isinstance(value, dict):
        raise ConfigurationError(f"jwt_keys: {where} is not a JWKS object")
    return value


def _secret(secret: bytes) -> VerificationKey:
    if len(secret) < MIN_SECRET_BYTES:
        raise ConfigurationError(
            f"jwt_keys: an HS secret must be at least {MIN_SECRET_BYTES} bytes (got {len(secret)})"
        )
    return VerificationKey(secret, _hs_algorithms(len(secret)))


def _hs_algorithms(length: int) -> frozenset[str]:
    """RFC 7518 §3.2: an HMAC key at least as long as the hash (HS512 needs 64 bytes)."""
    return frozenset(a for a in _HS if length >= int(a[2:]) // 8)


def _pem_key(pem: bytes) -> VerificationKey:
    try:
        from cryptography import x509
        from cryptography.hazmat.primitives.serialization import load_pem_public_key
    except ImportError as exc:
        raise ConfigurationError(
            "jwt_keys: public keys need cryptography: pip install 'kafkasse_wsgi[jwt]'"
        ) from exc

    if b"PRIVATE KEY" in pem.split(b"\n", 1)[0]:
        raise ConfigurationError("jwt_keys: a private key was given; give its public key")
    key: Any
    try:
        if b"CERTIFICATE" in pem.split(b"\n", 1)[0]:
            key = x509.load_pem_x509_certificate(pem).public_key()
        else:
            key = load_pem_public_key(pem)
    except ValueError as exc:
        raise ConfigurationError("jwt_keys: the PEM text is not a public key") from exc
    return VerificationKey(key, _algorithms_of_key(key))


def _algorithms_of_key(key: Any) -> frozenset[str]:
    from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

    if isinstance(key, rsa.RSAPublicKey):
        return frozenset(_RSA)
    if isinstance(key, ec.EllipticCurvePublicKey):
        algorithms = _EC_BY_CURVE.get(key.curve.name)
        if algorithms is None:
            raise ConfigurationError(f"jwt_keys: elliptic curve {key.curve.name} is not supported")
        return frozenset(algorithms)
    if isinstance(key, (ed25519.Ed25519PublicKey, ed448.Ed448PublicKey)):
        return frozenset(_ED)
    raise ConfigurationError(f"jwt_keys: {type(key).__name__} keys are not supported")


def _from_jwk(jwk: Any) -> VerificationKey | None:
    """A PyJWK as a verification key: its kind's algorithms, narrowed to its ``alg`` if it
    names one; ``None`` for a key that can verify nothing here (or a private key)."""
    if jwk.key_type == "oct":
        algorithms = _hs_algorithms(len(jwk.key))
    else:
        try:
            algorithms = _algorithms_of_key(jwk.key)
        except ConfigurationError:
            return None
    named = getattr(jwk, "_jwk_data", {}).get("alg")  # PyJWK keeps the JWK's fields only there
    if named is not None:
        algorithms = algorithms & {named}
    if not algorithms:
        return None
    return VerificationKey(jwk.key, algorithms, jwk.key_id)


#: What PyJWT may raise on a JWK it cannot use (``alg: none`` raises NotImplementedError).
_UNUSABLE_JWK = (ValueError, TypeError, KeyError, NotImplementedError)


def _jwks_keys(data: Mapping[str, Any]) -> list[VerificationKey]:
    """The usable signing keys of a JWKS or of one JWK; the others are left out."""
    entries = data.get("keys") if "keys" in data else [data]
    if not isinstance(entries, list):
        raise ConfigurationError("jwt_keys: not a JWKS (its keys must be a list)")
    keys = []
    for entry in entries:
        if not isinstance(entry, Mapping) or entry.get("use", "sig") != "sig":
            continue
        try:
            jwk = jwt.PyJWK.from_dict(dict(entry))
        except (jwt.PyJWTError, *_UNUSABLE_JWK):
            continue
        key = _from_jwk(jwk)
        if key is not None:
            keys.append(key)
    if not keys:
        raise ConfigurationError("jwt_keys: the JWK or JWKS holds no usable signing key")
    return keys


def _fetched_keys(body: bytes) -> list[VerificationKey]:
    """The usable keys of a key set fetched from a URL. Symmetric (``kty: oct``) keys are
    left out: a set served over HTTP is public, and a public HMAC secret signs anything."""
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise ConfigurationError("jwt_keys: the JWKS URL answered no JSON") from exc
    if not isinstance(data, dict) or not isinstance(data.get("keys"), list):
        raise ConfigurationError("jwt_keys: the JWKS URL answered no key set")
    public = [k for k in data["keys"] if not (isinstance(k, Mapping) and k.get("kty") == "oct")]
    return _jwks_keys({"keys": public})


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

    :raises InvalidTokenError: a token in the query when that is not allowed (400), or a
        token longer than :data:`MAX_TOKEN_BYTES` (431 in a header or cookie, 400 in a query).
    """
    query_token = _take_query_token(environ)
    if query_token is not None and not allow_query:
        raise InvalidTokenError.query_refused()
    authorization = environ.get("HTTP_AUTHORIZATION", "")
    match = _BEARER.fullmatch(authorization) if authorization else None
    token: str | None = match.group(1) if match else None
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
