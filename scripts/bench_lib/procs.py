"""Process plumbing: free ports, the gunicorn server under test, /proc readings (CPU, RSS,
broker connections) and the load-client subprocess protocol."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def env_with_root(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra or {})
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, process: subprocess.Popen, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"server on port {port} did not start in {timeout_s}s")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * PAGE


def peak_rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


def tcp_connections_to(pid: int, remote_port: int) -> int:
    """Established TCP connections of ``pid`` whose remote end is ``remote_port``."""
    inodes = set()
    fd_dir = f"/proc/{pid}/fd"
    for fd in os.listdir(fd_dir):
        try:
            target = os.readlink(f"{fd_dir}/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    count = 0
    for table in ("tcp", "tcp6"):
        try:
            with open(f"/proc/{pid}/net/{table}") as f:
                next(f)
                for line in f:
                    parts = line.split()
                    remote, state, inode = parts[2], parts[3], parts[9]
                    if (
                        state == "01"
                        and inode in inodes
                        and int(remote.rsplit(":", 1)[1], 16) == (remote_port)
                    ):
                        count += 1
        except FileNotFoundError:
            continue
    return count


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


class CpuMeter:
    """CPU share of one process over an interval (1.0 = one core busy)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.cpu0 = cpu_seconds(pid)
        self.t0 = time.monotonic()

    def read(self) -> float:
        return (cpu_seconds(self.pid) - self.cpu0) / max(time.monotonic() - self.t0, 1e-9)


class Gunicorn:
    """``gunicorn -k gevent -w 1`` serving ``scripts.bench_lib.app:app`` on a free port."""

    def __init__(
        self,
        bootstrap: str,
        options: dict[str, Any] | None = None,
        patch: str = "",
        log_dir: Path | None = None,
    ) -> None:
        self.port = free_port()
        self._pidfile = Path(tempfile.mkstemp(prefix="bench-worker-", suffix=".pid")[1])
        env = env_with_root(
            {
                "BENCH_BOOTSTRAP": bootstrap,
                "BENCH_OPTIONS": json.dumps(options or {}),
                "BENCH_PATCH": patch,
                "BENCH_WORKER_PIDFILE": str(self._pidfile),
            }
        )
        log_dir = log_dir or Path(tempfile.gettempdir())
        self.log_path = log_dir / f"gunicorn-{self.port}.log"
        self._log = open(self.log_path, "w")  # noqa: SIM115
        self.process = subprocess.Popen(
            [
                PYTHON,
                "-m",
                "gunicorn",
                "-c",
                str(ROOT / "scripts/bench_lib/gunicorn_conf.py"),
                "-b",
                f"127.0.0.1:{self.port}",
                "scripts.bench_lib.app:app",
            ],
            cwd=ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        wait_for_port(self.port, self.process)
        deadline = time.monotonic() + 20
        while not self._pidfile.read_text().strip():
            if time.monotonic() > deadline:
                raise TimeoutError("gunicorn worker did not report its pid")
            time.sleep(0.05)
        self.worker_pid = int(self._pidfile.read_text())

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self._log.close()
        self._pidfile.unlink(missing_ok=True)

    def __enter__(self) -> Gunicorn:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class ClientRun:
    """The load client (``client.py``) in its own process; ``spec`` says what to do.

    It prints ``READY`` once every stream has its response headers (the server has
    positioned every consumer), then one JSON line with the results.
    """

    def __init__(self, spec: dict[str, Any]) -> None:
        self.process = subprocess.Popen(
            [PYTHON, "-m", "scripts.bench_lib.client", json.dumps(spec)],
            cwd=ROOT,
            env=env_with_root(),
            stdout=subprocess.PIPE,
            text=True,
        )
        self.timeout_s = float(spec.get("timeout_s", 300))

    def wait_ready(self) -> float:
        assert self.process.stdout is not None
        began = time.monotonic()
        line = self.process.stdout.readline()
        if line.strip() != "READY":
            self.process.wait(10)
            raise RuntimeError(f"client failed before READY: {line!r}")
        return time.monotonic() - began

    def result(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        # Not communicate(timeout=…): it reads the raw pipe and would miss what readline()
        # already buffered (a quick client prints READY and its result together).
        try:
            self.process.wait(timeout=self.timeout_s + 30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        out = self.process.stdout.read()
        lines = [line for line in out.splitlines() if line.startswith("{")]
        if not lines:
            raise RuntimeError(f"client gave no result (exit {self.process.returncode})")
        return json.loads(lines[-1])  # type: ignore[no-any-return]

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(5)


def run_client(spec: dict[str, Any]) -> dict[str, Any]:
    run = ClientRun(spec)
    try:
        run.wait_ready()
        return run.result()
    finally:
        run.kill()
