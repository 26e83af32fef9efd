"""Topics in Avro, Protobuf and JSON Schema, framed the Confluent way, streamed as JSON.

The ``schema_registry`` option turns it on; without it nothing here is imported. The modules:
``config`` (the option, pure), ``framing`` (the wire format, pure), ``client`` (the registry's
HTTP API, the per-process schema cache), one decoder module per format (``avro``,
``protobuf``, ``json_schema``), and ``deserializer``, which the hub and the pumps run like
any deserializer. The decoders need the ``registry`` extra.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .._extras import require
from .config import RegistryConfig

if TYPE_CHECKING:
    from .deserializer import RegistryDeserializer

__all__ = ["RegistryConfig", "deserializer_for"]


def deserializer_for(value: Any) -> RegistryDeserializer:
    """The process's deserializer for this registry (a URL, a mapping or a config).

    :raises ConfigurationError: a bad value.
    :raises MissingExtraError: the ``registry`` extra is not installed.
    """
    config = RegistryConfig.from_option(value)
    for module in ("fastavro", "google.protobuf"):
        require(module, "schema_registry", "registry")
    from .deserializer import deserializer_for as shared

    return shared(config)
