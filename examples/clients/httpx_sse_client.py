"""httpx-sse, sync: parses a streamed ``httpx`` response, with no reconnection of its own.

Reconnect by hand with the last id and the server's ``retry:``. Once it has seen an id,
httpx-sse yields an empty ``message`` for every block without data (heartbeats, ``retry:``
hints, id-only frames): skip those, or ``.json()`` raises. Its ``id`` is the last id seen,
id-only frames included, which is what a reconnection sends.

    for event_id, event in follow("http://127.0.0.1:6927/edits"):
        print(event)
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
from httpx_sse import connect_sse


def follow(url: str, last_event_id: str | None = None) -> Iterator[tuple[str, Any]]:
    """Yield ``(id, event)`` for each message, reconnecting when the server ends the stream;
    return when a bounded replay is done."""
    retry_ms = 1000
    with httpx.Client(timeout=30) as client:
        while True:
            headers = {"Last-Event-ID": last_event_id} if last_event_id else {}
            with connect_sse(client, "GET", url, headers=headers) as source:
                if source.response.status_code == 204:  # nothing left after this id
                    return
                source.response.raise_for_status()
                for sse in source.iter_sse():
                    last_event_id = sse.id or last_event_id
                    if sse.retry is not None:
                        retry_ms = sse.retry
                    if sse.event == "end":  # the replay is complete
                        return
                    if sse.event == "message" and sse.data:  # not a heartbeat
                        yield sse.id, sse.json()
            time.sleep(retry_ms / 1000)
