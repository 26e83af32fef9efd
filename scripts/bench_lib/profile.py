"""Where the worker's time goes: py-spy samples the gunicorn worker during (b) (one stream
replaying the topic) or, with ``Recorder``, during any other run (the shared tail's, (i));
the collapsed stacks are summarised as self and inclusive shares."""

from __future__ import annotations

import collections
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from .procs import ROOT
from .streams import single_stream


def py_spy() -> str | None:
    local = Path(sys.executable).with_name("py-spy")
    return str(local) if local.exists() else shutil.which("py-spy")


def profile_single_stream(
    port: int, worker_pid: int, topic: str, messages: int, out_dir: Path, top: int = 25
) -> dict[str, Any]:
    with Recorder(worker_pid, out_dir / "profile-b.txt", top) as recorder:
        result = single_stream(port, worker_pid, topic, messages)
    summary = recorder.summary
    if "skipped" not in summary:
        summary["eps_while_profiled"] = result["eps"]
    return summary


class Recorder:
    """py-spy on ``pid`` for the duration of a ``with`` block; ``summary`` afterwards holds
    the self and inclusive shares (or ``skipped`` and why)."""

    def __init__(self, pid: int, raw: Path, top: int = 25) -> None:
        self.pid, self.raw, self.top = pid, raw, top
        self.summary: dict[str, Any] = {}
        self._process: subprocess.Popen[str] | None = None

    def __enter__(self) -> Recorder:
        spy = py_spy()
        if spy is None:
            self.summary = {"skipped": "py-spy is not installed (pip install py-spy)"}
            return self
        self.raw.unlink(missing_ok=True)
        self._process = subprocess.Popen(
            [
                spy,
                "record",
                "--pid",
                str(self.pid),
                "--rate",
                "200",
                "--format",
                "raw",
                "--function",
                "--output",
                str(self.raw),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        return self

    def __exit__(self, *exc: object) -> None:
        if self._process is None:
            return
        self._process.send_signal(signal.SIGINT)
        try:
            _, err = self._process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self._process.kill()
            _, err = self._process.communicate()
        if not self.raw.exists():
            self.summary = {"skipped": f"py-spy produced no profile: {err.strip()[-500:]}"}
            return
        self.summary = summarise(self.raw.read_text(), self.top)
        self.summary["raw"] = str(self.raw)


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
    for marker in ("site-packages/", f"{ROOT}/", "lib/python3"):
        if marker in where:
            where = where.split(marker, 1)[1]
    return f"{name} ({where})" if where else name
