"""options.py: defaults, validation that names the bad option, and topic allowance."""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import pytest

from kafkasse_wsgi.errors import ConfigurationError
from kafkasse_wsgi.options import KAFKA_EVENTS, Options, ResumePolicy

ENVIRON: dict[str, Any] = {"PATH_INFO": "/t"}


def test_defaults() -> None:
    options = Options()
    assert options.kafka_config == {}
    assert options.allowed_topics is None
    assert options.logger is None
    assert options.disable_sse_formatting is False
    assert options.deserializer is None
    assert options.filterer is None
    assert options.use_timestamp_for_id is False
    assert options.kafka_event_handlers == {}
    assert options.connect_error_handler is None
    assert options.idle_delay_ms == Options.DEFAULT_IDLE_DELAY_MS == 5000
    assert options.heartbeat_interval_s == Options.DEFAULT_HEARTBEAT_INTERVAL_S
    assert options.queue_size == Options.DEFAULT_QUEUE_SIZE
    assert options.queue_bytes == Options.DEFAULT_QUEUE_BYTES == 1_048_576
    assert options.batch_size == Options.DEFAULT_BATCH_SIZE
    assert options.retry_ms is None
    assert options.resume_policy == ResumePolicy("earliest", "latest")


def test_options_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        Options().queue_size = 3  # type: ignore[misc]


def test_replace_returns_a_new_validated_value() -> None:
    options = Options()
    assert options.replace(queue_size=8).queue_size == 8
    assert options.queue_size == Options.DEFAULT_QUEUE_SIZE
    with pytest.raises(ConfigurationError, match="queue_size"):
        options.replace(queue_size=0)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("kafka_config", "bootstrap_servers=k"),
        ("kafka_config", None),
        ("allowed_topics", [""]),
        ("allowed_topics", ["a", 5]),
        ("allowed_topics", 5),
        ("allowed_topics", object()),
        ("logger", "kafkasse"),
        ("disable_sse_formatting", "false"),
        ("disable_sse_formatting", 1),
        ("use_timestamp_for_id", "yes"),
        ("deserializer", "json"),
        ("filterer", 1),
        ("connect_error_handler", {}),
        ("kafka_event_handlers", [("message", print)]),
        ("kafka_event_handlers", {"nope": print}),
        ("kafka_event_handlers", {"message": "print"}),
        ("idle_delay_ms", -1),
        ("idle_delay_ms", 1.5),
        ("idle_delay_ms", True),
        ("idle_delay_ms", "100"),
        ("idle_delay_ms", None),
        ("heartbeat_interval_s", 0),
        ("heartbeat_interval_s", -1.0),
        ("heartbeat_interval_s", True),
        ("heartbeat_interval_s", "15"),
        ("heartbeat_interval_s", float("nan")),
        ("heartbeat_interval_s", float("inf")),
        ("queue_size", 0),
        ("queue_size", 2.0),
        ("queue_bytes", 100),
        ("queue_bytes", "1MB"),
        ("batch_size", 0),
        ("batch_size", False),
        ("retry_ms", -1),
        ("retry_ms", 1.5),
        ("resume_policy", "earliest"),
        ("resume_policy", {"too_old": "oldest"}),
        ("resume_policy", {"too_new": None}),
        ("resume_policy", {"too_young": "latest"}),
    ],
)
def test_bad_option_raises_configuration_error_naming_it(name: str, value: Any) -> None:
    with pytest.raises(ConfigurationError, match=name) as caught:
        Options(**{name: value})
    assert caught.value.status == 500


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("idle_delay_ms", 0),
        ("heartbeat_interval_s", 0.01),
        ("heartbeat_interval_s", 30),
        ("queue_size", 1),
        ("batch_size", 1),
        ("retry_ms", 0),
        ("retry_ms", None),
        ("logger", logging.getLogger("x")),
        ("logger", logging.LoggerAdapter(logging.getLogger("x"), {})),
        ("disable_sse_formatting", True),
        ("use_timestamp_for_id", True),
        ("deserializer", lambda message: message),
        ("connect_error_handler", lambda error, environ, start_response: []),
    ],
)
def test_good_option_is_kept(name: str, value: Any) -> None:
    assert getattr(Options(**{name: value}), name) is value


def test_every_known_kafka_event_handler_is_accepted() -> None:
    handlers = {event: print for event in KAFKA_EVENTS}
    assert Options(kafka_event_handlers=handlers).kafka_event_handlers == handlers


