"""The settings of ``kafkasse-wsgi serve``: where each one comes from, and which one wins.

Four sources, in order of precedence: a command-line flag, a ``KAFKASSE_*`` environment
variable, the ``--config`` TOML file, the default. The flags are derived from one table,
:data:`SPECS` (``specs.py``), itself built from the :class:`~kafkasse_wsgi.options.Options`
fields that declare how they are written as text (their ``Text``: a number, a list, an on/off
switch...) plus a few of the server's own (host, port, workers, log level). The file
(``config_file.py``) takes *any* ``Options`` field at its top level and a ``[kafka]`` table of
consumer settings (kafka-python or librdkafka keys), so an option added to ``Options`` works
in the file, and gets a flag and variables from its declaration, without changes here.

This module builds the flags, reads the environment, merges the sources in order
(:func:`resolve`) and checks the result before serving (:func:`check`); the values land in a
:class:`~kafkasse_wsgi._serve.settings.ServeConfig`, which ``--print-config`` prints
(``print_config.py``). Every name the command and its tests use is importable from here.

Pure: reads files and the environment it is given, starts nothing. :func:`resolve` does not
import kafka-python (``serve`` monkey-patches with gevent first); :func:`check` does.
"""

from __future__ import annotations

import argparse
import difflib
import os
import re
from collections.abc import Mapping
from pathlib import Path

from .._kafka_config import DEFAULT_BOOTSTRAP_SERVERS
from ..errors import ConfigurationError
from ..options import Options
from .config_file import read_file
from .print_config import MASK, SECRET_WORDS, is_secret
from .settings import ServeConfig, Setting
from .specs import (
    DEFAULT_HOST,
    DEFAULT_PORT,
    ENV_PREFIX,
    KAFKA_ENV_PREFIX,
    LOG_LEVELS,
    SERVER_DEFAULTS,
    SPECS,
    Spec,
    default_of,
)
from .text_values import (
    kafka_value,
    parse_bool,
    parse_cors_origins,
    parse_list,
    parse_resume_policy,
    parse_trusted_proxies,
)

__all__ = [
    "DEFAULT_BOOTSTRAP_SERVERS",
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "ENV_PREFIX",
    "KAFKA_ENV_PREFIX",
    "LOG_LEVELS",
    "MASK",
    "SECRET_WORDS",
    "SERVER_DEFAULTS",
    "SPECS",
    "ConfigurationError",
    "Options",
    "ServeConfig",
    "Setting",
    "Spec",
    "add_arguments",
    "check",
    "is_secret",
    "parse_bool",
    "parse_cors_origins",
    "parse_list",
    "parse_resume_policy",
    "parse_trusted_proxies",
    "resolve",
]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """One flag per spec (default: not given, so lower sources can show through)."""
    parser.add_argument(
        "--config",
        metavar="FILE",
        default=argparse.SUPPRESS,
        help=f"TOML file: any option at the top level, consumer settings in [kafka] "
        f"[{ENV_PREFIX}CONFIG]",
    )
    parser.add_argument(
        "--kafka-config",
        metavar="KEY=VALUE",
        action="append",
        default=argparse.SUPPRESS,
        help="one consumer setting, kafka-python or librdkafka key; repeatable "
        f"[{KAFKA_ENV_PREFIX}<KEY>]",
    )
    parser.add_argument(
        "--print-config",
        action="store_true",
        help="print the effective configuration (flag > env > file > default, secrets "
        "masked) and exit",
    )
    for spec in SPECS:
        names = [spec.flag, *spec.aliases]
        default = SERVER_DEFAULTS.get(spec.name) if spec.server else default_of(spec.name)
        if (spec.server and spec.name not in SERVER_DEFAULTS) or "default" in spec.help.lower():
            shown = ""  # no default, or the text already says it
        else:
            shown = f" (default: {'none' if default is None else default})"
        help_text = f"{spec.help}{shown} [{spec.env}]"
        if spec.boolean:
            parser.add_argument(
                *names,
                dest=spec.name,
                action=argparse.BooleanOptionalAction,
                default=argparse.SUPPRESS,
                help=help_text,
            )
        else:
            parser.add_argument(
                *names,
                dest=spec.name,
                metavar=spec.flag[2:].replace("-", "_").upper() if spec.choices is None else None,
                choices=spec.choices,
                type=spec.parse,
                default=argparse.SUPPRESS,
                help=help_text,
            )


