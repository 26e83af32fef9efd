"""Real servers for tests: gevent's WSGIServer or gunicorn with gevent workers, each in a
subprocess on a free 127.0.0.1 port, stopped at the end of the test (and by themselves if
the test run dies)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, process: subprocess.Popen, timeout_s: float = 20) -> None:
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


class Server:
    """A running server process; ``url`` is its base URL."""

    def __init__(self, process: subprocess.Popen, port: int, log: Any = None) -> None:
        self.process = process
        self.port = port
        self._log = log
        self.url = f"http://127.0.0.1:{port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 30) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        if self._log is not None:
            self._log.close()
            self._log = None
        return self.process.returncode

    def output(self) -> str:
        if self.process.stdout is None:
            return ""
        return self.process.stdout.read() or ""


def die_with_parent() -> None:
    """In a child before ``exec``: SIGTERM it when the test process dies (Linux), so a
    crashed test run leaves no server behind. Pass as ``preexec_fn``."""
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, int(signal.SIGTERM), 0, 0, 0)


def spawn_server(
    args: list[str],
    port: int,
    log_path: Path | None,
    env: dict[str, str] | None = None,
    stop_with_parent: bool = False,
    python: Path | str = sys.executable,
) -> Server:
    """Start a server process with the repository on its path; wait until it listens.

    :param stop_with_parent: SIGTERM it if the test process dies (for servers that have no
        watchdog of their own, such as the CLI's).
    :param python: the interpreter (another virtualenv's, to run without some packages).
    """
    environment = dict(os.environ)
    environment["PYTHONPATH"] = str(ROOT) + os.pathsep + environment.get("PYTHONPATH", "")
    environment.update(env or {})
    out = open(log_path, "w") if log_path else None  # noqa: SIM115 (closed by Server.stop)
    process = subprocess.Popen(
        [str(python), *args],
        cwd=ROOT,
        env=environment,
        stdout=out or subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
        preexec_fn=die_with_parent if stop_with_parent else None,
    )
    wait_for_port(port, process)
    return Server(process, port, out)


def start_gevent_server(
    config: dict[str, Any], log_path: Path | None = None, port: int | None = None
) -> Server:
    """tests/support/serve.py: gevent's WSGIServer, patched, with the app ``config`` builds."""
    port = port or free_port()
    args = [
        "-m",
        "tests.support.serve",
        "--port",
        str(port),
        "--parent-pid",
        str(os.getpid()),
        "--config",
        json.dumps(config),
    ]
    return spawn_server(args, port, log_path)


def start_gunicorn(
    app: str,
    workers: int = 1,
    extra_args: list[str] | None = None,
    env: dict[str, str] | None = None,
    log_path: Path | None = None,
    port: int | None = None,
) -> Server:
    """``gunicorn -k gevent`` serving ``app`` (``module:callable``)."""
    port = port or free_port()
    args = [
        "-m",
        "gunicorn",
        "-k",
        "gevent",
        "-w",
        str(workers),
        "-b",
        f"127.0.0.1:{port}",
        "--graceful-timeout",
        "10",
        "--timeout",
        "60",
        *(extra_args or []),
        app,
    ]
    return spawn_server(args, port, log_path, env)


def broker_sockets(pid: int, broker_port: int, established_only: bool = False) -> set[str]:
    """The socket inodes of process ``pid``'s TCP connections to the broker (one per
    connection, in any state unless ``established_only``), read from /proc."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    found = set()
    for table in ("tcp", "tcp6"):
        try:
            lines = Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            remote_port = int(fields[2].split(":")[1], 16)
            wanted_state = fields[3] == "01" or not established_only
            if remote_port == broker_port and fields[9] in inodes and wanted_state:
                found.add(fields[9])
    return found


def broker_connections(pid: int, broker_port: int) -> int:
    """Established TCP connections from process ``pid`` to the broker."""
    return len(broker_sockets(pid, broker_port, established_only=True))


def start_cli(args: list[str], env: dict[str, str] | None = None, log_path: Any = None) -> Server:
    """``python -m kafkasse_wsgi serve`` with ``args``, on a free port unless the env names one."""
    if env and "KAFKASSE_PORT" in env:
        port = int(env["KAFKASSE_PORT"])
    else:
        port = free_port()
        args = [*args, "--port", str(port)]
    return spawn_server(["-m", "kafkasse_wsgi", "serve", *args], port, log_path, env)
