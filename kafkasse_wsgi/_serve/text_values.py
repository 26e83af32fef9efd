"""How the text of a ``serve`` flag or ``KAFKASSE_*`` variable becomes a value: one parser
per :class:`~kafkasse_wsgi._options.text.Text` kind, and a consumer setting typed as
kafka-python's default for it.

A parser only reads the text (``"a,b"`` → ``["a", "b"]``); whether the value is allowed is
for ``Options`` to say, once, whatever source it came from. Pure, but :func:`kafka_value`
imports kafka-python (``check`` calls it, after gevent patched).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .._kafka_config import LIBRDKAFKA_KEYS
from .._tokens.key_text import key_of_env, key_of_flag


def parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{text!r} is not true or false")


def optional(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    def parse_or_none(text: str) -> Any:
        return None if text.strip().lower() in ("none", "") else parse(text)

    return parse_or_none


def parse_list(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def parse_trusted_proxies(text: str) -> int | list[str]:
    """A number of proxies, or their addresses and CIDR ranges (checked by ``Options``)."""
    value = text.strip()
    return int(value) if value.isdigit() else parse_list(value)


def parse_cors_origins(text: str) -> str | list[str]:
    return "*" if text.strip() == "*" else parse_list(text)


def parse_resume_policy(text: str) -> dict[str, str]:
    """``too_old=latest,too_new=error``, or one action for both."""
    if "=" not in text:
        return {"too_old": text.strip(), "too_new": text.strip()}
    policy = {}
    for part in parse_list(text):
        key, _, value = part.partition("=")
        policy[key.strip()] = value.strip()
    return policy


#: How each :class:`~kafkasse_wsgi._options.text.Text` kind is read from a flag or variable.
PARSERS: dict[str, Callable[[str], Any]] = {
    "int": int,
    "float": float,
    "str": str,
    "bool": parse_bool,
    "list": parse_list,
    "origins": parse_cors_origins,
    "proxies": parse_trusted_proxies,
    "resume_policy": parse_resume_policy,
    "key": key_of_flag,
}
#: Kinds read differently from a variable: a key may be an inline secret there, never on a
#: command line.
ENV_PARSERS: dict[str, Callable[[str], Any]] = {"key": key_of_env}


def kafka_value(key: str, text: str) -> Any:
    """Text → the type kafka-python's default for this setting has (``30000`` → int)."""
    from kafka import KafkaConsumer

    default = KafkaConsumer.DEFAULT_CONFIG.get(LIBRDKAFKA_KEYS.get(key, key))
    if isinstance(default, bool):
        return parse_bool(text)
    if isinstance(default, int):
        return int(text)
    if isinstance(default, float):
        return float(text)
    return text
