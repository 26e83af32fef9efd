"""Consumer settings: our defaults, the user's ``kafka_config``, and the few we force.

Pure: no network. A Node KafkaSSE config (librdkafka-style dotted keys such as
``metadata.broker.list`` or ``default_topic_config: {"auto.offset.reset": ...}``) carries
over: its keys are translated to kafka-python's ``KafkaConsumer`` keywords. A key neither
library knows is a :class:`~kafkasse_wsgi.errors.ConfigurationError` that names it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from .errors import ConfigurationError

log = logging.getLogger(__name__)

DEFAULT_BOOTSTRAP_SERVERS = "localhost:9092"
DEFAULT_REQUEST_TIMEOUT_MS = 30_000
DEFAULT_FETCH_MAX_WAIT_MS = 5_000
DEFAULT_METADATA_MAX_AGE_MS = 15_000
#: One fetch response, over all its partitions. kafka-python's 50 MB default is what a
#: stream could hold in fetched records (n partitions x 1 MB each, up to 50 MB) besides its
#: queue; 1 MB is still ~3,000 events of 300 bytes per round trip, and kafka-python moves
#: each partition it got data from to the end of the next request, so none starves.
DEFAULT_FETCH_MAX_BYTES = 1_048_576
#: One partition's share of a fetch (kafka-python's default). Either limit is passed by a
#: single record batch larger than it, so that a big message is never stuck.
DEFAULT_MAX_PARTITION_FETCH_BYTES = 1_048_576

#: librdkafka name → kafka-python keyword.
LIBRDKAFKA_KEYS: dict[str, str] = {
    "metadata.broker.list": "bootstrap_servers",
    "bootstrap.servers": "bootstrap_servers",
    "client.id": "client_id",
    "security.protocol": "security_protocol",
    "sasl.mechanism": "sasl_mechanism",
    "sasl.mechanisms": "sasl_mechanism",
    "sasl.username": "sasl_plain_username",
    "sasl.password": "sasl_plain_password",
    "sasl.kerberos.service.name": "sasl_kerberos_service_name",
    "ssl.ca.location": "ssl_cafile",
    "ssl.certificate.location": "ssl_certfile",
    "ssl.key.location": "ssl_keyfile",
    "ssl.key.password": "ssl_password",
    "ssl.crl.location": "ssl_crlfile",
    "ssl.cipher.suites": "ssl_ciphers",
    "fetch.wait.max.ms": "fetch_max_wait_ms",
    "fetch.min.bytes": "fetch_min_bytes",
    "fetch.max.bytes": "fetch_max_bytes",
    "fetch.message.max.bytes": "max_partition_fetch_bytes",
    "max.partition.fetch.bytes": "max_partition_fetch_bytes",
    "request.timeout.ms": "request_timeout_ms",
    "socket.timeout.ms": "request_timeout_ms",
    "reconnect.backoff.ms": "reconnect_backoff_ms",
    "reconnect.backoff.max.ms": "reconnect_backoff_max_ms",
    "retry.backoff.ms": "retry_backoff_ms",
    "metadata.max.age.ms": "metadata_max_age_ms",
    "topic.metadata.refresh.interval.ms": "metadata_max_age_ms",
    "connections.max.idle.ms": "connections_max_idle_ms",
    "socket.receive.buffer.bytes": "receive_buffer_bytes",
    "socket.send.buffer.bytes": "send_buffer_bytes",
    "check.crcs": "check_crcs",
    "isolation.level": "isolation_level",
    "auto.offset.reset": "auto_offset_reset",
    # The Node original's "mandatory" settings: a copied config may carry them. Accepted
    # here so they reach FORCED (and its warning) instead of failing as unknown keys.
    "group.id": "group_id",
    "enable.auto.commit": "enable_auto_commit",
    "allow.auto.create.topics": "allow_auto_create_topics",
}

#: librdkafka settings with no kafka-python counterpart, accepted and ignored (with a log line).
IGNORED_LIBRDKAFKA_KEYS = frozenset(
    {
        "event_cb",
        "api.version.request",
        "statistics.interval.ms",
        "queued.min.messages",
        "queued.max.messages.kbytes",
        "socket.keepalive.enable",
        "log.connection.close",
        "enable.partition.eof",
        "log_level",
        "debug",
    }
)

#: ``auto_offset_reset`` → the ``resume_policy.too_old`` action it means.
AUTO_OFFSET_RESET_ACTIONS = {"earliest": "earliest", "latest": "latest", "none": "error"}

#: What we force, whatever the user says: no consumer group, no commits, ever.
FORCED: dict[str, Any] = {
    "group_id": None,
    "enable_auto_commit": False,
    # A metadata request for a missing topic must never create it.
    "allow_auto_create_topics": False,
}


def _known_consumer_keys() -> frozenset[str]:
    from kafka import KafkaConsumer  # imported lazily: this module stays import-light

    return frozenset(KafkaConsumer.DEFAULT_CONFIG)


def translate(kafka_config: Mapping[str, Any]) -> dict[str, Any]:
    """The user's settings with librdkafka keys renamed; unknown keys raise."""
    known = _known_consumer_keys()
    translated: dict[str, Any] = {}
    ignored: list[str] = []
    for key, value in kafka_config.items():
        if key in ("default_topic_config", "default.topic.config"):
            if not isinstance(value, Mapping):
                raise ConfigurationError(f"kafka_config[{key!r}] must be a mapping")
            translated.update(translate(value))
            continue
        if key in IGNORED_LIBRDKAFKA_KEYS:
            ignored.append(key)
            continue
        name = LIBRDKAFKA_KEYS.get(key, key)
        if name not in known:
            raise ConfigurationError(
                f"kafka_config: unknown consumer setting {key!r} "
                f"(neither a kafka-python KafkaConsumer keyword nor a translated librdkafka key)"
            )
        translated[name] = _convert(name, value)
    _report_ignored(ignored)
    return translated


