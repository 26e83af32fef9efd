"""_sse.py: exact bytes on the wire for events, comments, retry hints and JSON lines."""

from __future__ import annotations

import json

import pytest

from kafkasse_wsgi import _sse as sse


def test_stream_preamble_is_an_ok_comment() -> None:
    assert sse.STREAM_PREAMBLE == b":ok\n\n"


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        pytest.param({}, b"event: message\ndata: {}\n\n", id="default-event-name"),
        pytest.param({"event_id": "[1]"}, b"event: message\nid: [1]\ndata: {}\n\n", id="with-id"),
        pytest.param(
            {"event": "error", "event_id": "x"},
            b"event: error\nid: x\ndata: {}\n\n",
            id="named-event",
        ),
        pytest.param({"event": None}, b"data: {}\n\n", id="no-event-line"),
        pytest.param({"event": ""}, b"data: {}\n\n", id="empty-event-omitted"),
        pytest.param({"event_id": ""}, b"event: message\nid: \ndata: {}\n\n", id="empty-id-kept"),
    ],
)
def test_format_event_writes_event_id_then_data(kwargs: dict, expected: bytes) -> None:
    assert sse.format_event("{}", **kwargs) == expected


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        pytest.param("a\nb", b"data: a\ndata: b\n\n", id="lf"),
        pytest.param("a\rb", b"data: a\ndata: b\n\n", id="cr"),
        pytest.param("a\r\nb", b"data: a\ndata: b\n\n", id="crlf-is-one-break"),
        pytest.param("a\n\rb", b"data: a\ndata: \ndata: b\n\n", id="lf-cr-is-two-breaks"),
        pytest.param("a\n\nb", b"data: a\ndata: \ndata: b\n\n", id="blank-line-kept-inside"),
        pytest.param("a\n", b"data: a\ndata: \n\n", id="trailing-break"),
        pytest.param("\na", b"data: \ndata: a\n\n", id="leading-break"),
        pytest.param("", b"data: \n\n", id="empty"),
        pytest.param("a\u2028b\x85c", "data: a\u2028b\x85c\n\n".encode(), id="unicode-breaks-kept"),
        pytest.param("a\0b", b"data: a\0b\n\n", id="nul-allowed-in-data"),
    ],
)
def test_format_event_splits_data_on_every_sse_line_break(data: str, expected: bytes) -> None:
    assert sse.format_event(data, event=None) == expected


def test_format_event_encodes_utf8() -> None:
    assert sse.format_event('{"t":"é€😀"}', event=None) == 'data: {"t":"é€😀"}\n\n'.encode()


def test_format_event_writes_lone_surrogate_as_json_escape() -> None:
    """Regression: a JSON value "\\ud800" made encoding raise and ended every stream."""
    data = json.dumps({"a": "\ud800x"}, ensure_ascii=False)
    out = sse.format_event(data, event=None)
    assert out == b'data: {"a": "\\ud800x"}\n\n'
    assert json.loads(out[len(b"data: ") : -2]) == {"a": "\ud800x"}


@pytest.mark.parametrize("field", ["event", "event_id"])
@pytest.mark.parametrize("bad", ["a\nb", "a\rb", "a\r\n", "a\0b", "\n"])
def test_format_event_rejects_line_breaks_and_nul_in_id_and_event(field: str, bad: str) -> None:
    with pytest.raises(ValueError, match="CR, LF or NUL"):
        sse.format_event("x", **{field: bad})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("", b":\n\n", id="empty-heartbeat"),
        pytest.param("ok", b":ok\n\n", id="text"),
        pytest.param("a\nb", b":a\n:b\n\n", id="lf"),
        pytest.param("a\r\nb\rc", b":a\n:b\n:c\n\n", id="crlf-and-cr"),
        pytest.param(" x", b": x\n\n", id="leading-space-kept"),
    ],
)
def test_format_comment_prefixes_every_line_with_colon(text: str, expected: bytes) -> None:
    assert sse.format_comment(text) == expected


def test_format_comment_default_is_empty_heartbeat() -> None:
    assert sse.format_comment() == b":\n\n"


@pytest.mark.parametrize(
    ("retry_ms", "expected"),
    [(0, b"retry: 0\n\n"), (3000, b"retry: 3000\n\n"), (10**12, b"retry: 1000000000000\n\n")],
)
def test_format_retry_writes_milliseconds(retry_ms: int, expected: bytes) -> None:
    assert sse.format_retry(retry_ms) == expected


def test_format_retry_rejects_negative() -> None:
    with pytest.raises(ValueError, match=">= 0"):
        sse.format_retry(-1)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        pytest.param('{"a":1}', b'{"a":1}\n', id="one-record"),
        pytest.param('{"t":"é"}', '{"t":"é"}\n'.encode(), id="utf8"),
        pytest.param("{\n}", b"{ }\n", id="lf-joined-with-space"),
        pytest.param("{\r\n}", b"{ }\n", id="crlf-is-one-space"),
        pytest.param("{\r}", b"{ }\n", id="cr"),
        pytest.param('"\udc80"', b'"\\udc80"\n', id="lone-surrogate-escaped"),
    ],
)
def test_format_json_line_is_one_line_per_record(data: str, expected: bytes) -> None:
    assert sse.format_json_line(data) == expected
