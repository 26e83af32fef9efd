"""Logging: the request id on every record, and JSON lines for servers that want them.

Library modules log through ``logging`` only and never install handlers (a ``NullHandler``
sits on the package logger). Applications, the CLI and the example servers call
:func:`configure_json_logging` to get one JSON object per line, with ``request_id`` as a field.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import IO, Any

PACKAGE_LOGGER = "kafkasse_wsgi"


#: C0 and C1 controls, DEL, and the Unicode line and paragraph separators.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def escape_control(text: str) -> str:
    """``text`` with every control character written as ``\\xNN`` (``\\uNNNN``): text a
    client sent cannot break a log line, or forge one, in any log format."""
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


class RequestLogAdapter(logging.LoggerAdapter):
    """Adds ``request_id`` to every record, keeping any ``extra`` the call passes too; the
    text arguments of a request's log lines (paths, filters, ids, error messages: the
    client's text) are escaped with :func:`escape_control`."""

    def __init__(self, logger: logging.Logger | logging.LoggerAdapter, request_id: str) -> None:
        super().__init__(logger, {"request_id": request_id})

    def log(self, level: int, msg: Any, *args: Any, **kwargs: Any) -> None:
        escaped = [escape_control(arg) if isinstance(arg, str) else arg for arg in args]
        super().log(level, msg, *escaped, **kwargs)

    def process(
        self, msg: Any, kwargs: MutableMapping[str, Any]
    ) -> tuple[Any, MutableMapping[str, Any]]:
        kwargs["extra"] = {**(self.extra or {}), **kwargs.get("extra", {})}
        return msg, kwargs


def configure_json_logging(
    level: int | str = "INFO", stream: IO[str] | None = None
) -> logging.Handler:
    """Send the root logger's records to ``stream`` (stderr) as JSON lines; returns the handler.

    Call it once at start-up of a server process, never from library code.
    """
    from pythonjsonlogger.json import JsonFormatter  # python-json-logger >= 3.1 (setup.cfg)

    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(
        JsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s",
            rename_fields={"levelname": "level", "asctime": "time"},
        )
    )
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_kafkasse_json", False)]:
        root.removeHandler(old)
    handler._kafkasse_json = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level if isinstance(level, int) else level.upper())
    # kafka-python is chatty at INFO (every connection); keep its warnings and errors.
    logging.getLogger("kafka").setLevel(max(logging.WARNING, root.level))
    return handler
