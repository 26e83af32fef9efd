"""A Python consumer that survives restarts: it resumes where it stopped, exactly.

    pip install '.[client]'          # requests and requests-sse (from a checkout)
    python examples/client.py http://127.0.0.1:8000/my-topic
    # Ctrl-C, produce more, start it again: it continues after the last event it handled.

The position is the server's event id (every partition's next offset). It is saved to a file
after each event is handled, and sent back as ``Last-Event-ID`` on every (re)connection —
by requests-sse within a run, and from the file across runs. A crash between handling an
event and saving its id replays that one event; nothing is ever skipped.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from datetime import timedelta
from pathlib import Path

import requests
from requests_sse import EventSource, InvalidStatusCodeError, MessageEvent

URL = (
    sys.argv[1]
    if len(sys.argv) > 1
    else os.environ.get(
        "EXAMPLE_URL", f"http://127.0.0.1:{os.environ.get('PORT', '8000')}/my-topic"
    )
)
STATE = Path(os.environ.get("EXAMPLE_STATE_FILE", ".kafkasse-last-event-id"))


def load_last_id() -> str | None:
    try:
        return STATE.read_text().strip() or None
    except FileNotFoundError:
        return None


def save_last_id(event_id: str) -> None:
    """Write-then-rename: the file always holds a whole id, even if we die mid-write."""
    scratch = STATE.with_suffix(".tmp")
    scratch.write_text(event_id)
    os.replace(scratch, STATE)


def handle(event: MessageEvent) -> None:
    """Your work goes here."""
    print(json.loads(event.data), flush=True)


def run() -> None:
    backoff = 1.0
    while True:
        last_id = load_last_id()
        print(f"connecting to {URL} from {last_id or 'now'}", file=sys.stderr)
        try:
            with EventSource(
                URL,
                latest_event_id=last_id,
                timeout=60,  # > the server's heartbeat: silence this long means it is gone
                reconnection_time=timedelta(seconds=1),
                max_connect_retry=5,
            ) as source:
                backoff = 1.0
                for event in source:
                    if event.type == "error":
                        # The server ended the stream with an error; its id is where to resume.
                        print(f"server error: {event.data}", file=sys.stderr)
                    elif event.type == "reset":
                        print(f"resume point moved: {event.data}", file=sys.stderr)
                    else:
                        handle(event)
                    if event.last_event_id:
                        save_last_id(event.last_event_id)
        except InvalidStatusCodeError as error:
            response = error.response
            status = response.status_code if response is not None else 0
            if status not in (500, 502, 503, 504):
                # 400 (a saved id the server refuses) or 404 (no such topic): retrying won't help.
                sys.exit(f"refused with {status}: {response.text if response is not None else ''}")
        except requests.RequestException as error:
            print(f"connection lost: {error}", file=sys.stderr)
        time.sleep(backoff)
        backoff = min(backoff * 2, 30)


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        run()
