"""The keys subscriber tokens are verified with: HS secrets, PEM public keys, JWKS (inline,
file or URL), each allowed only the algorithms of its own kind.

Built once per ``jwt_keys`` option (:class:`KeySet`); ``tokens.py`` asks it for the keys that
may verify one token, the static ones first. A JWKS URL is ``jwks.py``'s to fetch; which
keys of a set are usable (and that a fetched set's symmetric keys are not) is decided here.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ..errors import ConfigurationError
from .jwks import JwksSource
from .key_text import looks_like_a_path

try:
    import jwt

    _JWT_IMPORT_ERROR: ImportError | None = None
except ImportError as exc:  # the optional "jwt" extra is not installed
    jwt = None  # type: ignore[assignment]
    _JWT_IMPORT_ERROR = exc

__all__ = ["KNOWN_ALGORITHMS", "KeySet", "VerificationKey", "require_jwt"]

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

_HS = ("HS256", "HS384", "HS512")
_RSA = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512")
_EC_BY_CURVE = {"secp256r1": ("ES256",), "secp384r1": ("ES384",), "secp521r1": ("ES512",)}
_ED = ("EdDSA",)
#: Every algorithm a key may be configured for; ``none`` is not one.
KNOWN_ALGORITHMS = frozenset(_HS + _RSA + ("ES256", "ES384", "ES512") + _ED)


def require_jwt() -> None:
    """:raises ConfigurationError: PyJWT (the ``jwt`` extra) is not installed."""
    if jwt is None:
        raise ConfigurationError(
            "jwt_keys needs PyJWT: pip install 'kafkasse_wsgi[jwt]'"
        ) from _JWT_IMPORT_ERROR


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

    A plain string is never read as a file name: pass a :class:`~pathlib.Path`. One that
    looks like a file name (``key_text.looks_like_a_path``: not base64-like, and ``/…``,
    ``./…``, ``….pem``…, or naming a file) is refused, so a mistyped path never becomes a
    secret, while a base64 secret with ``/`` in it is one.
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
