"""The ``schema_registry`` option as one frozen value: where the registry is, how to log in.

Pure: no HTTP, no decoders. Built when :class:`~kafkasse_wsgi.options.Options` is, so a bad
value fails at start-up, naming the option; the password never appears in a ``repr``.
"""

from __future__ import annotations

import dataclasses
import os
import urllib.parse
from collections.abc import Mapping
from typing import Any

from ..errors import ConfigurationError

#: The keys a mapping may hold.
KEYS = ("url", "username", "password", "ca_file", "validate_json", "decode_keys", "cache_size")


@dataclasses.dataclass(frozen=True)
class RegistryConfig:
    """A Confluent-compatible schema registry.

    :param url: its base URL (``https://registry.example/apis/ccompat/v7`` for Apicurio).
    :param username: basic-auth user (``user:password@`` in the URL is the same).
    :param password: basic-auth password; masked in ``--print-config``, never logged.
    :param ca_file: a PEM file of the CAs an ``https`` registry's certificate is checked against.
    :param validate_json: JSON Schema payloads are also validated against their schema (an
        invalid one is skipped, like bad JSON).
    :param decode_keys: keys in the Confluent framing are decoded too (default). False when
        a topic's keys are binary values that may start with a zero byte (big-endian longs).
    :param cache_size: most schemas kept per process (least recently used go first).
    """

    DEFAULT_CACHE_SIZE = 1000

    url: str
    username: str | None = None
    password: str | None = dataclasses.field(default=None, repr=False)
    ca_file: str | None = None
    validate_json: bool = False
    decode_keys: bool = True
    cache_size: int = DEFAULT_CACHE_SIZE

    @property
    def safe_url(self) -> str:
        """The URL as it may be logged: no credentials in it."""
        return self.url

    @classmethod
    def from_option(cls, value: Any) -> RegistryConfig:
        """From the option's value: a URL, a mapping of :data:`KEYS`, or a ``RegistryConfig``.

        :raises ConfigurationError: anything else, naming the option.
        """
        if isinstance(value, RegistryConfig):
            return value
        if isinstance(value, str):
            value = {"url": value}
        if not isinstance(value, Mapping):
            raise ConfigurationError(
                "schema_registry must be a URL or a mapping with url, username, password, ca_file"
            )
        unknown = sorted(set(value) - set(KEYS))
        if unknown:
            raise ConfigurationError(
                f"schema_registry: unknown key(s) {', '.join(unknown)}; known: {', '.join(KEYS)}"
            )
        settings = dict(value)
        url = settings.get("url")
        if not isinstance(url, str):
            raise ConfigurationError("schema_registry needs a url")
        parts = urllib.parse.urlsplit(url.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigurationError(
                "schema_registry: the url must be http(s)://host[:port][/path], "
                f"got {_without_password(url)!r}"
            )
        if parts.username is not None:  # user:password@host: taken out of the URL
            settings.setdefault("username", urllib.parse.unquote(parts.username))
            if parts.password is not None:
                settings.setdefault("password", urllib.parse.unquote(parts.password))
            netloc = parts.netloc.rsplit("@", 1)[1]
            parts = parts._replace(netloc=netloc)
        settings["url"] = urllib.parse.urlunsplit(parts).rstrip("/")
        for key in ("username", "password", "ca_file"):
            if settings.get(key) is not None and not isinstance(settings[key], str):
                raise ConfigurationError(f"schema_registry: {key} must be a string")
        ca_file = settings.get("ca_file")
        if ca_file is not None and not os.path.isfile(ca_file):
            raise ConfigurationError(f"schema_registry: no such ca_file: {ca_file}")
        for key in ("validate_json", "decode_keys"):
            if not isinstance(settings.get(key, False), bool):
                raise ConfigurationError(f"schema_registry: {key} must be True or False")
        size = settings.get("cache_size", cls.DEFAULT_CACHE_SIZE)
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ConfigurationError("schema_registry: cache_size must be an integer >= 1")
        return cls(**settings)


def _without_password(url: str) -> str:
    """``url`` with any ``:password@`` replaced, for an error message."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))
