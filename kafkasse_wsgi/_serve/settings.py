"""What ``serve`` runs with once its sources are read: every value with where it came from
(:class:`Setting`), sorted into server settings, stream options and consumer settings
(:class:`ServeConfig`).

A value is put in its place here whichever source gave it (flag, variable, file), so
``metadata.broker.list`` in the file and ``--bootstrap-servers`` are one setting and the
higher source replaces the lower. Pure.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from .._kafka_config import LIBRDKAFKA_KEYS
from ..errors import ConfigurationError
from . import print_config
from .specs import LOG_LEVELS, SERVER_DEFAULTS


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
        return print_config.describe(self)

    def assign(self, name: str, value: Any, source: str) -> None:
        """A server setting, ``bootstrap_servers`` (a consumer setting) or a stream option."""
        if name == "bootstrap_servers":
            self.set_kafka(name, value, source)
        elif name == "log_level":
            level = str(value).upper()
            if level not in LOG_LEVELS:
                raise ConfigurationError(
                    f"log_level must be one of {', '.join(LOG_LEVELS)} ({source})"
                )
            self.server[name] = Setting(level, source)
        elif name in SERVER_DEFAULTS:
            self.server[name] = Setting(value, source)
        else:
            self.options[name] = Setting(value, source)

    def set_kafka(self, key: str, value: Any, source: str, text: bool = False) -> None:
        """By kafka-python name, so ``metadata.broker.list`` in a file and
        ``--bootstrap-servers`` are the same setting and the higher source replaces the
        lower."""
        self.kafka[LIBRDKAFKA_KEYS.get(key, key)] = (key, Setting(value, source, text))
