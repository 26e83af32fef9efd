"""The names ``kafkasse-wsgi serve`` answers to, as they were before the flags were derived
from the ``Options`` field declarations: every flag, ``KAFKASSE_*`` variable and config file
key keeps working under its name, and each flag's text still parses to the same value. A
change here is a change users see: add names, never drop one."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from kafkasse_wsgi._serve import config as serve_config
from kafkasse_wsgi._serve.cli import build_parser

# setting → its flags (aliases and the --no- form of an on/off flag included)
FLAGS = {
    "admin_port": ("--admin-port",),
    "allow_all_topics": ("--allow-all-topics", "--no-allow-all-topics"),
    "allow_filters": ("--allow-filters", "--no-allow-filters"),
    "allowed_topics": ("--allowed-topics",),
    "batch_size": ("--batch-size",),
    "bootstrap_servers": ("--bootstrap-servers",),
    "broker_outage_timeout_s": ("--broker-outage-timeout",),
    "config": ("--config",),
    "cors_origins": ("--cors-origins",),
    "count_private_clients": ("--count-private-clients", "--no-count-private-clients"),
    "disable_sse_formatting": ("--disable-sse-formatting", "--no-disable-sse-formatting"),
    "headers_timeout_s": ("--headers-timeout",),
    "heartbeat_interval_s": ("--heartbeat", "--heartbeat-interval"),
    "host": ("--host",),
    "id_mode": ("--id-mode",),
    "idle_delay_ms": ("--idle-delay-ms",),
    "jwt_algorithms": ("--jwt-algorithms",),
    "jwt_allow_query_token": ("--jwt-allow-query-token", "--no-jwt-allow-query-token"),
    "jwt_audience": ("--jwt-audience",),
    "jwt_cookie_name": ("--jwt-cookie-name",),
    "jwt_issuer": ("--jwt-issuer",),
    "jwt_keys": ("--jwt-jwks", "--jwt-key", "--jwt-keys"),
    "jwt_required": ("--jwt-required", "--no-jwt-required"),
    "jwt_topics_claim": ("--jwt-topics-claim",),
    "kafka_config": ("--kafka-config",),
    "lifetime_jitter": ("--lifetime-jitter",),
    "log_level": ("--log-level",),
    "max_blocked_s": ("--max-blocked",),
    "max_filter_length": ("--max-filter-length",),
    "max_hubs": ("--max-hubs",),
    "max_last_event_id_bytes": ("--max-last-event-id-bytes",),
    "max_partitions": ("--max-partitions",),
    "max_private_consumers": ("--max-private-consumers",),
    "max_stream_lifetime_s": ("--max-stream-lifetime",),
    "max_streams": ("--max-streams",),
    "max_streams_per_client": ("--max-streams-per-client",),
    "max_topics": ("--max-topics",),
    "port": ("--port",),
    "print_config": ("--print-config",),
    "progress_interval_s": ("--progress-interval",),
    "queue_bytes": ("--queue-bytes",),
    "queue_size": ("--queue-size",),
    "reconnect_spread_ms": ("--reconnect-spread-ms",),
    "resume_policy": ("--resume-policy",),
    "retry_ms": ("--retry-ms",),
    "schema_registry": ("--schema-registry",),
    "setup_timeout_s": ("--setup-timeout",),
    "shared_tail": ("--no-shared-tail", "--shared-tail"),
    "tail_batch_interval_ms": ("--tail-batch-interval-ms",),
    "tail_linger_s": ("--tail-linger",),
    "tail_ring_age_s": ("--tail-ring-age",),
    "tail_ring_bytes": ("--tail-ring-bytes",),
    "tail_ring_events": ("--tail-ring-events",),
    "trusted_proxies": ("--trusted-proxies",),
    "use_timestamp_for_id": ("--no-use-timestamp-for-id", "--use-timestamp-for-id"),
    "workers": ("--workers",),
}

# setting → the environment variables that set it
VARIABLES = {
    "admin_port": ("KAFKASSE_ADMIN_PORT",),
    "allow_all_topics": ("KAFKASSE_ALLOW_ALL_TOPICS",),
    "allow_filters": ("KAFKASSE_ALLOW_FILTERS",),
    "allowed_topics": ("KAFKASSE_ALLOWED_TOPICS",),
    "batch_size": ("KAFKASSE_BATCH_SIZE",),
    "bootstrap_servers": ("KAFKASSE_BOOTSTRAP_SERVERS",),
    "broker_outage_timeout_s": (
        "KAFKASSE_BROKER_OUTAGE_TIMEOUT",
        "KAFKASSE_BROKER_OUTAGE_TIMEOUT_S",
    ),
    "cors_origins": ("KAFKASSE_CORS_ORIGINS",),
    "count_private_clients": ("KAFKASSE_COUNT_PRIVATE_CLIENTS",),
    "disable_sse_formatting": ("KAFKASSE_DISABLE_SSE_FORMATTING",),
    "headers_timeout_s": ("KAFKASSE_HEADERS_TIMEOUT", "KAFKASSE_HEADERS_TIMEOUT_S"),
    "heartbeat_interval_s": (
        "KAFKASSE_HEARTBEAT",
        "KAFKASSE_HEARTBEAT_INTERVAL",
        "KAFKASSE_HEARTBEAT_INTERVAL_S",
    ),
    "host": ("KAFKASSE_HOST",),
    "id_mode": ("KAFKASSE_ID_MODE",),
    "idle_delay_ms": ("KAFKASSE_IDLE_DELAY_MS",),
    "jwt_algorithms": ("KAFKASSE_JWT_ALGORITHMS",),
    "jwt_allow_query_token": ("KAFKASSE_JWT_ALLOW_QUERY_TOKEN",),
    "jwt_audience": ("KAFKASSE_JWT_AUDIENCE",),
    "jwt_cookie_name": ("KAFKASSE_JWT_COOKIE_NAME",),
    "jwt_issuer": ("KAFKASSE_JWT_ISSUER",),
    "jwt_keys": ("KAFKASSE_JWT_JWKS", "KAFKASSE_JWT_KEY", "KAFKASSE_JWT_KEYS"),
    "jwt_required": ("KAFKASSE_JWT_REQUIRED",),
    "jwt_topics_claim": ("KAFKASSE_JWT_TOPICS_CLAIM",),
    "lifetime_jitter": ("KAFKASSE_LIFETIME_JITTER",),
    "log_level": ("KAFKASSE_LOG_LEVEL",),
    "max_blocked_s": ("KAFKASSE_MAX_BLOCKED", "KAFKASSE_MAX_BLOCKED_S"),
    "max_filter_length": ("KAFKASSE_MAX_FILTER_LENGTH",),
    "max_hubs": ("KAFKASSE_MAX_HUBS",),
    "max_last_event_id_bytes": ("KAFKASSE_MAX_LAST_EVENT_ID_BYTES",),
    "max_partitions": ("KAFKASSE_MAX_PARTITIONS",),
    "max_private_consumers": ("KAFKASSE_MAX_PRIVATE_CONSUMERS",),
    "max_stream_lifetime_s": ("KAFKASSE_MAX_STREAM_LIFETIME", "KAFKASSE_MAX_STREAM_LIFETIME_S"),
    "max_streams": ("KAFKASSE_MAX_STREAMS",),
    "max_streams_per_client": ("KAFKASSE_MAX_STREAMS_PER_CLIENT",),
    "max_topics": ("KAFKASSE_MAX_TOPICS",),
    "port": ("KAFKASSE_PORT",),
    "progress_interval_s": ("KAFKASSE_PROGRESS_INTERVAL", "KAFKASSE_PROGRESS_INTERVAL_S"),
    "queue_bytes": ("KAFKASSE_QUEUE_BYTES",),
    "queue_size": ("KAFKASSE_QUEUE_SIZE",),
    "reconnect_spread_ms": ("KAFKASSE_RECONNECT_SPREAD_MS",),
    "resume_policy": ("KAFKASSE_RESUME_POLICY",),
    "retry_ms": ("KAFKASSE_RETRY_MS",),
    "schema_registry": ("KAFKASSE_SCHEMA_REGISTRY",),
    "setup_timeout_s": ("KAFKASSE_SETUP_TIMEOUT", "KAFKASSE_SETUP_TIMEOUT_S"),
    "shared_tail": ("KAFKASSE_SHARED_TAIL",),
    "tail_batch_interval_ms": ("KAFKASSE_TAIL_BATCH_INTERVAL_MS",),
    "tail_linger_s": ("KAFKASSE_TAIL_LINGER", "KAFKASSE_TAIL_LINGER_S"),
    "tail_ring_age_s": ("KAFKASSE_TAIL_RING_AGE", "KAFKASSE_TAIL_RING_AGE_S"),
    "tail_ring_bytes": ("KAFKASSE_TAIL_RING_BYTES",),
    "tail_ring_events": ("KAFKASSE_TAIL_RING_EVENTS",),
    "trusted_proxies": ("KAFKASSE_TRUSTED_PROXIES",),
    "use_timestamp_for_id": ("KAFKASSE_USE_TIMESTAMP_FOR_ID",),
    "workers": ("KAFKASSE_WORKERS",),
}

#: top-level keys of the --config file (consumer settings go in its [kafka] table)
FILE_KEYS = (
    "admin_port",
    "allow_all_topics",
    "allow_filters",
    "allowed_topics",
    "batch_size",
    "bootstrap_servers",
    "broker_outage_timeout_s",
    "connect_error_handler",
    "cors_origins",
    "count_private_clients",
    "deserializer",
    "disable_sse_formatting",
    "filterer",
    "headers_timeout_s",
    "heartbeat_interval_s",
    "host",
    "id_mode",
    "idle_delay_ms",
    "jwt_algorithms",
    "jwt_allow_query_token",
    "jwt_audience",
    "jwt_cookie_name",
    "jwt_issuer",
    "jwt_keys",
    "jwt_required",
    "jwt_topics_claim",
    "kafka_event_handlers",
    "lifetime_jitter",
    "log_level",
    "logger",
    "max_blocked_s",
    "max_filter_length",
    "max_hubs",
    "max_last_event_id_bytes",
    "max_partitions",
    "max_private_consumers",
    "max_stream_lifetime_s",
    "max_streams",
    "max_streams_per_client",
    "max_topics",
    "port",
    "progress_interval_s",
    "queue_bytes",
    "queue_size",
    "reconnect_spread_ms",
    "resume_policy",
    "retry_ms",
    "schema_registry",
    "setup_timeout_s",
    "shared_tail",
    "tail_batch_interval_ms",
    "tail_linger_s",
    "tail_ring_age_s",
    "tail_ring_bytes",
    "tail_ring_events",
    "trusted_proxies",
    "use_timestamp_for_id",
    "workers",
)

# setting → (what "2" parses to, what "none" parses to, on/off flag, choices); an exception's name
PARSES = {
    "host": ("2", "none", False, None),
    "port": (2, "ValueError", False, None),
    "admin_port": (2, None, False, None),
    "headers_timeout_s": (2.0, "ValueError", False, None),
    "workers": (2, "ValueError", False, None),
    "log_level": ("2", "NONE", False, ("DEBUG", "INFO", "WARNING", "ERROR")),
    "bootstrap_servers": ("2", "none", False, None),
    "allow_all_topics": ("ValueError", "ValueError", True, None),
    "allowed_topics": (["2"], ["none"], False, None),
    "disable_sse_formatting": ("ValueError", "ValueError", True, None),
    "use_timestamp_for_id": ("ValueError", "ValueError", True, None),
    "id_mode": ("2", "none", False, ("offset", "timestamp", "cursor")),
    "idle_delay_ms": (2, "ValueError", False, None),
    "heartbeat_interval_s": (2.0, "ValueError", False, None),
    "queue_size": (2, "ValueError", False, None),
    "queue_bytes": (2, "ValueError", False, None),
    "batch_size": (2, "ValueError", False, None),
    "retry_ms": (2, None, False, None),
    "resume_policy": (
        {"too_old": "2", "too_new": "2"},
        {"too_old": "none", "too_new": "none"},
        False,
        None,
    ),
    "setup_timeout_s": (2.0, "ValueError", False, None),
    "max_streams": (2, None, False, None),
    "max_streams_per_client": (2, None, False, None),
    "count_private_clients": ("ValueError", "ValueError", True, None),
    "trusted_proxies": (2, ["none"], False, None),
    "max_topics": (2, None, False, None),
    "max_partitions": (2, None, False, None),
    "max_last_event_id_bytes": (2, None, False, None),
    "max_stream_lifetime_s": (2.0, None, False, None),
    "lifetime_jitter": (2.0, "ValueError", False, None),
    "reconnect_spread_ms": (2, "ValueError", False, None),
    "max_blocked_s": (2.0, None, False, None),
    "broker_outage_timeout_s": (2.0, "ValueError", False, None),
    "cors_origins": (["2"], ["none"], False, None),
    "allow_filters": ("ValueError", "ValueError", True, None),
    "max_filter_length": (2, None, False, None),
    "progress_interval_s": (2.0, None, False, None),
    "shared_tail": ("ValueError", "ValueError", True, None),
    "tail_linger_s": (2.0, "ValueError", False, None),
    "tail_batch_interval_ms": (2, "ValueError", False, None),
    "tail_ring_events": (2, "ValueError", False, None),
    "tail_ring_bytes": (2, "ValueError", False, None),
    "tail_ring_age_s": (2.0, "ValueError", False, None),
    "max_private_consumers": (2, None, False, None),
    "max_hubs": (2, None, False, None),
    "jwt_algorithms": (["2"], None, False, None),
    "jwt_audience": (["2"], None, False, None),
    "jwt_issuer": ("2", None, False, None),
    "jwt_topics_claim": ("2", "none", False, None),
    "jwt_required": ("ValueError", "ValueError", True, None),
    "jwt_cookie_name": ("2", "none", False, None),
    "jwt_allow_query_token": ("ValueError", "ValueError", True, None),
    "schema_registry": ("2", None, False, None),
}


def serve_flags() -> dict[str, tuple[str, ...]]:
    parser = build_parser()
    (commands,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    flags: dict[str, list[str]] = {}
    for action in commands.choices["serve"]._actions:
        if action.dest != "help":
            flags.setdefault(action.dest, []).extend(action.option_strings)
    return {dest: tuple(sorted(names)) for dest, names in flags.items()}


def test_every_flag_keeps_its_name():
    assert serve_flags() == FLAGS


def test_every_variable_keeps_its_name():
    variables: dict[str, list[str]] = {}
    for spec in serve_config.SPECS:
        variables.setdefault(spec.name, []).extend(spec.envs)
    assert {name: tuple(sorted(envs)) for name, envs in variables.items()} == VARIABLES
    assert sorted(serve_config._known_variables()) == sorted(
        ["KAFKASSE_CONFIG", *(env for envs in VARIABLES.values() for env in envs)]
    )


def test_every_file_key_is_read(tmp_path: Path):
    path = tmp_path / "all.toml"
    values = {key: '"INFO"' if key == "log_level" else "1" for key in FILE_KEYS}
    text = "".join(f"{key} = {value}\n" for key, value in values.items())
    path.write_text(text + "[kafka]\nclient_id = 1\n")
    args = build_parser().parse_args(["serve", "--config", str(path)])
    config = serve_config.resolve(args, {})
    from_file = {name for name, (_, s) in config.kafka.items() if s.source.startswith("file")}
    server = {name for name, s in config.server.items() if s.source.startswith("file")}
    assert {*config.options, *server, *from_file} == {*FILE_KEYS, "client_id"}
    for key in ("kafka_config", "no_such_key"):
        path.write_text(f"{key} = 1\n")
        with pytest.raises(serve_config.ConfigurationError, match=key):
            serve_config.resolve(args, {})


def test_every_flag_parses_text_as_before():
    def parse(spec: serve_config.Spec, text: str) -> object:
        try:
            return spec.parse(text)
        except Exception as error:
            return type(error).__name__

    parses = {
        spec.name: (parse(spec, "2"), parse(spec, "none"), spec.boolean, spec.choices)
        for spec in serve_config.SPECS
        if spec.name != "jwt_keys"  # a file or URL, tested in test_serve_config
    }
    assert parses == PARSES
