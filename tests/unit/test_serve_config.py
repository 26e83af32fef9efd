"""``kafkasse-wsgi serve`` settings: file, environment, flags, their precedence, the printed
configuration with secrets masked, and unknown keys named with their file line."""

from __future__ import annotations

import dataclasses
import textwrap
from pathlib import Path
from typing import Any

import pytest

from kafkasse_wsgi._serve.cli import build_parser
from kafkasse_wsgi._serve.config import SPECS, ServeConfig, check, resolve
from kafkasse_wsgi.errors import ConfigurationError
from kafkasse_wsgi.options import Options


def settle(argv: list[str], env: dict[str, str] | None = None) -> ServeConfig:
    args = build_parser().parse_args(["serve", *argv])
    config = resolve(args, env or {})
    check(config)
    return config


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "kafkasse.toml"
    path.write_text(textwrap.dedent(text))
    return path


PRODUCTION = """\
    allowed_topics = ["orders", "edits"]
    max_streams = 2000
    max_streams_per_client = 8
    trusted_proxies = 1
    max_stream_lifetime_s = 3600
    retry_ms = 3000
    resume_policy = { too_old = "earliest", too_new = "error" }
    cors_origins = ["https://app.example"]

    [kafka]
    "metadata.broker.list" = "kafka-1.example:9093,kafka-2.example:9093"
    "security.protocol" = "SASL_SSL"
    "sasl.mechanisms" = "SCRAM-SHA-512"
    "sasl.username" = "kafkasse"
    "sasl.password" = "s3cret-from-file"
    "ssl.ca.location" = "/etc/kafkasse/ca.pem"
"""


def test_file_sets_options_and_consumer_settings_in_either_key_style(tmp_path):
    path = write(tmp_path, PRODUCTION)
    options = settle(["--config", str(path)]).stream_options()
    built = Options.from_any(options)
    assert built.max_streams == 2000 and built.max_stream_lifetime_s == 3600
    assert built.allowed_topics == ("orders", "edits")
    assert built.resume_policy.too_new == "error"
    assert options["kafka_config"]["sasl.password"] == "s3cret-from-file"
    assert options["kafka_config"]["security.protocol"] == "SASL_SSL"
    python_keys = write(
        tmp_path,
        """\
        [kafka]
        security_protocol = "SSL"
        ssl_cafile = "/etc/ca.pem"
        """,
    )
    kafka = settle(["--config", str(python_keys)]).stream_options()["kafka_config"]
    assert kafka["security_protocol"] == "SSL" and kafka["ssl_cafile"] == "/etc/ca.pem"


def test_precedence_is_flag_then_env_then_file_then_default(tmp_path):
    path = write(tmp_path, "max_streams = 10\nretry_ms = 10\nbatch_size = 10\n")
    env = {"KAFKASSE_MAX_STREAMS": "20", "KAFKASSE_RETRY_MS": "20"}
    config = settle(["--config", str(path), "--max-streams", "30"], env)
    assert config.options["max_streams"].value == 30
    assert config.options["max_streams"].source == "flag --max-streams"
    assert config.options["retry_ms"].value == 20
    assert config.options["retry_ms"].source == "env KAFKASSE_RETRY_MS"
    assert config.options["batch_size"].value == 10
    assert config.options["batch_size"].source == f"file {path}:3"
    assert "queue_size" not in config.options  # the default, from Options itself
    printed = config.describe()
    assert "max_streams = 30  # flag --max-streams" in printed
    assert "retry_ms = 20  # env KAFKASSE_RETRY_MS" in printed
    assert f"batch_size = 10  # file {path}:3" in printed
    assert f"queue_size = {Options.DEFAULT_QUEUE_SIZE}  # default" in printed


def test_consumer_settings_from_flags_and_env_override_the_file_by_meaning(tmp_path):
    path = write(tmp_path, PRODUCTION)
    env = {"KAFKASSE_KAFKA_SASL_PLAIN_PASSWORD": "s3cret-from-env"}
    config = settle(
        [
            "--config",
            str(path),
            "--bootstrap-servers",
            "127.0.0.1:9092",
            "--kafka-config",
            "request.timeout.ms=20000",
            "--kafka-config",
            "ssl_check_hostname=false",
        ],
        env,
    )
    kafka = config.stream_options()["kafka_config"]
    # The flag replaced the file's metadata.broker.list: the same setting, not a second one.
    assert kafka["bootstrap_servers"] == "127.0.0.1:9092" and "metadata.broker.list" not in kafka
    assert kafka["sasl_plain_password"] == "s3cret-from-env" and "sasl.password" not in kafka
    assert kafka["request.timeout.ms"] == 20000  # typed as kafka-python's default is
    assert kafka["ssl_check_hostname"] is False


