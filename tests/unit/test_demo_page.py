"""The demo page of ``kafkasse-wsgi serve`` opens a topic the server serves: it opened
``demo-events`` whatever ``--allowed-topics`` said."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest

from kafkasse_wsgi._serve.server import StreamServer


def page_of(**options: Any) -> str:
    app = StreamServer(**options)
    answer: list[str] = []
    body = app({"PATH_INFO": "/", "REQUEST_METHOD": "GET"}, lambda s, h: answer.append(s))
    assert answer == ["200 OK"]
    return b"".join(body).decode()


def default_topics(page: str) -> str:
    match = re.search(r'<meta name="kafkasse-topics" content="([^"]*)">', page)
    assert match, "the page names no default topics"
    return html.unescape(match.group(1))


@pytest.mark.parametrize(
    ("allowed", "expected"),
    [(None, "demo-events"), (["orders", "edits"], "orders"), (["a&b"], "a&b")],
)
def test_the_page_opens_the_first_allowed_topic(allowed, expected):
    assert default_topics(page_of(allowed_topics=allowed)) == expected


def test_the_page_reads_its_default_from_the_server():
    page = page_of(allowed_topics=["orders"])
    assert '|| "demo-events"' not in page
    assert 'params.get("topics")' in page  # ?topics= still picks others
