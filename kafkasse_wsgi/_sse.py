"""Server-Sent Events wire format: events, ids, comments and JSON lines as bytes.

Pure functions, no I/O: the stream module decides *what* to send, this module decides the
exact bytes. See https://html.spec.whatwg.org/multipage/server-sent-events.html for the
parsing rules these functions are written against:

* a line ends at ``\\r\\n``, ``\\r`` or ``\\n``, so every one of those inside a value starts a
  new ``data:`` line (the client joins them back with ``\\n``), and an ``id`` or ``event``
  value may contain none of them;
* an event ends at a blank line;
* a line starting with ``:`` is a comment (we use them as heartbeats);
* an ``id`` containing NUL is ignored by clients, so ids never contain one.
"""

from __future__ import annotations

import re

#: The first bytes of every SSE stream: a comment that flushes headers through proxies.
STREAM_PREAMBLE = b":ok\n\n"

_LINE_BREAK = re.compile(r"\r\n|\r|\n")

#: A lone surrogate (``json.loads('"\\ud800"')`` makes one) has no UTF-8 form; encoding it
#: strictly would end every stream reading that message. ``backslashreplace`` writes it as
#: ``\ud800``, which inside a JSON string is the very escape it came from.
_ENCODE_ERRORS = "backslashreplace"


def _single_line(field: str, value: str) -> str:
    if "\n" in value or "\r" in value or "\0" in value:
        raise ValueError(f"SSE {field} must not contain CR, LF or NUL: {value!r}")
    return value


def format_event(data: str, *, event: str | None = "message", event_id: str | None = None) -> bytes:
    """One SSE event: ``event:``, ``id:``, then one ``data:`` line per line of ``data``."""
    parts = []
    if event:
        parts.append(f"event: {_single_line('event', event)}\n")
    if event_id is not None:
        parts.append(f"id: {_single_line('id', event_id)}\n")
    for line in _LINE_BREAK.split(data):
        parts.append(f"data: {line}\n")
    parts.append("\n")
    return "".join(parts).encode("utf-8", _ENCODE_ERRORS)


def format_message(data: str, event_id: str) -> str:
    """A ``message`` event as text, for the pump to join and encode once per batch.

    ``event_id`` comes from :class:`~kafkasse_wsgi._positions.Positions` (compact JSON with
    ASCII escapes: never a line break), so only ``data`` needs looking at; most data is one
    line and skips the split.
    """
    if "\n" in data or "\r" in data:
        lines = "".join(f"data: {line}\n" for line in _LINE_BREAK.split(data))
        return f"event: message\nid: {event_id}\n{lines}\n"
    return f"event: message\nid: {event_id}\ndata: {data}\n\n"


def format_json_text(data: str) -> str:
    """:func:`format_json_line` as text, for joining per batch."""
    if "\n" in data or "\r" in data:
        data = _LINE_BREAK.sub(" ", data)
    return data + "\n"


def encode_chunk(text: str) -> bytes:
    """Text of formatted events → bytes, with the same lone-surrogate care as above."""
    return text.encode("utf-8", _ENCODE_ERRORS)


def format_comment(text: str = "") -> bytes:
    """A comment line (``:text``); clients ignore it, proxies see traffic."""
    lines = _LINE_BREAK.split(text)
    return ("".join(f":{line}\n" for line in lines) + "\n").encode("utf-8")


def format_retry(retry_ms: int) -> bytes:
    """Tell the client how long to wait before reconnecting."""
    if retry_ms < 0:
        raise ValueError("retry must be >= 0 ms")
    return f"retry: {int(retry_ms)}\n\n".encode()


def format_id(event_id: str) -> bytes:
    """An id without an event: it sets the client's ``lastEventId`` (dispatching nothing), so
    a stream that ends can say exactly where its client resumes."""
    return encode_chunk(format_id_text(_single_line("id", event_id)))


def format_id_text(event_id: str) -> str:
    """:func:`format_id` as text, for joining per batch (ids come from ``Positions``: never a
    line break). A progress frame: a filtered stream's id moves without an event firing."""
    return f"id: {event_id}\n\n"


def format_json_line(data: str) -> bytes:
    """One record in JSON mode (``Accept: application/json``): the JSON text and a newline.

    JSON text never holds a raw newline (``json.dumps`` escapes them), so each line is one
    record; a custom serializer that returns several lines is joined with spaces instead of
    splitting the record.
    """
    return encode_chunk(format_json_text(data))