def test_kafka_event_handlers_none_becomes_empty_mapping() -> None:
    """Regression: None was accepted but kept, and every stream called ``None.get()``."""
    assert Options(kafka_event_handlers=None).kafka_event_handlers == {}  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        pytest.param(["a", "b"], ("a", "b"), id="list"),
        pytest.param(("a",), ("a",), id="tuple"),
        pytest.param("a, b,,", ("a", "b"), id="comma-string"),
        pytest.param(iter(["a", "b"]), ("a", "b"), id="one-shot-iterator"),
        pytest.param([], (), id="empty-allows-nothing"),
    ],
)
def test_allowed_topics_become_a_tuple(given: Any, expected: tuple[str, ...]) -> None:
    assert Options(allowed_topics=given).allowed_topics == expected


def test_resume_policy_from_mapping() -> None:
    options = Options(resume_policy={"too_old": "error"})  # type: ignore[arg-type]
    assert options.resume_policy == ResumePolicy(too_old="error", too_new="latest")


@pytest.mark.parametrize(
    ("kafka_config", "too_old"),
    [
        pytest.param({"auto_offset_reset": "latest"}, "latest", id="latest"),
        pytest.param({"auto_offset_reset": "earliest"}, "earliest", id="earliest"),
        pytest.param({"auto_offset_reset": "none"}, "error", id="none-is-error"),
        pytest.param(
            {"default_topic_config": {"auto.offset.reset": "largest"}}, "latest", id="node"
        ),
    ],
)
def test_auto_offset_reset_in_kafka_config_is_the_too_old_policy(
    kafka_config: dict[str, Any], too_old: str
) -> None:
    options = Options(kafka_config=kafka_config)
    assert options.resume_policy == ResumePolicy(too_old=too_old, too_new="latest")
    assert options.replace(batch_size=10).resume_policy == options.resume_policy


def test_auto_offset_reset_that_contradicts_resume_policy_is_refused() -> None:
    assert Options(  # the same thing said twice is fine
        kafka_config={"auto_offset_reset": "latest"},
        resume_policy={"too_old": "latest"},  # type: ignore[arg-type]
    ).resume_policy == ResumePolicy(too_old="latest")
    with pytest.raises(ConfigurationError, match="auto_offset_reset='latest' and resume_policy"):
        Options(
            kafka_config={"auto_offset_reset": "latest"},
            resume_policy={"too_old": "error"},  # type: ignore[arg-type]
        )
    with pytest.raises(ConfigurationError, match="auto_offset_reset must be one of"):
        Options(kafka_config={"auto_offset_reset": "oldest"})


@pytest.mark.parametrize("too_old", ["earliest", "latest", "error"])
@pytest.mark.parametrize("too_new", ["earliest", "latest", "error"])
def test_resume_policy_accepts_every_action(too_old: str, too_new: str) -> None:
    policy = ResumePolicy(too_old=too_old, too_new=too_new)
    assert (policy.too_old, policy.too_new) == (too_old, too_new)


@pytest.mark.parametrize("field", ["too_old", "too_new"])
@pytest.mark.parametrize("bad", ["EARLIEST", "", None, "skip"])
def test_resume_policy_rejects_unknown_action_naming_the_field(field: str, bad: Any) -> None:
    with pytest.raises(ConfigurationError, match=f"resume_policy.{field} must be one of"):
        ResumePolicy(**{field: bad})


# -- from_any --------------------------------------------------------------------------------


def test_from_any_none_is_defaults() -> None:
    assert Options.from_any(None) == Options()


def test_from_any_returns_an_options_as_it_is() -> None:
    options = Options(queue_size=2)
    assert Options.from_any(options) is options


def test_from_any_builds_from_a_dict() -> None:
    options = Options.from_any({"allowed_topics": ["a"], "idle_delay_ms": 5})
    assert options == Options(allowed_topics=("a",), idle_delay_ms=5)


def test_from_any_validates_the_dict() -> None:
    with pytest.raises(ConfigurationError, match="batch_size"):
        Options.from_any({"batch_size": 0})


def test_from_any_names_every_unknown_option_sorted() -> None:
    with pytest.raises(ConfigurationError, match="unknown option\\(s\\): allowedTopics, zzz"):
        Options.from_any({"zzz": 1, "allowedTopics": ["a"], "queue_size": 1})


