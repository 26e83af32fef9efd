"""Clients for tests: a real EventSource (requests-sse) and a raw byte reader."""

from __future__ import annotations

import json
import time
from typing import Any

import requests
from requests_sse import EventSource, MessageEvent


def collect_events(
    url: str,
    count: int,
    last_event_id: str | None = None,
    headers: dict[str, str] | None = None,
    timeout_s: float = 20,
    types: tuple[str, ...] = ("message",),
) -> list[MessageEvent]:
    """Read ``count`` events of ``types`` with an EventSource, then disconnect."""
    events: list[MessageEvent] = []
    with EventSource(
        url,
        timeout=timeout_s,
        latest_event_id=last_event_id,
        headers=dict(headers or {}),
        max_connect_retry=0,
    ) as source:
        for event in source:
            if event.type in types or (event.type is None and "message" in types):
                events.append(event)
            if len(events) >= count:
                break
    return events


def data_of(events: list[MessageEvent]) -> list[Any]:
    return [json.loads(event.data) for event in events]


def read_raw(
    url: str,
    headers: dict[str, str] | None = None,
    until: bytes | None = None,
    max_bytes: int = 1 << 20,
    timeout_s: float = 10,
) -> tuple[requests.Response, bytes]:
    """Read the raw body until ``until`` appears (or the body ends / max_bytes / timeout)."""
    deadline = time.monotonic() + timeout_s
    response = requests.get(url, headers=headers or {}, stream=True, timeout=timeout_s)
    body = b""
    try:
        for chunk in response.raw.stream(1024, decode_content=True):
            body += chunk
            if (until is not None and until in body) or len(body) >= max_bytes:
                break
            if time.monotonic() > deadline:
                break
    except (TimeoutError, requests.RequestException, OSError):
        pass
    finally:
        response.close()
    return response, body


def parse_sse(body: bytes) -> list[dict[str, str]]:
    """Split raw SSE bytes into events (fields of each event; comments dropped)."""
    events = []
    for block in body.decode().split("\n\n"):
        fields = parse_block(block)
        if fields:
            events.append(fields)
    return events


def parse_block(block: str) -> dict[str, str]:
    """The fields of one SSE block (comments dropped, ``data`` lines joined by newlines)."""
    fields: dict[str, str] = {}
    for line in block.split("\n"):
        if not line or line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        fields[name] = fields[name] + "\n" + value if name in fields else value
    return fields


class SSEReader:
    """Reads an SSE response as it arrives, with a wall-clock deadline on every wait.

    Servers in tests send heartbeats often, so a read returns at least that often and the
    deadline is checked between chunks. Parsing follows the SSE rules (fields, comments,
    ``data`` lines joined with newlines).
    """

    def __init__(
        self, url: str, headers: dict[str, str] | None = None, timeout_s: float = 15
    ) -> None:
        self.response = requests.get(url, headers=headers or {}, stream=True, timeout=timeout_s)
        self.raw = b""
        self._buffer = b""
        self.comments = 0
        self.ended = False
        self._ready: list[dict[str, str]] = []
        self._chunks = self.response.iter_content(chunk_size=None)

    @property
    def status(self) -> int:
        return self.response.status_code

    def _read_chunk(self) -> bool:
        try:
            chunk = next(self._chunks)
        except (StopIteration, requests.RequestException, OSError):
            self.ended = True
            return False
        self.raw += chunk
        self._buffer += chunk
        return True

    def _pop_blocks(self) -> list[dict[str, str]]:
        events = []
        normalized = self._buffer.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        *blocks, rest = normalized.split(b"\n\n")
        self._buffer = rest
        for block in blocks:
            fields: dict[str, str] = {}
            for line in block.decode().split("\n"):
                if line.startswith(":"):
                    self.comments += 1
                    continue
                if not line:
                    continue
                name, _, value = line.partition(":")
                value = value[1:] if value.startswith(" ") else value
                fields[name] = fields[name] + "\n" + value if name in fields else value
            # As in the SSE spec, a block without data (e.g. only "retry:") is no event.
            if "data" in fields:
                fields.setdefault("event", "message")
                events.append(fields)
        return events

    def read(
        self, count: int, timeout_s: float = 15, types: tuple[str, ...] = ("message",)
    ) -> list[dict[str, str]]:
        """Up to ``count`` events of ``types`` (fewer if the deadline passes or the body ends)."""
        deadline = time.monotonic() + timeout_s
        while True:
            wanted = [e for e in self._ready if e["event"] in types]
            if len(wanted) >= count or time.monotonic() >= deadline:
                break
            if not self._read_chunk():
                self._ready += self._pop_blocks()
                break
            self._ready += self._pop_blocks()
        got: list[dict[str, str]] = []
        rest: list[dict[str, str]] = []
        for event in self._ready:
            (got if event["event"] in types and len(got) < count else rest).append(event)
        self._ready = rest
        return got

    def read_until_end(self, timeout_s: float = 15) -> list[dict[str, str]]:
        """Every event until the server ends the body."""
        deadline = time.monotonic() + timeout_s
        got, self._ready = self._ready, []
        while time.monotonic() < deadline and self._read_chunk():
            got += self._pop_blocks()
        got += self._pop_blocks()
        return got

    def wait_comments(self, count: int, timeout_s: float = 15) -> int:
        deadline = time.monotonic() + timeout_s
        while self.comments < count and time.monotonic() < deadline and self._read_chunk():
            self._pop_blocks()
        return self.comments

    def close(self) -> None:
        self.response.close()

    def __enter__(self) -> SSEReader:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def payloads_of(events: list[dict[str, str]]) -> list[Any]:
    """The JSON data of events read with :class:`SSEReader`."""
    return [json.loads(event["data"]) for event in events]


def read_json_lines(response: requests.Response, count: int) -> list[Any]:
    """The first ``count`` records of a JSON-mode body (empty heartbeat lines skipped)."""
    records: list[Any] = []
    try:
        for line in response.iter_lines():
            if line:
                records.append(json.loads(line))
            if len(records) == count:
                break
    finally:
        response.close()
    return records
