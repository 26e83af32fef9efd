"""Optional extras: import what a feature needs, or say in one line which extra installs it.

The base package streams with kafka-python and gevent alone; gunicorn (``--workers N``),
prometheus_client (``/metrics``), Flask and Django (their helpers) are extras. A missing one is
a :class:`MissingExtraError` whose message is the ``pip install`` line that fixes it, raised
without the chained ``ModuleNotFoundError`` underneath.
"""

from __future__ import annotations

import importlib
from types import ModuleType


class MissingExtraError(ModuleNotFoundError):
    """A feature's optional dependency is not installed; the message says how to get it."""


def install_hint(feature: str, extra: str) -> str:
    """One line: what needs what, and the command that installs it."""
    return f"{feature} needs the {extra!r} extra: pip install 'kafkasse_wsgi[{extra}]'"


def require(module: str, feature: str, extra: str) -> ModuleType:
    """Import ``module`` for ``feature``, or raise :class:`MissingExtraError`.

    :param module: the top-level module the extra provides (``"flask"``).
    :param feature: what the user tried, as a reader would say it (``"--workers 2"``).
    :param extra: the extra's name in setup.cfg (``"flask"``).
    """
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name != module:
            raise  # the extra is there but broken: its own error says more
        raise MissingExtraError(install_hint(feature, extra), name=module) from None
