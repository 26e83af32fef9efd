"""The settings of ``kafkasse-wsgi serve``: where each one comes from, and which one wins.

Four sources, in order of precedence: a command-line flag, a ``KAFKASSE_*`` environment
variable, the ``--config`` TOML file, the default. The flags are derived from one table,
:data:`SPECS`, itself built from the :class:`~kafkasse_wsgi.options.Options` fields that
declare how they are written as text (their ``Text``: a number, a list, an on/off switch...)
plus a few of the server's own (host, port, workers, log level). The file takes *any*
``Options`` field at its top level and a ``[kafka]`` table of consumer settings (kafka-python
or librdkafka keys), so an option added to ``Options`` works in the file, and gets a flag and
variables from its declaration, without changes here.

Pure: reads files and the environment it is given, starts nothing. :func:`resolve` does not
import kafka-python (``serve`` monkey-patches with gevent first); :func:`check` does.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import json
import os
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from .. import options as options_module
from .._kafka_config import DEFAULT_BOOTSTRAP_SERVERS, LIBRDKAFKA_KEYS
from .._tokens.key_text import key_of_env, key_of_flag
from ..errors import ConfigurationError
from ..options import Options

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

ENV_PREFIX = "KAFKASSE_"
#: ``KAFKASSE_KAFKA_<KEY>=value``: one consumer setting (kafka-python name) from the environment.
KAFKA_ENV_PREFIX = "KAFKASSE_KAFKA_"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 6927
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
#: A setting whose name contains one of these is shown as ``***`` by ``--print-config``.
SECRET_WORDS = ("password", "secret", "token", "credential", "jaas", "jwt_keys")
MASK = "***"
#: The password of a ``scheme://user:password@host`` URL.
_URL_PASSWORD = re.compile(r"(://[^/:@\s]*:)[^/@\s]*@")


@dataclasses.dataclass(frozen=True)
class Spec:
    """One setting reachable from the command line and the environment.

    :param name: the ``Options`` field, or the server setting (``host``, ``port``...).
    :param parse: turns the text of a flag or variable into the value.
    :param help: what it does (from the ``Options`` docstring for options).
    :param server: a setting of the server, not a stream option.
    :param aliases: older flag names still accepted (``--heartbeat``).
    :param boolean: an on/off flag (``--x`` / ``--no-x``).
    :param choices: the values allowed, shown in ``--help``.
    :param env_parse: parses the environment variable instead of ``parse`` (a key may be
        an inline secret there, never on a command line).
    """

    name: str
    parse: Callable[[str], Any]
    help: str
    server: bool = False
    aliases: tuple[str, ...] = ()
    boolean: bool = False
    choices: tuple[str, ...] | None = None
    env_parse: Callable[[str], Any] | None = None

    @property
    def flag(self) -> str:
        return "--" + _flag_word(self.name)

    @property
    def env(self) -> str:
        return ENV_PREFIX + _flag_word(self.name).replace("-", "_").upper()

    @property
    def envs(self) -> tuple[str, ...]:
        """The variable, the option's own name (``KAFKASSE_HEARTBEAT_INTERVAL_S``), then those
        of the older flag names (``KAFKASSE_HEARTBEAT``)."""
        names = [self.env, ENV_PREFIX + self.name.upper()]
        names += [ENV_PREFIX + alias[2:].replace("-", "_").upper() for alias in self.aliases]
        return tuple(dict.fromkeys(names))


def _flag_word(name: str) -> str:
    """``max_stream_lifetime_s`` → ``max-stream-lifetime``: the unit of seconds is implied."""
    return re.sub(r"_s$", "", name).replace("_", "-")


def parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{text!r} is not true or false")


def _optional(parse: Callable[[str], Any]) -> Callable[[str], Any]:
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


#: How each :class:`~kafkasse_wsgi.options.Text` kind is read from a flag or variable.
_PARSERS: dict[str, Callable[[str], Any]] = {
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
_ENV_PARSERS: dict[str, Callable[[str], Any]] = {"key": key_of_env}

_SERVER_SPECS = (
    Spec("host", str, "address to listen on", server=True),
    Spec("port", int, "port to listen on", server=True),
    Spec(
        "admin_port",
        _optional(int),
        "port (on the same host) for /metrics, /_tail and /healthz; then, and with "
        "subscriber tokens on, the stream port does not serve /metrics and /_tail",
        server=True,
    ),
    Spec(
        "headers_timeout_s",
        float,
        "seconds a connection may take to send its request line and headers, or stay idle "
        "between requests, before it is closed (slowloris; gunicorn's keepalive)",
        server=True,
    ),
    Spec(
        "workers",
        int,
        "1: gevent's server in this process; more: gunicorn with gevent workers "
        "(the gunicorn extra)",
        server=True,
    ),
    Spec(
        "log_level", str.upper, "level of the JSON logs on stderr", server=True, choices=LOG_LEVELS
    ),
    Spec(
        "bootstrap_servers", str, "Kafka brokers, comma-separated (a [kafka] setting)", server=True
    ),
    Spec(
        "allow_all_topics",
        parse_bool,
        "serve every topic (but the ecosystem's own) on a non-loopback --host without "
        "--allowed-topics or subscriber tokens; without it, such a server refuses to start",
        server=True,
        boolean=True,
    ),
)

SERVER_DEFAULTS: dict[str, Any] = {
    "host": DEFAULT_HOST,
    "port": DEFAULT_PORT,
    "admin_port": None,
    "headers_timeout_s": 10.0,
    "workers": 1,
    "log_level": "INFO",
    "allow_all_topics": False,
}


def _option_help() -> dict[str, str]:
    """``:param name: text`` of the Options docstring, one line each."""
    helps: dict[str, str] = {}
    current = None
    for line in (Options.__doc__ or "").splitlines():
        match = re.match(r"\s*:param (\w+):\s*(.*)", line)
        if match:
            current = match.group(1)
            helps[current] = match.group(2)
        elif current and line.strip() and not line.strip().startswith(":"):
            helps[current] += " " + line.strip()
        else:
            current = None
    return {
        name: re.sub(r":\w+:`([^`]*)`", r"\1", _spell_data(text))
        .replace("%", "%%")
        .replace("``", "")
        for name, text in helps.items()
    }


def _spell_data(text: str) -> str:
    """``one of :data:`ID_MODES``` → ``one of offset, timestamp, cursor``: a reader of
    ``--help`` needs the values, not the name of a constant in our code."""

    def values(match: re.Match[str]) -> str:
        value = getattr(options_module, match.group(1), None)
        if isinstance(value, (tuple, list)):
            return ", ".join(map(str, value))
        return match.group(0)

    return re.sub(r":data:`(\w+)`", values, text)


def _option_specs() -> list[Spec]:
    """A spec for every Options field that declares how it is written as text."""
    helps = _option_help()
    specs = []
    for field in dataclasses.fields(Options):
        text = field.metadata.get("text")
        if text is None:
            continue  # callables, loggers, mappings: Python code or the config file
        parse = _PARSERS[text.kind]
        specs.append(
            Spec(
                field.name,
                _optional(parse) if text.optional else parse,
                text.help or helps.get(field.name, ""),
                aliases=text.aliases,
                boolean=text.kind == "bool",
                choices=text.choices,
                env_parse=_ENV_PARSERS.get(text.kind),
            )
        )
    return specs


SPECS: tuple[Spec, ...] = (*_SERVER_SPECS, *_option_specs())
_BY_NAME = {spec.name: spec for spec in SPECS}
_FIELDS = {field.name: field for field in dataclasses.fields(Options)}
_OPTION_FIELDS = set(_FIELDS)


@dataclasses.dataclass
class Setting:
    """A value and where it came from (``"flag --port"``, ``"file x.toml:3"``...).

    :param text: the value is text still to be typed (a consumer setting from a flag or the
        environment: ``"30000"`` becomes an int when kafka-python's default is one).
    """

    value: Any
    source: str
    text: bool = False


@dataclasses.dataclass
class ServeConfig:
    """What ``serve`` runs with: server settings, stream options, consumer settings."""

    server: dict[str, Setting]
    options: dict[str, Setting]
    #: canonical kafka-python name → (the key as written, its setting).
    kafka: dict[str, tuple[str, Setting]]

    def stream_options(self) -> dict[str, Any]:
        """The keyword arguments of ``KafkaSSE``."""
        options = {name: setting.value for name, setting in self.options.items()}
        options["kafka_config"] = {key: setting.value for key, setting in self.kafka.values()}
        return options

    def value(self, name: str) -> Any:
        return self.server[name].value

    def describe(self) -> str:
        """``--print-config``: the effective settings as TOML, each with its source; secret
        values masked and commented out, so the output loads back through ``--config`` (the
        secrets still come from where they came from). Options left at their default are
        listed too, so nothing is hidden."""
        lines = [
            "# kafkasse-wsgi serve: effective configuration (source of each value after #);",
            "# secrets are shown as *** and commented out: give them by environment variable.",
        ]
        for name, setting in self.server.items():
            lines.append(_toml_line(name, setting.value, setting.source))
        for spec in SPECS:
            if spec.server:
                continue
            default = Setting(_default_of(spec.name), "default")
            setting = self.options.get(spec.name, default)
            lines.append(_toml_line(spec.name, setting.value, setting.source))
        for name, setting in self.options.items():
            if name not in _BY_NAME:
                lines.append(_toml_line(name, setting.value, setting.source))
        lines.append("")
        lines.append("[kafka]")
        for key, setting in self.kafka.values():
            lines.append(_toml_line(key, setting.value, setting.source))
        return "\n".join(lines) + "\n"


def _default_of(name: str) -> Any:
    """An option's default, read off the dataclass: building ``Options()`` would import
    kafka-python (it checks ``kafka_config``), which must wait for gevent's patching."""
    field = _FIELDS[name]
    if field.default_factory is not dataclasses.MISSING:
        return _plain(field.default_factory())
    return _plain(field.default)


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, tuple):
        return list(value)
    return value


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
        default = SERVER_DEFAULTS.get(spec.name) if spec.server else _default_of(spec.name)
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
    options: dict[str, Setting] = {}
    kafka: dict[str, tuple[str, Setting]] = {}
    bootstrap = environ.get("KAFKA_BOOTSTRAP_SERVERS", DEFAULT_BOOTSTRAP_SERVERS)
    _set_kafka(kafka, "bootstrap_servers", bootstrap, "default")

    path = given.get("config") or environ.get(f"{ENV_PREFIX}CONFIG")
    if path:
        _read_file(Path(path), server, options, kafka)

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
        _assign(spec.name, value, f"env {variable}", server, options, kafka)
    for name, text in environ.items():
        if name.startswith(KAFKA_ENV_PREFIX):
            key = name[len(KAFKA_ENV_PREFIX) :].lower()
            _set_kafka(kafka, key, text, f"env {name}", text=True)

    for spec in SPECS:
        if spec.name in given:
            _assign(spec.name, given[spec.name], f"flag {spec.flag}", server, options, kafka)
    for item in given.get("kafka_config") or ():
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise ConfigurationError(f"--kafka-config {item!r}: write KEY=VALUE")
        key = key.strip()
        _set_kafka(kafka, key, text, f"flag --kafka-config {key}", text=True)
    return ServeConfig(server, options, kafka)


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


