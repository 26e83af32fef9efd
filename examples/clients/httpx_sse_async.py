"""httpx-sse, async: the same as the sync client, with ``aconnect_sse``.

No reconnection of its own: reconnect by hand with the last id and the server's ``retry:``.
Skip the empty ``message`` it yields for blocks without data once it has seen an id.

    async for event_id, event in follow("http://127.0.0.1:6927/edits"):
        print(event)
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
from httpx_sse import aconnect_sse


async def follow(url: str, last_event_id: str | None = None) -> AsyncIterator[tuple[str, Any]]:
    """Yield ``(id, event)`` for each message, reconnecting when the server ends the stream;
    return when a bounded replay is done."""
    retry_ms = 1000
    async with httpx.AsyncClient(timeout=30) as client:
        while True:
            headers = {"Last-Event-ID": last_event_id} if last_event_id else {}
            async with aconnect_sse(client, "GET", url, headers=headers) as source:
                if source.response.status_code == 204:  # nothing left after this id
                    return
                source.response.raise_for_status()
                async for sse in source.aiter_sse():
                    last_event_id = sse.id or last_event_id
                    if sse.retry is not None:
                        retry_ms = sse.retry
                    if sse.event == "end":  # the replay is complete
                        return
                    if sse.event == "message" and sse.data:  # not a heartbeat
                        yield sse.id, sse.json()
            await asyncio.sleep(retry_ms / 1000)
