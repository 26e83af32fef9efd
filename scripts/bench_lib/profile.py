"""Where the worker's time goes during (b): py-spy samples the gunicorn worker while one
stream replays the topic; the collapsed stacks are summarised as self and inclusive shares."""

from __future__ import annotations

import collections
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from .streams import single_stream


def py_spy() -> str | None:
    local = Path(sys.executable).with_name("py-spy")
    return str(local) if local.exists() else shutil.which("py-spy")


def profile_single_stream(
    port: int, worker_pid: int, topic: str, messages: int, out_dir: Path, top: int = 25
) -> dict[str, Any]:
    spy = py_spy()
    if spy is None:
        return {"skipped": "py-spy is not installed (pip install py-spy)"}
    raw = out_dir / "profile-b.txt"
    recorder = subprocess.Popen(
        [
            spy,
            "record",
            "--pid",
            str(worker_pid),
            "--rate",
            "200",
            "--format",
            "raw",
            "--function",
            "--output",
            str(raw),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        result = single_stream(port, worker_pid, topic, messages)
    finally:
        recorder.send_signal(signal.SIGINT)
        try:
            _, err = recorder.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            recorder.kill()
            _, err = recorder.communicate()
    if not raw.exists():
        return {"skipped": f"py-spy produced no profile: {err.strip()[-500:]}"}
    summary = summarise(raw.read_text(), top)
    summary["eps_while_profiled"] = result["eps"]
    summary["raw"] = str(raw)
    return summary


def summarise(collapsed: str, top: int) -> dict[str, Any]:
    self_counts: collections.Counter[str] = collections.Counter()
    incl: collections.Counter[str] = collections.Counter()
    total = 0
    for line in collapsed.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_short(f) for f in stack.split(";")[1:]]  # drop the thread frame
        if not frames:
            continue
        total += count
        self_counts[frames[-1]] += count
        for frame in set(frames):
            incl[frame] += count
    pct = lambda c: round(100.0 * c / max(total, 1), 1)  # noqa: E731
    return {
        "samples": total,
        "self_top": [[name, pct(c)] for name, c in self_counts.most_common(top)],
        "inclusive_top": [[name, pct(c)] for name, c in incl.most_common(top * 2)],
    }


def _short(frame: str) -> str:
    """``func (/long/path/site-packages/kafka/x.py)`` → ``func (kafka/x.py)``."""
    name, _, where = frame.partition(" (")
    where = where.rstrip(")")
    for marker in ("site-packages/", "/work/main/", "lib/python3"):
        if marker in where:
            where = where.split(marker, 1)[1]
    return f"{name} ({where})" if where else name
