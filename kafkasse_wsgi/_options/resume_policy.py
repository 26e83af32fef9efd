""":class:`ResumePolicy`, the value of the ``resume_policy`` option, and its check.

A value of its own because an application builds one (``kafkasse_wsgi.ResumePolicy``), the
start offsets and the pump apply it (``_start_offsets.py``), and ``kafka_config``'s
``auto_offset_reset`` is read as its ``too_old`` (``_options/rules.py``). Pure: no Kafka here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from ..errors import ConfigurationError

RESUME_ACTIONS = ("earliest", "latest", "error")


@dataclasses.dataclass(frozen=True)
class ResumePolicy:
    """Where a resume starts when its offset is outside the partition's current range.

    :param too_old: the offset is below the log start (retention deleted it):
        ``earliest`` (default, loses only what Kafka already deleted), ``latest`` or ``error``.
    :param too_new: the offset is past the end (e.g. an id from another cluster):
        ``latest`` (default), ``earliest`` or ``error``.
    Either way the client is told: an ``event: reset`` and an ``X-KafkaSSE-Reset`` header.
    The same applies mid-stream, when Kafka deletes data a stream has not read yet (then
    ``event: reset`` only, or with ``error`` an ``event: error`` that ends the stream).
    """

    too_old: str = "earliest"
    too_new: str = "latest"

    def __post_init__(self) -> None:
        for name in ("too_old", "too_new"):
            if getattr(self, name) not in RESUME_ACTIONS:
                raise ConfigurationError(
                    f"resume_policy.{name} must be one of {', '.join(RESUME_ACTIONS)}"
                )


def resume_policy(name: str, value: Any) -> ResumePolicy:
    """The check of the ``resume_policy`` option: a :class:`ResumePolicy`, or a mapping of
    its fields made one."""
    if isinstance(value, Mapping):
        unknown = sorted(set(value) - {"too_old", "too_new"})
        if unknown:
            raise ConfigurationError(f"{name}: unknown key(s) {', '.join(unknown)}")
        value = ResumePolicy(**value)
    if not isinstance(value, ResumePolicy):
        raise ConfigurationError(f"{name} must be a ResumePolicy or a mapping")
    return value