def resolve(args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> ServeConfig:
    """Merge file, environment and flags over the defaults.

    :raises ConfigurationError: a file that cannot be read, an unknown key (named with its
        file line), a value that does not parse.
    """
    environ = os.environ if environ is None else environ
    given = vars(args)
    server = {name: Setting(value, "default") for name, value in SERVER_DEFAULTS.items()}
    config = ServeConfig(server, {}, {})
    bootstrap = environ.get("KAFKA_BOOTSTRAP_SERVERS", DEFAULT_BOOTSTRAP_SERVERS)
    config.set_kafka("bootstrap_servers", bootstrap, "default")

    path = given.get("config") or environ.get(f"{ENV_PREFIX}CONFIG")
    if path:
        read_file(Path(path), config)

    _check_variables(environ)
    for spec in SPECS:
        present = [name for name in spec.envs if name in environ]
        if not present:
            continue
        if len(present) > 1:
            raise ConfigurationError(
                f"{' and '.join(sorted(present))} name one setting: set one of them"
            )
        variable = present[0]
        try:
            value = (spec.env_parse or spec.parse)(environ[variable])
        except ValueError as exc:
            raise ConfigurationError(f"{variable}: {exc}") from None
        if spec.choices is not None and value not in spec.choices:
            raise ConfigurationError(f"{variable} must be one of {', '.join(spec.choices)}")
        config.assign(spec.name, value, f"env {variable}")
    for name, text in environ.items():
        if name.startswith(KAFKA_ENV_PREFIX):
            key = name[len(KAFKA_ENV_PREFIX) :].lower()
            config.set_kafka(key, text, f"env {name}", text=True)

    for spec in SPECS:
        if spec.name in given:
            config.assign(spec.name, given[spec.name], f"flag {spec.flag}")
    for item in given.get("kafka_config") or ():
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise ConfigurationError(f"--kafka-config {item!r}: write KEY=VALUE")
        key = key.strip()
        config.set_kafka(key, text, f"flag --kafka-config {key}", text=True)
    return config


def _known_variables() -> list[str]:
    return [f"{ENV_PREFIX}CONFIG", *(name for spec in SPECS for name in spec.envs)]


def _check_variables(environ: Mapping[str, str]) -> None:
    """A ``KAFKASSE_*`` variable that names no setting is an error, as a file's unknown key
    is: a typo (``KAFKASSE_HEARTBEET``) must not leave the default silently in force.
    ``KAFKASSE_KAFKA_<KEY>`` are consumer settings, checked by :func:`check`.

    :raises ConfigurationError: naming the variable and the closest valid name.
    """
    known = _known_variables()
    for name in sorted(environ):
        if not name.startswith(ENV_PREFIX) or name.startswith(KAFKA_ENV_PREFIX) or name in known:
            continue
        closest = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
        hint = f"; did you mean {closest[0]}?" if closest else ""
        raise ConfigurationError(
            f"{name}: unknown variable (the {ENV_PREFIX}* variables are kafkasse-wsgi "
            f"settings){hint}"
        )


def check(config: ServeConfig) -> None:
    """Type the consumer settings given as text, then build the Options once, so a bad value
    fails before serving; the error names where the value came from.

    :raises ConfigurationError: an unknown consumer setting or a bad value, with its source.
    """
    from .._kafka_config import translate

    for canonical, (key, setting) in list(config.kafka.items()):
        try:
            value = kafka_value(key, setting.value) if setting.text else setting.value
            translate({key: value})
        except ValueError as exc:
            raise ConfigurationError(f"kafka setting {key}: {exc} ({setting.source})") from None
        except ConfigurationError as error:
            raise ConfigurationError(f"{error.message} ({setting.source})") from None
        config.kafka[canonical] = (key, Setting(value, setting.source))
    try:
        Options.from_any(config.stream_options())
    except ConfigurationError as error:
        source = _source_of(config, error.message)
        message = f"{error.message} ({source})" if source else error.message
        raise ConfigurationError(message) from None


def _source_of(config: ServeConfig, message: str) -> str | None:
    for name, setting in config.options.items():
        if re.match(rf"{name}\b", message):
            return setting.source
    return None