#: The ignored keys already logged: every stream translates its app's settings again, and
#: the line says something once. (A subset of IGNORED_LIBRDKAFKA_KEYS: bounded.)
_reported_ignored: set[str] = set()


def _report_ignored(keys: list[str]) -> None:
    new = sorted(set(keys) - _reported_ignored)
    if new:
        _reported_ignored.update(new)
        log.info("kafka_config: ignoring librdkafka-only settings %s", ", ".join(new))


def _convert(name: str, value: Any) -> Any:
    if name == "bootstrap_servers" and isinstance(value, str):
        return [server.strip() for server in value.split(",") if server.strip()]
    if name == "auto_offset_reset" and value in ("smallest", "beginning"):
        return "earliest"
    if name == "auto_offset_reset" and value in ("largest", "end"):
        return "latest"
    if name == "api_version" and isinstance(value, str):
        # "2.6" or "2.6.0", as librdkafka's broker.version.fallback is written
        try:
            return tuple(int(part) for part in value.split("."))
        except ValueError:
            raise ConfigurationError(
                f"kafka_config: api_version {value!r} is not like 2.6.0"
            ) from None
    if name == "api_version" and isinstance(value, list):
        return tuple(value)  # from JSON configuration files
    if name == "sasl_mechanism" and isinstance(value, str):
        return value.upper()
    if name == "security_protocol" and isinstance(value, str):
        return value.upper()
    return value


def consumer_config(kafka_config: Mapping[str, Any], request_id: str) -> dict[str, Any]:
    """Everything ``KafkaConsumer(**config)`` gets for one stream."""
    config: dict[str, Any] = {
        "bootstrap_servers": DEFAULT_BOOTSTRAP_SERVERS,
        "client_id": f"KafkaSSE-{request_id}",
        # kafka-python's 305 s default would hold a request that long on a lost broker.
        "request_timeout_ms": DEFAULT_REQUEST_TIMEOUT_MS,
        # Per-consumer metrics cost memory and CPU on every stream; opt in if you read them.
        "metrics_enabled": False,
        # The broker answers a fetch as soon as a record arrives; only idle streams wait
        # this long, and a longer wait is fewer empty round trips per idle stream.
        "fetch_max_wait_ms": DEFAULT_FETCH_MAX_WAIT_MS,
        # How soon partitions added to a topic join its streams (kafka-python: 300 s). Worst
        # case with the defaults: this, plus the poll waiting then (idle_delay_ms), plus the
        # fetch in flight (fetch_max_wait_ms): 25 s. Costs one small request per interval.
        "metadata_max_age_ms": DEFAULT_METADATA_MAX_AGE_MS,
        # What a stream holds in fetched records besides its queue (see the constants).
        "fetch_max_bytes": DEFAULT_FETCH_MAX_BYTES,
        "max_partition_fetch_bytes": DEFAULT_MAX_PARTITION_FETCH_BYTES,
    }
    config.update(translate(kafka_config))
    # kafka-python 2.x drops a connection whose fetch response is larger than this (1 MB by
    # default), but one fetch may carry fetch_max_bytes of records plus a partition's worth.
    config.setdefault(
        "receive_message_max_bytes",
        config["fetch_max_bytes"] + config["max_partition_fetch_bytes"],
    )
    overridden = sorted(key for key in FORCED if key in config and config[key] != FORCED[key])
    if overridden:
        log.warning("kafka_config: %s cannot be changed; forced", ", ".join(overridden))
    config.update(FORCED)
    # kafka-python would move a consumer whose next offset is gone (retention) silently;
    # "none" makes it raise, and the pump applies resume_policy and tells the client. A
    # user's auto_offset_reset became resume_policy.too_old in Options.
    config["auto_offset_reset"] = "none"
    return config
