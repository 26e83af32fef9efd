"""Every setting of ``kafkasse-wsgi serve`` that has a flag and ``KAFKASSE_*`` variables, as
one table, :data:`SPECS`: the server's own (host, port, workers, log level...) and one per
:class:`~kafkasse_wsgi.options.Options` field that declares a text form.

The table names things (``max_stream_lifetime_s`` → ``--max-stream-lifetime``,
``KAFKASSE_MAX_STREAM_LIFETIME``), says how text is read and what ``--help`` shows (an
option's ``:param:`` text); ``config.py`` builds the flags and reads the variables from it.
An option added to ``Options`` with a text form gets its flag and variables here unchanged.
Pure.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from typing import Any

from .. import options as options_module
from ..options import Options
from .text_values import ENV_PARSERS, PARSERS, optional, parse_bool

ENV_PREFIX = "KAFKASSE_"
#: ``KAFKASSE_KAFKA_<KEY>=value``: one consumer setting (kafka-python name) from the environment.
KAFKA_ENV_PREFIX = "KAFKASSE_KAFKA_"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 6927
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


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


_SERVER_SPECS = (
    Spec("host", str, "address to listen on", server=True),
    Spec("port", int, "port to listen on", server=True),
    Spec(
        "admin_port",
        optional(int),
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
        parse = PARSERS[text.kind]
        specs.append(
            Spec(
                field.name,
                optional(parse) if text.optional else parse,
                text.help or helps.get(field.name, ""),
                aliases=text.aliases,
                boolean=text.kind == "bool",
                choices=text.choices,
                env_parse=ENV_PARSERS.get(text.kind),
            )
        )
    return specs


SPECS: tuple[Spec, ...] = (*_SERVER_SPECS, *_option_specs())
BY_NAME = {spec.name: spec for spec in SPECS}
_FIELDS = {field.name: field for field in dataclasses.fields(Options)}
#: Every Options field: the config file takes each at its top level (kafka_config as [kafka]).
OPTION_FIELDS = set(_FIELDS)


def default_of(name: str) -> Any:
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
