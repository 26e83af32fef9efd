"""Node's ``eventsource`` package (npm) as a second real client, run as a subprocess."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

NODE_DIR = Path(__file__).resolve().parent / "node"
NODE = shutil.which("node")


def node_client_available() -> bool:
    return NODE is not None and (NODE_DIR / "node_modules" / "eventsource").is_dir()


def start_node_client(
    url: str,
    max_events: int,
    timeout_ms: int,
    last_event_id: str | None = None,
    headers: dict[str, str] | None = None,
) -> subprocess.Popen:
    """:param headers: sent with every request (e.g. ``Authorization``)."""
    args = [NODE or "node", str(NODE_DIR / "es_client.mjs"), url, str(max_events), str(timeout_ms)]
    if last_event_id:
        args.append(last_event_id)
    env = dict(os.environ)
    if headers:
        env["ES_HEADERS"] = json.dumps(headers)
    return subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )


def records_of(process: subprocess.Popen, timeout_s: float) -> list[dict[str, Any]]:
    out, _ = process.communicate(timeout=timeout_s)
    return [json.loads(line) for line in out.splitlines() if line.strip()]
