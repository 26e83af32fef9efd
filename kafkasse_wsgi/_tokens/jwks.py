"""A JWKS URL's keys, fetched in the background one fetch at a time, so that a slow or failing
identity provider can neither hold requests nor take the keys away.

* Only ``https://`` is fetched (plain ``http://`` only from a loopback host: a sidecar, a
  test): over plain HTTP anyone on the path could replace the keys.
* The set is fetched again when older than its lifespan, or for an unknown ``kid`` (a key
  rotation) at most once per cooldown. A fetch that fails, or answers no usable key, keeps
  the last good set (and says so in the log).
* A request waits for a fetch at most ``deadline_s``, and only when it has no key to try:
  with a good set at hand, a refresh runs behind it. Whatever the number of requests, one
  fetch runs at a time; it reads at most :data:`MAX_JWKS_BYTES` within ``timeout_s``.

Which keys of a set are usable is the caller's ``parse`` (``keys.py``), so this module
knows HTTP and time, not keys.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import threading
import time
import urllib.request
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from ..errors import ConfigurationError, TokenKeysUnavailableError
from ..log import escape_control

__all__ = ["MAX_JWKS_BYTES", "JwksSource", "check_jwks_url", "is_loopback_host"]

log = logging.getLogger(__name__)

#: Largest key set read (real ones are a few KB).
MAX_JWKS_BYTES = 1 << 20


def is_loopback_host(host: str) -> bool:
    """Only this machine is there: ``localhost`` or a loopback address."""
    host = host.strip().strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name: it may resolve anywhere


def check_jwks_url(url: str) -> None:
    """:raises ConfigurationError: not ``https://``, nor ``http://`` to a loopback host."""
    parts = urlsplit(url)
    if parts.hostname and (
        parts.scheme == "https" or (parts.scheme == "http" and is_loopback_host(parts.hostname))
    ):
        return
    raise ConfigurationError(
        "jwt_keys: a JWKS URL must use https:// (plain http:// only to a loopback host such "
        "as 127.0.0.1): over plain HTTP anyone on the path could replace the keys"
    )


class _HttpsRedirectsOnly(urllib.request.HTTPRedirectHandler):
    """A redirect may not lead a key fetch to plain HTTP."""

    def redirect_request(
        self, req: Any, fp: Any, code: int, msg: str, headers: Any, newurl: str
    ) -> urllib.request.Request | None:
        check_jwks_url(newurl)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


class JwksSource:
    """The keys behind one JWKS URL (one per URL and process: see ``token_keys.KeySet``).

    :param url: checked by :func:`check_jwks_url`.
    :param parse: the set's bytes → its usable keys (each with a ``kid`` attribute);
        raises on a set with none.
    :param lifespan_s: age after which the set is fetched again.
    :param cooldown_s: least time between the starts of two fetches.
    :param timeout_s: longest one fetch may take.
    :param deadline_s: longest a request waits for a fetch.
    """

    def __init__(
        self,
        url: str,
        parse: Callable[[bytes], list[Any]],
        *,
        lifespan_s: float,
        cooldown_s: float,
        timeout_s: float,
        deadline_s: float,
    ) -> None:
        check_jwks_url(url)
        self.url = url
        self.lifespan_s = lifespan_s
        self.cooldown_s = cooldown_s
        self.timeout_s = timeout_s
        self.deadline_s = deadline_s
        self._parse = parse
        self._keys: list[Any] | None = None
        self._fetched_at = -math.inf
        self._started_at = -math.inf
        self._done: threading.Event | None = None
        self._lock = threading.Lock()

    def keys(self, kid: str | None) -> list[Any]:
        """The set's keys for ``kid`` (all of them without one).

        :raises TokenKeysUnavailableError: no set was ever fetched, and none came within
            the deadline.
        """
        now = time.monotonic()
        if self._keys is not None:
            if now - self._fetched_at >= self.lifespan_s:
                self._start_fetch(now)  # the last good set answers meanwhile
            found = _with_kid(self._keys, kid)
            if found or kid is None:
                return found
        # No set yet, or an unknown kid (a rotation?): wait a bounded time for a fetch.
        done = self._start_fetch(now)
        if done is not None:
            done.wait(self.deadline_s)
        if self._keys is None:
            raise TokenKeysUnavailableError("the token keys cannot be fetched right now")
        return _with_kid(self._keys, kid)

    def _start_fetch(self, now: float) -> threading.Event | None:
        """The running fetch's event, after starting one if none runs and the cooldown has
        passed; ``None`` when there is none to wait for."""
        with self._lock:
            if self._done is not None and not self._done.is_set():
                return self._done
            if now - self._started_at < self.cooldown_s:
                return None
            self._started_at = now
            done = self._done = threading.Event()
        threading.Thread(target=self._fetch, args=(done,), name="jwks-fetch", daemon=True).start()
        return done

    def _fetch(self, done: threading.Event) -> None:
        try:
            keys = self._parse(self._download())
        except Exception as exc:  # any failure: the last good set stays
            log.warning(
                "JWKS %s not fetched (%s); %s",
                self.url,
                _reason(exc),
                "the last good set stays" if self._keys is not None else "no keys yet",
            )
        else:
            self._keys = keys
            self._fetched_at = time.monotonic()
        finally:
            done.set()

    def _download(self) -> bytes:
        opener = urllib.request.build_opener(_HttpsRedirectsOnly)
        started = time.monotonic()
        with opener.open(self.url, timeout=self.timeout_s) as response:
            body = bytearray()
            while chunk := response.read1(65536):
                body += chunk
                if len(body) > MAX_JWKS_BYTES:
                    raise ValueError(f"the key set is over {MAX_JWKS_BYTES} bytes")
                if time.monotonic() - started > self.timeout_s:
                    raise TimeoutError(f"the key set took over {self.timeout_s:g} s")
        return bytes(body)


def _with_kid(keys: list[Any], kid: str | None) -> list[Any]:
    return [key for key in keys if kid is None or key.kid == kid]


def _reason(exc: Exception) -> str:
    """Why a fetch failed, for the log: the provider's text, escaped and cut short."""
    message = getattr(exc, "message", None) or str(exc)
    return escape_control(f"{type(exc).__name__}: {message}"[:300])