def test_from_any_does_not_take_class_constants_as_options() -> None:
    with pytest.raises(ConfigurationError, match="DEFAULT_QUEUE_SIZE"):
        Options.from_any({"DEFAULT_QUEUE_SIZE": 1})


@pytest.mark.parametrize("value", [5, "queue_size", ["queue_size"]])
def test_from_any_rejects_what_is_not_options_or_a_mapping(value: Any) -> None:
    with pytest.raises(ConfigurationError, match="options must be an Options, a mapping or None"):
        Options.from_any(value)


# -- is_topic_allowed ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("topic", "allowed"),
    [
        ("edits", True),
        ("a__b", True),
        ("connect-configs-archive", True),
        ("changelog", True),
        ("__consumer_offsets", False),
        ("__transaction_state", False),
        ("__anything", False),
        ("_single_underscore", False),
        ("_schemas", False),
        ("_confluent-telemetry", False),
        ("connect-configs", False),
        ("connect-offsets", False),
        ("connect-status", False),
        ("app-store-changelog", False),
        ("app-by-key-repartition", False),
    ],
)
def test_no_allowed_topics_allows_all_but_the_ecosystems_own(topic: str, allowed: bool) -> None:
    assert Options().is_topic_allowed(topic, ENVIRON) is allowed


@pytest.mark.parametrize(
    ("topic", "allowed"),
    [("a", True), ("b", True), ("c", False), ("A", False), ("__consumer_offsets", True)],
)
def test_allowed_topics_list_allows_exactly_its_names(topic: str, allowed: bool) -> None:
    options = Options(allowed_topics=["a", "b", "__consumer_offsets"])
    assert options.is_topic_allowed(topic, ENVIRON) is allowed


def test_empty_allowed_topics_allows_nothing() -> None:
    assert Options(allowed_topics=[]).is_topic_allowed("a", ENVIRON) is False


def test_allowed_topics_callable_decides_per_request() -> None:
    calls: list[tuple[Any, str]] = []

    def allow(environ: dict[str, Any], topic: str) -> Any:
        calls.append((environ, topic))
        return 1 if environ.get("HTTP_X_USER") == "admin" else 0

    options = Options(allowed_topics=allow)
    assert options.allowed_topics is allow
    assert options.is_topic_allowed("t", {"HTTP_X_USER": "admin"}) is True
    assert options.is_topic_allowed("t", {}) is False
    assert calls == [({"HTTP_X_USER": "admin"}, "t"), ({}, "t")]


def test_allowed_topics_callable_may_allow_internal_topics() -> None:
    options = Options(allowed_topics=lambda environ, topic: True)
    assert options.is_topic_allowed("__consumer_offsets", ENVIRON) is True


# -- id_mode -----------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["offset", "timestamp", "cursor"])
def test_id_mode_accepts_each_mode(mode: str) -> None:
    assert Options(id_mode=mode).id_mode == mode


@pytest.mark.parametrize("bad", ["offsets", "Cursor", "", None, 1, True])
def test_id_mode_refuses_anything_else_naming_the_option(bad: Any) -> None:
    with pytest.raises(ConfigurationError, match="id_mode"):
        Options(id_mode=bad)


def test_use_timestamp_for_id_and_timestamp_id_mode_are_one_mode() -> None:
    assert Options(use_timestamp_for_id=True).id_mode == "timestamp"
    assert Options(id_mode="timestamp").use_timestamp_for_id is True
    assert Options().id_mode == "offset" and Options().use_timestamp_for_id is False


def test_timestamp_ids_and_cursor_ids_together_are_refused() -> None:
    with pytest.raises(ConfigurationError, match=r"use_timestamp_for_id.*id_mode"):
        Options(use_timestamp_for_id=True, id_mode="cursor")


def test_a_misspelled_option_names_the_closest_one() -> None:
    """``KafkaSSE(alowed_topics=...)`` said only "unknown option(s): alowed_topics"."""
    from kafkasse_wsgi import KafkaSSE

    with pytest.raises(ConfigurationError) as raised:
        KafkaSSE(alowed_topics=["edits"])
    assert raised.value.message == (
        "unknown option(s): alowed_topics; did you mean allowed_topics?"
    )
    with pytest.raises(ConfigurationError, match="did you mean heartbeat_interval_s for "):
        Options.from_any({"heartbeat_interval": 5, "zzz": 1})