def test_print_config_masks_secrets_wherever_they_come_from(tmp_path):
    path = write(tmp_path, PRODUCTION)
    config = settle(
        ["--config", str(path), "--kafka-config", "ssl_password=key-pass-from-flag"],
        {"KAFKASSE_KAFKA_SASL_OAUTH_TOKEN_PROVIDER": "token-from-env"},
    )
    printed = config.describe()
    for secret in ("s3cret-from-file", "key-pass-from-flag", "token-from-env"):
        assert secret not in printed
    assert '"sasl.password" = "***"' in printed and 'ssl_password = "***"' in printed


def test_every_plain_option_works_in_the_file_and_has_a_flag_and_env(tmp_path):
    """Nothing per option in the CLI code: each field of Options that text can express is
    reachable from all three sources (so options added later are too)."""
    defaults = Options()
    by_name = {spec.name: spec for spec in SPECS}
    for field in dataclasses.fields(Options):
        value = getattr(defaults, field.name)
        if callable(value) or field.name in ("kafka_config", "logger", "kafka_event_handlers"):
            continue
        if value is None and field.name not in by_name:
            continue  # callables whose default is None
        assert field.name in by_name, f"no flag for {field.name}"
        if value is None or isinstance(value, (tuple, list)) or dataclasses.is_dataclass(value):
            continue
        path = write(tmp_path, f"{field.name} = {_toml(value)}\n")
        assert settle(["--config", str(path)]).options[field.name].value == value


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    return repr(value)


@pytest.mark.parametrize(
    ("text", "line", "key"),
    [
        ("max_streams = 3\nmax_stremas = 4\n", 2, "max_stremas"),
        (
            "retry_ms = 1\n\n[kafka]\nbootstrap_servers = 'a:1'\nsasl_pasword = 'x'\n",
            5,
            "sasl_pasword",
        ),
        ("[kafka]\n\"sasl.passwd\" = 'x'\n", 2, "sasl.passwd"),
        ("[server]\nport = 1\n", 1, "server"),
        ("kafka_config = {}\n", 1, "kafka_config"),
    ],
)
def test_unknown_keys_name_the_key_and_the_file_line(tmp_path, text, line, key):
    path = write(tmp_path, text)
    with pytest.raises(ConfigurationError) as raised:
        settle(["--config", str(path)])
    assert key in raised.value.message
    assert f"{path}:{line}" in raised.value.message


def test_bad_values_name_their_source(tmp_path):
    path = write(tmp_path, "max_streams = 0\n")
    with pytest.raises(ConfigurationError, match=rf"max_streams.*file {path}:1"):
        settle(["--config", str(path)])
    with pytest.raises(ConfigurationError, match="KAFKASSE_MAX_STREAMS"):
        settle([], {"KAFKASSE_MAX_STREAMS": "many"})
    with pytest.raises(ConfigurationError, match="flag --kafka-config request_timeout_ms"):
        settle(["--kafka-config", "request_timeout_ms=soon"])
    with pytest.raises(ConfigurationError, match="not valid TOML"):
        settle(["--config", str(write(tmp_path, "max_streams = \n"))])
    with pytest.raises(ConfigurationError, match="No such file"):
        settle(["--config", str(tmp_path / "missing.toml")])


def test_options_flags_reach_what_users_reach_for():
    config = settle(
        [
            "--max-streams",
            "100",
            "--max-streams-per-client",
            "4",
            "--trusted-proxies",
            "1",
            "--max-stream-lifetime",
            "600",
            "--retry-ms",
            "2500",
            "--resume-policy",
            "too_old=latest,too_new=error",
            "--id-mode",
            "cursor",
            "--batch-size",
            "100",
            "--queue-size",
            "8",
            "--queue-bytes",
            "2000000",
            "--cors-origins",
            "https://a.example,https://b.example",
            "--allowed-topics",
            "a,b",
            "--heartbeat",
            "5",
        ]
    )
    built = Options.from_any(config.stream_options())
    assert (built.max_streams, built.max_streams_per_client, built.trusted_proxies) == (100, 4, 1)
    assert built.max_stream_lifetime_s == 600 and built.retry_ms == 2500
    assert (built.resume_policy.too_old, built.resume_policy.too_new) == ("latest", "error")
    assert built.id_mode == "cursor" and built.batch_size == 100 and built.queue_size == 8
    assert built.queue_bytes == 2_000_000
    assert built.cors_origins == ("https://a.example", "https://b.example")
    assert built.allowed_topics == ("a", "b") and built.heartbeat_interval_s == 5
    timestamp = Options.from_any(settle(["--use-timestamp-for-id"]).stream_options())
    assert timestamp.id_mode == "timestamp"
    assert (
        settle([], {"KAFKASSE_MAX_STREAM_LIFETIME": "none"}).options["max_stream_lifetime_s"].value
        is None
    )


