"""sseclient-py over a streamed ``requests`` response: a parser, with no reconnection.

Reconnect by hand, sending the last message's id as ``Last-Event-ID``. sseclient-py drops
every block without ``data:``, so it never sees ``retry:`` hints nor id-only frames (progress
while a filter drops events, the start position): resuming from the last message's id is
still exact, it may only scan again what a filter already dropped. Before its first message
it has no id at all: a stream at latest that ends before then starts again at latest, and
what was produced in between is not sent.

    for event_id, event in follow("http://127.0.0.1:6927/edits"):
        print(event)
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import requests
import sseclient

#: Wait before reconnecting (the server's ``retry:`` hint is not visible to sseclient-py).
RECONNECT_DELAY_S = 1.0


def follow(url: str, last_event_id: str | None = None) -> Iterator[tuple[str, Any]]:
    """Yield ``(id, event)`` for each message, reconnecting when the server ends the stream;
    return when a bounded replay is done."""
    while True:
        headers = {"Accept": "text/event-stream"}
        if last_event_id:
            headers["Last-Event-ID"] = last_event_id
        with requests.get(url, headers=headers, stream=True, timeout=30) as response:
            if response.status_code == 204:  # nothing left after this id
                return
            response.raise_for_status()
            for event in sseclient.SSEClient(response).events():
                if event.event == "end":  # the replay is complete
                    return
                if event.event == "message":
                    last_event_id = event.id
                    yield event.id, json.loads(event.data)
        time.sleep(RECONNECT_DELAY_S)
