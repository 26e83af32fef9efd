"""How a field of :class:`~kafkasse_wsgi.options.Options` is declared: :func:`option` puts
its check and its text form (:class:`~kafkasse_wsgi._options.text.Text`) beside it, and the
checks it may name are here (integers, seconds, switches, topic lists, CORS origins, trusted
proxies...). Each check takes ``(name, value)``, returns the value normalised and raises
:class:`~kafkasse_wsgi.errors.ConfigurationError` naming the option.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from ipaddress import ip_network
from typing import TYPE_CHECKING, Any

from ..errors import ConfigurationError

if TYPE_CHECKING:
    from ..options import TrustedNetworks
    from .text import Text

#: A field's check: ``(name, value) -> value``, normalised (a comma string split, a mapping
#: made a ``ResumePolicy``...); raises :class:`ConfigurationError` naming the option.
Check = Callable[[str, Any], Any]


def option(
    default: Any = dataclasses.MISSING,
    *,
    factory: Callable[[], Any] | None = None,
    check: Check | None = None,
    text: Text | None = None,
) -> Any:
    """A field of :class:`~kafkasse_wsgi.options.Options` with its check and its text form
    declared beside it."""
    metadata: dict[str, Any] = {}
    if check is not None:
        metadata["check"] = check
    if text is not None:
        metadata["text"] = text
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


#: An origin as browsers send it: scheme://host[:port], no path, no trailing slash.
_ORIGIN = re.compile(r"[a-z][a-z0-9+.-]*://[^/\s?#]+")


def integer(minimum: int, optional: bool = False) -> Check:
    def check(name: str, value: Any) -> Any:
        if optional and value is None:
            return value
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise ConfigurationError(f"{name} must be an integer >= {minimum}, got {value!r}")
        return value

    return check


#: A limit: ``None`` for none, else at least 1.
limit = integer(1, optional=True)


def seconds(optional: bool = False) -> Check:
    def check(name: str, value: Any) -> Any:
        if optional and value is None:
            return value
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not math.isfinite(value)
            or value <= 0
        ):
            raise ConfigurationError(
                f"{name} must be a finite number of seconds > 0, got {value!r}"
            )
        return value

    return check


def switch(name: str, value: Any) -> Any:
    # A truthy string such as "false" would silently switch the mode on.
    if not isinstance(value, bool):
        raise ConfigurationError(f"{name} must be True or False")
    return value


def switch_or_none(name: str, value: Any) -> Any:
    if value is not None and not isinstance(value, bool):
        raise ConfigurationError(f"{name} must be True, False or None")
    return value


def callable_or_none(name: str, value: Any) -> Any:
    if value is not None and not callable(value):
        raise ConfigurationError(f"{name} must be callable, got {type(value).__name__}")
    return value


def one_of(choices: Sequence[str]) -> Check:
    def check(name: str, value: Any) -> Any:
        if value not in choices:
            raise ConfigurationError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
        return value

    return check


def fraction(name: str, value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise ConfigurationError(f"{name} must be a fraction in [0, 1), got {value!r}")
    return value


def logger_or_none(name: str, value: Any) -> Any:
    if value is not None and not isinstance(value, (logging.Logger, logging.LoggerAdapter)):
        raise ConfigurationError(f"{name} must be a logging.Logger or LoggerAdapter")
    return value


def settings(name: str, value: Any) -> Any:
    if not isinstance(value, Mapping):
        raise ConfigurationError(f"{name} must be a mapping of consumer settings")
    return value


def allowed_topics(name: str, value: Any) -> Any:
    """A callable as is; names (a comma string is split) as a tuple."""
    if value is None or callable(value):
        return value
    if isinstance(value, str):
        value = [topic.strip() for topic in value.split(",") if topic.strip()]
    if not isinstance(value, Iterable):
        raise ConfigurationError(f"{name} must be a list of topic names, a callable or None")
    value = tuple(value)
    if not all(isinstance(topic, str) and topic for topic in value):
        raise ConfigurationError(f"{name} must hold non-empty topic names")
    return value


def cors_origins(name: str, value: Any) -> str | tuple[str, ...] | None:
    """``None``, ``"*"``, or a tuple of lower-case origins (a comma string is split)."""
    if value is None or value == "*":
        return value
    if isinstance(value, str):
        value = [part for part in value.split(",") if part.strip()]
    if not isinstance(value, Iterable):
        raise ConfigurationError(f'{name} must be "*", a list of origins or None')
    origins = tuple(str(origin).strip().lower() for origin in value)
    for origin in origins:
        if not _ORIGIN.fullmatch(origin):
            raise ConfigurationError(
                f"{name}: {origin!r} is not an origin such as https://app.example "
                f'(scheme://host[:port], no path); use "*" alone for any origin'
            )
    return origins


def trusted_proxies(name: str, value: Any) -> int | TrustedNetworks:
    """A count of proxies, or their addresses and CIDR ranges (a list, or text separated by
    commas) as networks."""
    if isinstance(value, int) and not isinstance(value, bool):
        return integer(0)(name, value)
    if isinstance(value, str):
        value = [part for part in value.split(",") if part.strip()]
    if not isinstance(value, Iterable) or isinstance(value, (bytes, Mapping)):
        raise ConfigurationError(
            f"{name} must be a number of proxies, or their addresses and CIDR ranges"
        )
    networks = []
    for item in value:
        try:
            networks.append(ip_network(str(item).strip(), strict=False))
        except ValueError:
            raise ConfigurationError(
                f"{name}: {str(item)!r} is not an address or a CIDR range"
            ) from None
    if not networks:
        raise ConfigurationError(f"{name}: no address or range given; 0 for none")
    return tuple(networks)
