"""_cors.py and the ``cors_origins`` option: which origin gets which headers."""

from __future__ import annotations

import pytest

from kafkasse_wsgi._cors import cors_headers, preflight_headers
from kafkasse_wsgi.errors import ConfigurationError
from kafkasse_wsgi.options import Options

LISTED = Options(cors_origins=["https://App.example", "http://localhost:3000"])


def test_a_listed_origin_gets_its_origin_back_with_credentials() -> None:
    headers = dict(cors_headers(LISTED, "https://app.example"))
    assert headers["Access-Control-Allow-Origin"] == "https://app.example"
    assert headers["Access-Control-Allow-Credentials"] == "true"


@pytest.mark.parametrize("origin", [None, "https://evil.example", "https://app.example.evil"])
def test_anyone_else_gets_nothing(origin: str | None) -> None:
    assert cors_headers(LISTED, origin) == []
    assert cors_headers(Options(), "https://app.example") == []  # no CORS by default


def test_any_origin_without_credentials() -> None:
    headers = dict(cors_headers(Options(cors_origins="*"), "https://x.example"))
    assert headers["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Allow-Credentials" not in headers


def test_preflight_lists_methods_and_last_event_id() -> None:
    headers = dict(preflight_headers(LISTED, "http://localhost:3000"))
    assert headers["Allow"] == headers["Access-Control-Allow-Methods"] == "GET, HEAD, OPTIONS"
    assert "Last-Event-ID" in headers["Access-Control-Allow-Headers"]
    assert dict(preflight_headers(LISTED, "https://evil.example")).keys() == {"Allow", "Vary"}


@pytest.mark.parametrize("bad", ["app.example", "https://app.example/", ["*", "https://a"], 5])
def test_cors_origins_is_validated_naming_the_option(bad: object) -> None:
    with pytest.raises(ConfigurationError, match="cors_origins"):
        Options(cors_origins=bad)  # type: ignore[arg-type]


def test_cors_origins_from_a_comma_string() -> None:
    assert Options(cors_origins="https://a.example, https://b.example").cors_origins == (
        "https://a.example",
        "https://b.example",
    )
