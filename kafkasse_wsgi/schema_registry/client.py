"""Talking to the registry: one GET per schema, one fetch in flight per schema, a bounded cache.

A schema is fetched by id the first time a record names it, never per stream or per client:
the hub decodes each record once for all its clients, and :class:`SchemaCache` lets one
greenlet fetch while the others that need the same id wait for its result. A failure is
remembered for :data:`RETRY_AFTER_S`, so a registry that is down costs one attempt per id
per interval, not one per record. The HTTP call never blocks the process: under gevent's
patching the socket is cooperative; unpatched, the call runs in gevent's thread pool.
"""

from __future__ import annotations

import base64
import collections
import dataclasses
import json
import logging
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from typing import Any

import gevent
from gevent import monkey
from gevent.event import AsyncResult

from .config import RegistryConfig

log = logging.getLogger(__name__)

#: How long a failed fetch (registry down, unknown id) is remembered before it is tried again.
RETRY_AFTER_S = 5.0
#: One registry call's bound: a registry that hangs delays a stream's records this long.
TIMEOUT_S = 5.0


class RegistryError(Exception):
    """A schema could not be had; the record that needed it is skipped."""


class RegistryUnavailable(RegistryError):
    """The registry did not answer, or answered with a server error."""


class UnknownSchema(RegistryError):
    """The registry does not know this schema (404)."""


@dataclasses.dataclass(frozen=True)
class Reference:
    """A schema this one uses: by ``name`` in its text, stored under ``subject``/``version``."""

    name: str
    subject: str
    version: int


@dataclasses.dataclass(frozen=True)
class RegistrySchema:
    """A schema as the registry returns it. ``schema_type``: AVRO, PROTOBUF or JSON."""

    text: str
    schema_type: str
    references: tuple[Reference, ...]

    @classmethod
    def from_json(cls, body: Any) -> RegistrySchema:
        if not isinstance(body, dict) or not isinstance(body.get("schema"), str):
            raise RegistryError("the registry's answer holds no schema")
        references = tuple(
            Reference(str(ref["name"]), str(ref["subject"]), int(ref["version"]))
            for ref in body.get("references") or ()
        )
        return cls(body["schema"], str(body.get("schemaType") or "AVRO").upper(), references)


class RegistryClient:
    """GETs against a Confluent-compatible API (``/schemas/ids/N``, ``/subjects/S/versions/V``).

    ``fetches`` counts the calls made (each is also logged), so a test can tell a cache from
    a client per stream.
    """

    def __init__(self, config: RegistryConfig) -> None:
        self._config = config
        self._context = (
            ssl.create_default_context(cafile=config.ca_file) if config.ca_file else None
        )
        self._headers = {"Accept": "application/vnd.schemaregistry.v1+json, application/json"}
        if config.username is not None:
            pair = f"{config.username}:{config.password or ''}".encode()
            self._headers["Authorization"] = "Basic " + base64.b64encode(pair).decode("ascii")
        self.fetches = 0

    def schema_by_id(self, schema_id: int) -> RegistrySchema:
        return RegistrySchema.from_json(self._get(f"/schemas/ids/{schema_id}"))

    def schema_version(self, subject: str, version: int) -> RegistrySchema:
        quoted = urllib.parse.quote(subject, safe="")
        return RegistrySchema.from_json(self._get(f"/subjects/{quoted}/versions/{version}"))

    def _get(self, path: str) -> Any:
        self.fetches += 1
        log.info("schema registry: GET %s%s", self._config.safe_url, path)
        if monkey.is_module_patched("socket"):
            return self._request(path)
        # Returned, not raised, in the thread: gevent's pool would print the traceback.
        outcome = gevent.get_hub().threadpool.apply(self._outcome, (path,))
        if isinstance(outcome, RegistryError):
            raise outcome
        return outcome

    def _outcome(self, path: str) -> Any:
        try:
            return self._request(path)
        except RegistryError as exc:
            return exc

    def _request(self, path: str) -> Any:
        request = urllib.request.Request(self._config.url + path, headers=self._headers)
        try:
            with urllib.request.urlopen(
                request, timeout=TIMEOUT_S, context=self._context
            ) as answer:
                return json.loads(answer.read())
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                raise UnknownSchema(f"the registry does not know {path}") from None
            raise RegistryUnavailable(f"the registry answered {exc.code} to {path}") from None
        except (OSError, ValueError) as exc:  # URLError, timeouts, TLS; a body not JSON
            raise RegistryUnavailable(f"the registry could not be read ({path}): {exc}") from None


class SchemaCache:
    """Values by key, computed once: bounded (least recently used go), one computation in
    flight per key, failures remembered for :data:`RETRY_AFTER_S`."""

    def __init__(self, max_entries: int) -> None:
        self._max = max_entries
        self._values: collections.OrderedDict[Any, Any] = collections.OrderedDict()
        self._failures: dict[Any, tuple[float, Exception]] = {}
        self._in_flight: dict[Any, AsyncResult] = {}

    def has(self, key: Any) -> bool:
        """Whether :meth:`get` answers ``key`` without loading: a value, or a recent failure."""
        if key in self._values:
            return True
        failed = self._failures.get(key)
        return failed is not None and time.monotonic() < failed[0]

    def failure(self, key: Any) -> Exception | None:
        """The remembered failure of ``key``, if any."""
        failed = self._failures.get(key)
        return failed[1] if failed is not None else None

    def get(self, key: Any, load: Callable[[], Any]) -> Any:
        """The value of ``key``, from ``load()`` the first time.

        :raises Exception: what ``load`` raised (now, or within :data:`RETRY_AFTER_S`).
        """
        try:
            self._values.move_to_end(key)
            return self._values[key]
        except KeyError:
            pass
        failed = self._failures.get(key)
        if failed is not None:
            if time.monotonic() < failed[0]:
                raise failed[1]
            del self._failures[key]
        waiting = self._in_flight.get(key)
        if waiting is not None:
            return waiting.get()
        result = self._in_flight[key] = AsyncResult()
        try:
            value = load()
        except Exception as exc:
            if len(self._failures) >= self._max:
                self._failures.clear()
            self._failures[key] = (time.monotonic() + RETRY_AFTER_S, exc)
            result.set_exception(exc)
            raise
        except BaseException:  # this greenlet was killed: the next caller fetches again
            result.set_exception(RegistryUnavailable("the schema's fetch was interrupted"))
            raise
        finally:
            del self._in_flight[key]
        self._values[key] = value
        if len(self._values) > self._max:
            self._values.popitem(last=False)
        result.set(value)
        return value
