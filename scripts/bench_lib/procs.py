"""Process plumbing: free ports, the gunicorn server under test, /proc readings (CPU, RSS,
broker connections) and the load-client subprocess protocol."""

from __future__ import annotations

import json
import os
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import threading
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


def raise_nofile() -> int:
    """Raise this process's open-file limit to its hard limit (children inherit it): the load
    client holds a socket per stream, the orchestrator counts them. Returns the new limit."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


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
        return self.seconds() / max(time.monotonic() - self.t0, 1e-9)

    def seconds(self) -> float:
        """CPU seconds used since the meter started."""
        return cpu_seconds(self.pid) - self.cpu0


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

    def tail_status(self) -> list[dict[str, Any]] | None:
        """The worker's shared-tail hubs (``describe_hubs()``), or None without them."""
        return self._status("/_bench/tail")["hubs"]  # type: ignore[no-any-return]

    def memory_status(self) -> dict[str, Any]:
        """The worker's greenlets; with ``--patch tracemalloc``, what grew since the last call."""
        return self._status("/_bench/memory")

    def _status(self, path: str) -> dict[str, Any]:
        import urllib.request

        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=60) as answer:
            return json.loads(answer.read())  # type: ignore[no-any-return]

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
        stdout = self.process.stdout
        assert stdout is not None
        # Not communicate(timeout=…): it reads the raw pipe and would miss what readline()
        # already buffered (a quick client prints READY and its result together). Nor wait()
        # before reading: a result longer than the pipe's buffer (64 KB) would never end.
        box: list[str] = []
        reader = threading.Thread(target=lambda: box.append(stdout.read()), daemon=True)
        reader.start()
        reader.join(self.timeout_s + 30)
        if reader.is_alive():
            self.process.kill()
            reader.join(10)
        self.process.wait(10)
        out = box[0] if box else ""
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


class ClientFleet:
    """The load client as ``processes`` processes sharing ``spec["clients"]`` streams, so it
    can use more than one core; the results are merged as if one client had read them all.

    Latency percentiles of a fleet come from the merged ``latency_counts`` (0.1 ms steps).
    """

    def __init__(self, spec: dict[str, Any], processes: int = 1) -> None:
        clients = int(spec["clients"])
        processes = max(1, min(processes, clients))
        shares = [clients // processes + (i < clients % processes) for i in range(processes)]
        self.timeout_s = float(spec.get("timeout_s", 300))
        self.runs = [ClientRun({**spec, "clients": share}) for share in shares]

    def wait_ready(self) -> float:
        began = time.monotonic()
        for run in self.runs:
            run.wait_ready()
        return time.monotonic() - began

    def stop(self) -> None:
        """End every process's measuring window now (SIGUSR1); then ``result()``."""
        for run in self.runs:
            if run.process.poll() is None:
                run.process.send_signal(signal.SIGUSR1)

    def result(self) -> dict[str, Any]:
        return merge_results([run.result() for run in self.runs])

    def kill(self) -> None:
        for run in self.runs:
            run.kill()


def merge_results(results: list[dict[str, Any]]) -> dict[str, Any]:
    """One result of several client processes: counts add up, times take the longest."""
    total = lambda key: sum(r[key] for r in results)  # noqa: E731
    longest = lambda key: max(r[key] for r in results)  # noqa: E731
    out: dict[str, Any] = {
        "processes": len(results),
        "clients": total("clients"),
        "connected": total("connected"),
        "ready_s": longest("ready_s"),
        "errors": total("errors"),
        "error_samples": [e for r in results for e in r["error_samples"]][:5],
        "window_s": longest("window_s"),
        "window_events": total("window_events"),
        "window_eps": total("window_eps"),
        "stalled": total("stalled"),
        "total_events": total("total_events"),
        "max_gap_s": longest("max_gap_s"),
        "client_cpu": total("client_cpu"),
    }
    if any("latency_counts" in r for r in results):
        counts = merge_counts([r.get("latency_counts", {}) for r in results])
        out["latency_counts"] = counts
        out["latency_ms"] = percentiles_of_counts(counts)
    return out


def merge_counts(many: list[dict[str, int]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for counts in many:
        for key, count in counts.items():
            out[key] = out.get(key, 0) + count
    return out


def percentiles_of_counts(
    counts: dict[str, int], points: tuple[int, ...] = (50, 90, 99)
) -> dict[str, float]:
    """The client's ``percentiles`` (same rank rule) over value → count pairs."""
    pairs = sorted((float(key), count) for key, count in counts.items())
    n = sum(count for _, count in pairs)
    if not n:
        return {}
    out: dict[str, float] = {}
    for point in points:
        rank, seen = min(n - 1, int(n * point / 100)), 0
        for value, count in pairs:
            seen += count
            if seen > rank:
                out[f"p{point}"] = value
                break
    out.update(max=pairs[-1][0], min=pairs[0][0], n=n)
    return out
