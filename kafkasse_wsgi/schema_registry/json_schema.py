"""JSON Schema payloads: the payload is JSON already; validation against the schema is optional.

Parsed as strictly as any JSON record (``NaN`` refused, UTF-8 only). With ``validate_json``
the value is checked with ``jsonschema`` against the registry's schema, its references
resolvable by the names they were registered under; a value that fails is skipped.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from .._extras import require
from .._message import parse_value
from .client import RegistrySchema

Named = list[tuple[str, RegistrySchema]]


class _Payload:
    """What :func:`~kafkasse_wsgi._message.parse_value` reads: a ``value``."""

    __slots__ = ("value",)

    def __init__(self, value: bytes) -> None:
        self.value = value


def build(
    schema: RegistrySchema, resolve: Callable[[RegistrySchema], Named], validate: bool
) -> Callable[[bytes], Any]:
    """A function from a JSON Schema payload (no frame) to its JSON value.

    :raises jsonschema.ValidationError: from the function, when ``validate`` and it fails.
    """
    if not validate:
        return lambda payload: parse_value(_Payload(payload))
    jsonschema = require("jsonschema", "schema_registry validate_json", "registry")
    referencing = require("referencing", "schema_registry validate_json", "registry")
    # A schema without "$schema" is read as the draft the validator defaults to.
    draft = require("referencing.jsonschema", "schema_registry validate_json", "registry")
    resources = [
        (
            name,
            referencing.Resource.from_contents(
                json.loads(item.text), default_specification=draft.DRAFT202012
            ),
        )
        for name, item in resolve(schema)
    ]
    registry = referencing.Registry().with_resources(resources)
    contents = json.loads(schema.text)
    validator_class = jsonschema.validators.validator_for(contents)
    validator = validator_class(contents, registry=registry)

    def decode(payload: bytes) -> Any:
        value = parse_value(_Payload(payload))
        validator.validate(value)
        return value

    return decode
