"""The checks of :class:`~kafkasse_wsgi.options.Options` that involve several fields, run
once every field passed its own check (``_options/fields.py``).

Each rule reads the options being built and returns the fields it settles (a value made
canonical, one field derived from another), or raises
:class:`~kafkasse_wsgi.errors.ConfigurationError` naming the fields that disagree.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..errors import ConfigurationError
from .resume_policy import ResumePolicy

if TYPE_CHECKING:
    from ..options import Options

#: A rule: the options being built → the fields it settles, by name.
Rule = Callable[["Options"], dict[str, Any]]


def too_old_from_auto_offset_reset(options: Options) -> dict[str, Any]:
    """kafka_config's ``auto_offset_reset`` says where to go when the next offset is gone:
    that is ``resume_policy.too_old`` here (kafka-python itself never resets: it would
    do it silently). It fills in the default; a different explicit ``too_old`` is an error.
    """
    from .._kafka_config import AUTO_OFFSET_RESET_ACTIONS as actions
    from .._kafka_config import translate

    translated = translate(options.kafka_config)  # a mistyped key fails here, not per request
    if "auto_offset_reset" not in translated:
        return {}
    value = translated["auto_offset_reset"]
    action = actions.get(value) if isinstance(value, str) else None
    if action is None:
        raise ConfigurationError(
            f"kafka_config: auto_offset_reset must be one of {', '.join(actions)}"
        )
    too_old = options.resume_policy.too_old
    if too_old == action:
        return {}
    if too_old != ResumePolicy.too_old:
        raise ConfigurationError(
            f"kafka_config auto_offset_reset={value!r} and resume_policy.too_old="
            f"{too_old!r} disagree; set resume_policy only"
        )
    return {"resume_policy": dataclasses.replace(options.resume_policy, too_old=action)}


def one_spelling_of_timestamp_ids(options: Options) -> dict[str, Any]:
    """``use_timestamp_for_id`` and ``id_mode="timestamp"``: two spellings of one mode, both
    read the same afterwards."""
    if options.use_timestamp_for_id and options.id_mode == "cursor":
        raise ConfigurationError(
            "use_timestamp_for_id=True asks for timestamp ids, id_mode='cursor' for "
            "cursor ids: set one of them"
        )
    if options.use_timestamp_for_id or options.id_mode == "timestamp":
        return {"id_mode": "timestamp", "use_timestamp_for_id": True}
    return {}


def token_settings(options: Options) -> dict[str, Any]:
    """The ``jwt_*`` options only mean something with ``jwt_keys``: checked together, the key
    set built once (``replace()`` then reuses it)."""
    tokens_configured = options.jwt_keys is not None or any(
        getattr(options, name) is not None
        for name in ("jwt_algorithms", "jwt_audience", "jwt_issuer")
    )
    if not tokens_configured:
        if options.jwt_required:
            raise ConfigurationError("jwt_required needs jwt_keys to verify tokens with")
        return {"jwt_required": False}
    from .. import tokens

    if options.jwt_keys is None:
        raise ConfigurationError("jwt_algorithms, jwt_audience and jwt_issuer need jwt_keys")
    settled: dict[str, Any] = {}
    if not isinstance(options.jwt_keys, tokens.KeySet):
        settled["jwt_keys"] = tokens.KeySet(options.jwt_keys)
    if options.jwt_required is None:
        settled["jwt_required"] = True
    algorithms = options.jwt_algorithms
    if algorithms is not None:
        if isinstance(algorithms, str):
            algorithms = [a.strip() for a in algorithms.split(",") if a.strip()]
        algorithms = tuple(algorithms)
        unknown = [a for a in algorithms if a not in tokens.KNOWN_ALGORITHMS]
        if unknown or not algorithms:
            raise ConfigurationError(
                f"jwt_algorithms: not accepted: {', '.join(map(repr, unknown)) or 'empty'}; "
                f"known: {', '.join(sorted(tokens.KNOWN_ALGORITHMS))} (never 'none')"
            )
        settled["jwt_algorithms"] = algorithms
    audience = options.jwt_audience
    if audience is not None:
        if isinstance(audience, str):
            audience = [audience]
        audience = tuple(audience)
        if not audience or not all(isinstance(a, str) and a for a in audience):
            raise ConfigurationError("jwt_audience must be a string or a list of strings")
        settled["jwt_audience"] = audience
    if options.jwt_issuer is not None and not (
        isinstance(options.jwt_issuer, str) and options.jwt_issuer
    ):
        raise ConfigurationError("jwt_issuer must be a non-empty string")
    if not tokens.is_topics_claim_name(options.jwt_topics_claim):
        raise ConfigurationError("jwt_topics_claim must be a claim name")
    if not tokens.is_cookie_name(options.jwt_cookie_name):
        raise ConfigurationError("jwt_cookie_name must be a cookie name (RFC 6265 token)")
    return settled


def registry_deserializer(options: Options) -> dict[str, Any]:
    """The registry's deserializer becomes the deserializer (the process's one for this
    registry, so hubs stay shared), unless the application set its own. Nothing is
    fetched here: a request never waits on the registry before its stream."""
    if options.schema_registry is None:
        if getattr(options.deserializer, "is_schema_registry", False):
            return {"deserializer": None}  # replace(schema_registry=None)
        return {}
    from .._extras import MissingExtraError
    from ..schema_registry import deserializer_for

    try:
        deserializer = deserializer_for(options.schema_registry)
    except MissingExtraError as missing:  # a setting that cannot work: fails at start-up
        raise ConfigurationError(str(missing)) from None
    settled: dict[str, Any] = {"schema_registry": deserializer.config}
    if options.deserializer is None or getattr(options.deserializer, "is_schema_registry", False):
        settled["deserializer"] = deserializer
    return settled


#: Run in this order: the first that fails names the problem.
RULES: tuple[Rule, ...] = (
    too_old_from_auto_offset_reset,
    one_spelling_of_timestamp_ids,
    token_settings,
    registry_deserializer,
)
