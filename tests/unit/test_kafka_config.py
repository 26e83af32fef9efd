"""_kafka_config.py: librdkafka keys become kafka-python keywords; a few settings are forced."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from kafka import KafkaConsumer

from kafkasse_wsgi import _kafka_config as kafka_config
from kafkasse_wsgi._kafka_config import (
    DEFAULT_BOOTSTRAP_SERVERS,
    DEFAULT_FETCH_MAX_BYTES,
    DEFAULT_FETCH_MAX_WAIT_MS,
    DEFAULT_MAX_PARTITION_FETCH_BYTES,
    DEFAULT_METADATA_MAX_AGE_MS,
    DEFAULT_REQUEST_TIMEOUT_MS,
    FORCED,
    IGNORED_LIBRDKAFKA_KEYS,
    LIBRDKAFKA_KEYS,
    consumer_config,
    translate,
)
from kafkasse_wsgi.errors import ConfigurationError


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        pytest.param(
            {"metadata.broker.list": "k1:9092,k2:9092"},
            {"bootstrap_servers": ["k1:9092", "k2:9092"]},
            id="broker-list-split",
        ),
        pytest.param(
            {"bootstrap.servers": " k1:9092 , ,k2:9092 "},
            {"bootstrap_servers": ["k1:9092", "k2:9092"]},
            id="bootstrap-servers-spaces-and-empties",
        ),
        pytest.param(
            {"bootstrap_servers": ["k1:9092"]},
            {"bootstrap_servers": ["k1:9092"]},
            id="kafka-python-list-kept",
        ),
        pytest.param({"client.id": "me"}, {"client_id": "me"}, id="client-id"),
        pytest.param(
            {"security.protocol": "sasl_ssl", "sasl.mechanisms": "plain"},
            {"security_protocol": "SASL_SSL", "sasl_mechanism": "PLAIN"},
            id="security-upper-cased",
        ),
        pytest.param(
            {"sasl.username": "u", "sasl.password": "p"},
            {"sasl_plain_username": "u", "sasl_plain_password": "p"},
            id="sasl-credentials",
        ),
        pytest.param(
            {"ssl.ca.location": "/ca", "ssl.certificate.location": "/c", "ssl.key.location": "/k"},
            {"ssl_cafile": "/ca", "ssl_certfile": "/c", "ssl_keyfile": "/k"},
            id="ssl-files",
        ),
        pytest.param(
            {"fetch.wait.max.ms": 50, "fetch.message.max.bytes": 1024},
            {"fetch_max_wait_ms": 50, "max_partition_fetch_bytes": 1024},
            id="fetch",
        ),
        pytest.param(
            {"auto.offset.reset": "smallest"}, {"auto_offset_reset": "earliest"}, id="smallest"
        ),
        pytest.param(
            {"auto.offset.reset": "beginning"}, {"auto_offset_reset": "earliest"}, id="beginning"
        ),
        pytest.param(
            {"auto.offset.reset": "largest"}, {"auto_offset_reset": "latest"}, id="largest"
        ),
        pytest.param({"auto.offset.reset": "end"}, {"auto_offset_reset": "latest"}, id="end"),
        pytest.param(
            {"auto_offset_reset": "earliest"}, {"auto_offset_reset": "earliest"}, id="native-kept"
        ),
        pytest.param(
            {"default_topic_config": {"auto.offset.reset": "smallest"}},
            {"auto_offset_reset": "earliest"},
            id="default-topic-config",
        ),
        pytest.param(
            {"default.topic.config": {"auto.offset.reset": "largest"}},
            {"auto_offset_reset": "latest"},
            id="default-topic-config-dotted",
        ),
        pytest.param(
            {"request_timeout_ms": 1000, "max_poll_records": 10},
            {"request_timeout_ms": 1000, "max_poll_records": 10},
            id="kafka-python-keywords-pass-through",
        ),
        pytest.param(
            {"group.id": "g", "enable.auto.commit": True},
            {"group_id": "g", "enable_auto_commit": True},
            id="node-mandatory-keys-translated",
        ),
        pytest.param({}, {}, id="empty"),
    ],
)
def test_translate(given: dict[str, Any], expected: dict[str, Any]) -> None:
    assert translate(given) == expected


def test_every_translated_key_is_a_kafka_python_keyword() -> None:
    unknown = set(LIBRDKAFKA_KEYS.values()) - set(KafkaConsumer.DEFAULT_CONFIG)
    assert unknown == set()


def test_forced_and_default_keys_are_kafka_python_keywords() -> None:
    config = consumer_config({}, "r")
    assert set(config) - set(KafkaConsumer.DEFAULT_CONFIG) == set()


@pytest.mark.parametrize("key", ["no.such.setting", "bogus", "group-id"])
def test_translate_unknown_key_raises_configuration_error_naming_it(key: str) -> None:
    with pytest.raises(ConfigurationError, match=f"unknown consumer setting '{key}'"):
        translate({"bootstrap_servers": "k:9092", key: 1})


def test_translate_unknown_key_inside_default_topic_config_is_named() -> None:
    with pytest.raises(ConfigurationError, match=r"'topic\.bogus'"):
        translate({"default_topic_config": {"topic.bogus": 1}})


@pytest.mark.parametrize("value", ["auto.offset.reset=smallest", None, ["x"]])
def test_translate_default_topic_config_must_be_a_mapping(value: Any) -> None:
    with pytest.raises(ConfigurationError, match="default_topic_config'\\] must be a mapping"):
        translate({"default_topic_config": value})


@pytest.fixture
def nothing_reported_yet(monkeypatch: pytest.MonkeyPatch) -> None:
    """As in a fresh process: no ignored key logged yet."""
    monkeypatch.setattr(kafka_config, "_reported_ignored", set(), raising=False)


def test_translate_drops_librdkafka_only_keys_and_logs_them(
    caplog: pytest.LogCaptureFixture, nothing_reported_yet: None
) -> None:
    config = {key: True for key in IGNORED_LIBRDKAFKA_KEYS} | {"client.id": "c"}
    with caplog.at_level(logging.INFO, logger="kafkasse_wsgi._kafka_config"):
        assert translate(config) == {"client_id": "c"}
    assert "event_cb" in caplog.text
    assert "statistics.interval.ms" in caplog.text


def test_ignored_librdkafka_keys_are_logged_once_per_process_not_per_stream(
    caplog: pytest.LogCaptureFixture, nothing_reported_yet: None
) -> None:
    config = {"statistics.interval.ms": 1000, "client.id": "c"}
    with caplog.at_level(logging.INFO, logger="kafkasse_wsgi._kafka_config"):
        for request_id in ("r1", "r2", "r3"):  # three streams of one app
            consumer_config(config, request_id)
        translate({"event_cb": None})  # a key not reported yet is, once
        translate({"event_cb": None})
    lines = [r.getMessage() for r in caplog.records if "ignoring" in r.getMessage()]
    assert len(lines) == 2, lines
    assert "statistics.interval.ms" in lines[0] and "event_cb" in lines[1]


def test_consumer_config_defaults() -> None:
    assert consumer_config({}, "req-1") == {
        "bootstrap_servers": DEFAULT_BOOTSTRAP_SERVERS,
        "client_id": "KafkaSSE-req-1",
        "request_timeout_ms": DEFAULT_REQUEST_TIMEOUT_MS,
        "metrics_enabled": False,
        "fetch_max_wait_ms": DEFAULT_FETCH_MAX_WAIT_MS,
        "metadata_max_age_ms": DEFAULT_METADATA_MAX_AGE_MS,
        "fetch_max_bytes": DEFAULT_FETCH_MAX_BYTES,
        "max_partition_fetch_bytes": DEFAULT_MAX_PARTITION_FETCH_BYTES,
        "group_id": None,
        "enable_auto_commit": False,
        "allow_auto_create_topics": False,
        "receive_message_max_bytes": DEFAULT_FETCH_MAX_BYTES + DEFAULT_MAX_PARTITION_FETCH_BYTES,
        "auto_offset_reset": "none",
    }


def test_receive_limit_follows_the_fetch_sizes() -> None:
    """Regression: kafka-python 2.x dropped the connection on every fetch response over its
    1 MB default frame limit (a 3-partition fetch is ~3 MB) and retried forever slower."""
    config = consumer_config(
        {"fetch_max_bytes": 4_000_000, "max_partition_fetch_bytes": 500_000}, "r"
    )
    assert config["receive_message_max_bytes"] == 4_500_000
    config = consumer_config({"receive_message_max_bytes": 9_000_000}, "r")
    assert config["receive_message_max_bytes"] == 9_000_000


def test_consumer_config_user_settings_override_defaults() -> None:
    config = consumer_config(
        {"metadata.broker.list": "k:1", "client.id": "mine", "auto_offset_reset": "latest"}, "r"
    )
    assert config["bootstrap_servers"] == ["k:1"]
    assert config["client_id"] == "mine"


def test_consumer_never_resets_offsets_itself() -> None:
    """kafka-python's reset is silent: with "none" it raises and the pump applies
    resume_policy (which a user's auto_offset_reset sets, see Options), telling the client."""
    for given in ({}, {"auto_offset_reset": "latest"}, {"auto.offset.reset": "smallest"}):
        assert consumer_config(given, "r")["auto_offset_reset"] == "none"


@pytest.mark.parametrize(
    "given",
    [
        pytest.param({"group_id": "mine"}, id="group-id"),
        pytest.param({"group.id": "KafkaSSE-x"}, id="node-group-id"),
        pytest.param({"enable_auto_commit": True}, id="auto-commit"),
        pytest.param({"enable.auto.commit": True}, id="node-auto-commit"),
        pytest.param({"allow_auto_create_topics": True}, id="auto-create"),
    ],
)
def test_consumer_config_forces_no_group_no_commit_no_auto_create(
    given: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="kafkasse_wsgi._kafka_config"):
        config = consumer_config(given, "r")
    assert {key: config[key] for key in FORCED} == {
        "group_id": None,
        "enable_auto_commit": False,
        "allow_auto_create_topics": False,
    }
    assert "cannot be changed; forced" in caplog.text


def test_consumer_config_setting_forced_values_to_themselves_does_not_warn(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="kafkasse_wsgi._kafka_config"):
        consumer_config({"group_id": None, "enable.auto.commit": False}, "r")
    assert caplog.records == []


def test_consumer_config_does_not_mutate_its_input() -> None:
    given = {"metadata.broker.list": "k:1", "default_topic_config": {"auto.offset.reset": "end"}}
    snapshot = {"metadata.broker.list": "k:1", "default_topic_config": {"auto.offset.reset": "end"}}
    consumer_config(given, "r")
    assert given == snapshot


def test_consumer_config_unknown_key_raises() -> None:
    with pytest.raises(ConfigurationError, match="'nope'"):
        consumer_config({"nope": 1}, "r")


@pytest.mark.parametrize(
    ("given", "expected"), [("2.6", (2, 6)), ("2.6.0", (2, 6, 0)), ([2, 6], (2, 6))]
)
def test_api_version_from_strings_and_json_lists_becomes_a_tuple(
    given: object, expected: tuple
) -> None:
    """Regression: a JSON config's [2, 6] reached kafka-python as a list and every stream
    answered 500."""
    assert consumer_config({"api_version": given}, "r")["api_version"] == expected


def test_api_version_that_is_no_version_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="api_version"):
        translate({"api_version": "two"})
