"""requests-sse: an ``EventSource`` for Python that reconnects by itself.

When the server ends a stream (``max_stream_lifetime_s``, a restart) it reconnects with
``Last-Event-ID``, after the server's ``retry:`` hint (doubled: it backs off on every
reconnection). A bounded replay (``?until=``, ``?limit=``) ends with ``event: end``; a
reconnection past its end gets a 204, which requests-sse raises as ``InvalidStatusCodeError``.

    for event_id, event in follow("http://127.0.0.1:6927/edits"):
        print(event["_kafka"]["offset"], event)
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from requests_sse import EventSource, InvalidStatusCodeError


def follow(url: str, last_event_id: str | None = None) -> Iterator[tuple[str, Any]]:
    """Yield ``(id, event)`` for each message; return when a bounded replay is done."""
    try:
        with EventSource(url, latest_event_id=last_event_id, timeout=30) as source:
            for event in source:
                if event.type == "message":
                    yield event.last_event_id, json.loads(event.data)
                elif event.type == "end":  # the replay is complete: don't reconnect
                    return
                # "reset" tells where a resume could not start; "error" ends the stream
                # (requests-sse then reconnects). Id-only frames never show: they carry no data.
    except InvalidStatusCodeError as error:
        if error.status_code != 204:  # 204: nothing left after this id
            raise