def test_the_docs_production_file_is_valid(tmp_path):
    section = (Path(__file__).parents[2] / "docs" / "cli.md").read_text()
    block = section[
        section.index("```toml") + len("```toml") : section.index(
            "```\n\n", section.index("```toml")
        )
    ]
    path = tmp_path / "production.toml"
    path.write_text(block)
    config = settle(["--config", str(path)], {"KAFKASSE_KAFKA_SASL_PLAIN_PASSWORD": "pw"})
    built = Options.from_any(config.stream_options())
    assert built.max_streams == 2000 and built.cors_origins == ("https://app.example",)
    assert config.value("workers") == 4
    assert config.stream_options()["kafka_config"]["security.protocol"] == "SASL_SSL"


def test_reading_the_settings_imports_neither_kafka_python_nor_gevent():
    """``serve`` patches with gevent after reading its settings (one worker or many is one of
    them): kafka-python imported before that would keep unpatched sockets and locks."""
    import subprocess
    import sys

    program = (
        "import sys\n"
        "from kafkasse_wsgi._serve.cli import build_parser\n"
        "from kafkasse_wsgi._serve.config import resolve\n"
        "config = resolve(build_parser().parse_args(['serve', '--kafka-config', 'a=1']), {})\n"
        "config.describe()\n"
        "print(sorted(m for m in ('kafka', 'gevent') if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_token_settings_from_flags_and_environment(tmp_path):
    from tests.support.tokens import public_pem, rsa_key

    pem = tmp_path / "public.pem"
    pem.write_text(public_pem(rsa_key()))
    options = settle(
        ["--jwt-key", str(pem), "--jwt-algorithms", "RS256,ES256", "--jwt-audience", "a,b"]
    ).options
    assert options["jwt_keys"].value == pem
    assert options["jwt_algorithms"].value == ["RS256", "ES256"]
    assert options["jwt_audience"].value == ["a", "b"]
    env = {"KAFKASSE_JWT_JWKS": "https://idp.example/jwks.json", "KAFKASSE_JWT_REQUIRED": "0"}
    args = build_parser().parse_args(["serve"])
    from_env = resolve(args, env).options
    assert from_env["jwt_keys"].value == "https://idp.example/jwks.json"
    assert from_env["jwt_required"].value is False
    with pytest.raises(SystemExit):  # argparse refuses it: a mistyped file is no secret
        settle(["--jwt-key", str(tmp_path / "missing.pem")])


def test_print_config_masks_a_jwt_secret():
    secret = "jwt-secret-from-env-0123456789abcdef"
    args = build_parser().parse_args(["serve"])
    printed = resolve(args, {"KAFKASSE_JWT_KEYS": secret}).describe()
    assert secret not in printed and 'jwt_keys = "***"' in printed


@pytest.mark.parametrize(
    ("variable", "closest"),
    [
        ("KAFKASSE_HEARTBEET", "KAFKASSE_HEARTBEAT"),
        ("KAFKASSE_MAX_STREAM", "KAFKASSE_MAX_STREAMS"),
        ("KAFKASSE_ALOWED_TOPICS", "KAFKASSE_ALLOWED_TOPICS"),
    ],
)
def test_a_misspelled_variable_is_an_error_naming_the_closest_valid_one(variable, closest):
    """It was silently ignored, while the same typo in the config file is an error."""
    args = build_parser().parse_args(["serve"])
    with pytest.raises(ConfigurationError) as raised:
        resolve(args, {variable: "5"})
    assert variable in raised.value.message
    assert f"did you mean {closest}?" in raised.value.message


def test_an_unknown_variable_far_from_every_name_is_an_error_too():
    args = build_parser().parse_args(["serve"])
    with pytest.raises(ConfigurationError, match="KAFKASSE_WHATEVER_THIS_IS"):
        resolve(args, {"KAFKASSE_WHATEVER_THIS_IS": "1"})


def test_the_options_own_name_is_a_variable_too():
    """``KAFKASSE_HEARTBEAT_INTERVAL_S`` (the option's name, unit included) was ignored."""
    config = settle(
        [], {"KAFKASSE_HEARTBEAT_INTERVAL_S": "4", "KAFKASSE_MAX_STREAM_LIFETIME_S": "600"}
    )
    assert config.options["heartbeat_interval_s"].value == 4.0
    assert config.options["heartbeat_interval_s"].source == "env KAFKASSE_HEARTBEAT_INTERVAL_S"
    assert config.options["max_stream_lifetime_s"].value == 600.0


def test_two_names_of_one_setting_in_the_environment_are_an_error():
    args = build_parser().parse_args(["serve"])
    with pytest.raises(
        ConfigurationError, match=r"KAFKASSE_HEARTBEAT.*KAFKASSE_HEARTBEAT_INTERVAL_S"
    ):
        resolve(args, {"KAFKASSE_HEARTBEAT": "4", "KAFKASSE_HEARTBEAT_INTERVAL_S": "5"})


def test_print_config_output_loads_back_through_config(tmp_path):
    """``--print-config`` printed ``jwt_allow_query_token = "***"`` (every name with "token"
    was masked, booleans included), which ``--config`` then refused."""
    env = {
        "KAFKASSE_KAFKA_SASL_PLAIN_PASSWORD": "s3cret-from-env",
        "KAFKASSE_JWT_KEYS": "jwt-secret-from-env-0123456789abcdef",
    }
    argv = [
        "--allowed-topics",
        "orders,edits",
        "--jwt-allow-query-token",
        "--no-shared-tail",
        "--resume-policy",
        "too_old=latest,too_new=error",
        "--max-streams",
        "100",
        "--port",
        "7000",
        "--kafka-config",
        "sasl.username=kafkasse",
    ]
    first = settle(argv, env)
    printed = first.describe()
    assert "s3cret-from-env" not in printed and "jwt-secret-from-env" not in printed
    assert "jwt_allow_query_token = true" in printed
    path = tmp_path / "printed.toml"
    path.write_text(printed)
    again = settle(["--config", str(path)], env)
    reloaded, original = again.stream_options(), first.stream_options()
    assert reloaded.pop("jwt_keys") == original.pop("jwt_keys")  # from the environment
    assert Options.from_any(reloaded) == Options.from_any(original)
    assert reloaded["kafka_config"] == original["kafka_config"]
    assert {k: s.value for k, s in again.server.items()} == {
        k: s.value for k, s in first.server.items()
    }


def test_help_says_each_default_once_and_spells_out_choices():
    """``--help`` printed "(default: none)" after a text that already said its default, and
    "one of ID_MODES" (a name in our code, not the values)."""
    serve = build_parser()._subparsers._group_actions[0].choices["serve"]
    for action in serve._actions:
        text = action.help or ""
        assert text.lower().count("default") <= 1, text
        assert "ID_MODES" not in text and ":data:" not in text, text
    id_mode = next(a for a in serve._actions if "--id-mode" in a.option_strings)
    assert "offset, timestamp, cursor" in id_mode.help


def test_examples_scripts_and_docs_name_only_real_kafkasse_variables():
    """``KAFKASSE_*`` is the serve command's: an example's or a test's own variable under it
    (``KAFKASSE_URL``, ``KAFKASSE_TEST_CONFIG``) would now stop the server it reaches."""
    import re

    from kafkasse_wsgi._serve.config import KAFKA_ENV_PREFIX, _known_variables

    root = Path(__file__).resolve().parents[2]
    known = set(_known_variables())
    files = [
        root / "README.md",
        *(root / "docs").rglob("*.md"),
        *(p for p in (root / "examples").rglob("*") if p.is_file()),
        *(p for p in (root / "scripts").rglob("*") if p.is_file() and p.stat().st_size < 500_000),
        *(root / "tests" / "support").glob("*.py"),
    ]
    for path in files:
        text = path.read_text(errors="replace")
        for name in set(re.findall(r"\bKAFKASSE_[A-Z0-9_]*[A-Z0-9]\b", text)):
            if name.startswith(KAFKA_ENV_PREFIX) or name == KAFKA_ENV_PREFIX.rstrip("_"):
                continue
            assert name in known, f"{path.relative_to(root)}: {name}"
