"""The ``--config`` TOML file of ``serve``: any ``Options`` field (but ``kafka_config``) and
any server setting at the top level, consumer settings (kafka-python or librdkafka keys) in
a ``[kafka]`` table.

Each value's source names the file and its line (tomllib gives none, so the line is found
in the text), and an unknown key is an error there: a typo must not leave the default
silently in force. Pure: reads the one file it is given.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from ..errors import ConfigurationError
from .settings import ServeConfig
from .specs import OPTION_FIELDS, SERVER_DEFAULTS

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib


def read_file(path: Path, config: ServeConfig) -> None:
    """Put the file's settings in ``config``, over what it holds.

    :raises ConfigurationError: a file that cannot be read or parsed, an unknown key.
    """
    try:
        text = path.read_text(encoding="utf-8")
        data = tomllib.loads(text)
    except OSError as exc:
        raise ConfigurationError(f"config file {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"config file {path}: not valid TOML: {exc}") from None
    lines = text.splitlines()
    for key, value in data.items():
        if key == "kafka" and isinstance(value, Mapping):
            for kafka_key, kafka_value in value.items():
                where = f"{path}:{_line_of(lines, 'kafka', kafka_key)}"
                config.set_kafka(kafka_key, kafka_value, f"file {where}")
            continue
        where = f"{path}:{_line_of(lines, None, key)}"
        known = key == "bootstrap_servers" or key in SERVER_DEFAULTS or key in OPTION_FIELDS
        if not known or key == "kafka_config":
            hint = "; consumer settings go in the [kafka] table" if key == "kafka_config" else ""
            raise ConfigurationError(f"{where}: unknown setting {key!r}{hint}")
        config.assign(key, value, f"file {where}")


def _line_of(lines: Sequence[str], table: str | None, key: str) -> int | str:
    """Where ``key`` is set in ``table`` (``None``: the top level): tomllib gives no lines."""
    current: str | None = None
    pattern = re.compile(r"""\s*(?:"([^"]*)"|'([^']*)'|([A-Za-z0-9_.-]+))\s*=""")
    for number, line in enumerate(lines, start=1):
        header = re.match(r"\s*\[\s*([^\]]+?)\s*\]", line)
        if header:
            current = header.group(1).strip('"')
            if table is None and current == key:
                return number  # the key is a table of its own
            continue
        match = pattern.match(line)
        if match and current == table and key in match.groups():
            return number
        if match and current is None and table is not None and match.group(3) == f"{table}.{key}":
            return number
    return "?"
