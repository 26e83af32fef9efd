"""``--print-config``: the effective settings of ``serve`` as TOML, each with its source.

Secret values (a name with ``password``, ``secret``, ``token``... in it, the password of a
``scheme://user:password@host`` URL) are masked, and a masked line is a comment, so the
output loads back through ``--config`` while the secrets still come from where they came
from. Options left at their default are listed too, so nothing is hidden. Pure.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .specs import BY_NAME, SPECS, default_of

if TYPE_CHECKING:
    from .settings import ServeConfig

#: A setting whose name contains one of these is shown as ``***`` by ``--print-config``.
SECRET_WORDS = ("password", "secret", "token", "credential", "jaas", "jwt_keys")
MASK = "***"
#: The password of a ``scheme://user:password@host`` URL.
_URL_PASSWORD = re.compile(r"(://[^/:@\s]*:)[^/@\s]*@")


def describe(config: ServeConfig) -> str:
    """The effective settings as TOML: the server's, every option's (set or default), then
    the ``[kafka]`` table, each value with its source after ``#``."""
    lines = [
        "# kafkasse-wsgi serve: effective configuration (source of each value after #);",
        "# secrets are shown as *** and commented out: give them by environment variable.",
    ]
    for name, setting in config.server.items():
        lines.append(_toml_line(name, setting.value, setting.source))
    for spec in SPECS:
        if spec.server:
            continue
        setting = config.options.get(spec.name)
        if setting is None:
            lines.append(_toml_line(spec.name, default_of(spec.name), "default"))
        else:
            lines.append(_toml_line(spec.name, setting.value, setting.source))
    for name, setting in config.options.items():
        if name not in BY_NAME:
            lines.append(_toml_line(name, setting.value, setting.source))
    lines.append("")
    lines.append("[kafka]")
    for key, setting in config.kafka.values():
        lines.append(_toml_line(key, setting.value, setting.source))
    return "\n".join(lines) + "\n"


def is_secret(name: str) -> bool:
    lowered = name.lower()
    return any(word in lowered for word in SECRET_WORDS)


def _toml_line(key: str, value: Any, source: str) -> str:
    shown_key = key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key)
    if is_secret(key) and value is not None and not isinstance(value, (bool, int, float)):
        # A switch such as jwt_allow_query_token is no secret; a masked value would not
        # load back, so it is a comment.
        return f'# {shown_key} = "{MASK}"  # {source}'
    if value is None:
        return f"# {shown_key} = (none)  # {source}"
    return f"{shown_key} = {_toml_value(value)}  # {source}"


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Mapping):
        return (
            "{"
            + ", ".join(
                f"{k} = {json.dumps(MASK) if is_secret(k) else _toml_value(v)}"
                for k, v in value.items()
            )
            + "}"
        )
    if isinstance(value, str) and _URL_PASSWORD.search(value):
        return json.dumps(_URL_PASSWORD.sub(rf"\1{MASK}@", value))
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, (int, float)):
        return repr(value)
    return json.dumps(str(value))