def _assign(
    name: str,
    value: Any,
    source: str,
    server: dict[str, Setting],
    options: dict[str, Setting],
    kafka: dict[str, tuple[str, Setting]],
) -> None:
    if name == "bootstrap_servers":
        _set_kafka(kafka, name, value, source)
    elif name == "log_level":
        level = str(value).upper()
        if level not in LOG_LEVELS:
            raise ConfigurationError(f"log_level must be one of {', '.join(LOG_LEVELS)} ({source})")
        server[name] = Setting(level, source)
    elif name in SERVER_DEFAULTS:
        server[name] = Setting(value, source)
    else:
        options[name] = Setting(value, source)


def _set_kafka(
    kafka: dict[str, tuple[str, Setting]], key: str, value: Any, source: str, text: bool = False
) -> None:
    """By kafka-python name, so ``metadata.broker.list`` in a file and ``--bootstrap-servers``
    are the same setting and the higher source replaces the lower."""
    kafka[LIBRDKAFKA_KEYS.get(key, key)] = (key, Setting(value, source, text))


def _kafka_value(key: str, text: str) -> Any:
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


def _read_file(
    path: Path,
    server: dict[str, Setting],
    options: dict[str, Setting],
    kafka: dict[str, tuple[str, Setting]],
) -> None:
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
                _set_kafka(kafka, kafka_key, kafka_value, f"file {where}")
            continue
        where = f"{path}:{_line_of(lines, None, key)}"
        if key == "bootstrap_servers" or key in SERVER_DEFAULTS:
            _assign(key, value, f"file {where}", server, options, kafka)
        elif key in _OPTION_FIELDS and key != "kafka_config":
            options[key] = Setting(value, f"file {where}")
        else:
            hint = "; consumer settings go in the [kafka] table" if key == "kafka_config" else ""
            raise ConfigurationError(f"{where}: unknown setting {key!r}{hint}")


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


def check(config: ServeConfig) -> None:
    """Type the consumer settings given as text, then build the Options once, so a bad value
    fails before serving; the error names where the value came from.

    :raises ConfigurationError: an unknown consumer setting or a bad value, with its source.
    """
    from .._kafka_config import translate

    for canonical, (key, setting) in list(config.kafka.items()):
        try:
            value = _kafka_value(key, setting.value) if setting.text else setting.value
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
