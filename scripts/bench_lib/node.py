"""(c) The Node original, ``kafka-sse`` from npm, on the same topic and broker.

``npm install`` into ``.cache/node-kafka-sse`` on first use; its dependency node-rdkafka
compiles librdkafka from source, which takes a few minutes. A failed build is reported with
the tail of npm's log instead of a number.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from .procs import ROOT, free_port, peak_rss_bytes, wait_for_port
from .streams import single_stream

CACHE = ROOT / ".cache" / "node-kafka-sse"
PACKAGE = "kafka-sse@0.4.2"
NATIVE = CACHE / "node_modules" / "node-rdkafka" / "build" / "Release" / "node-librdkafka.node"
INSTALL_TIMEOUT_S = 1200


class NodeUnavailable(RuntimeError):
    pass


def ensure_installed() -> dict[str, Any]:
    node = shutil.which("node")
    if node is None or shutil.which("npm") is None:
        raise NodeUnavailable("node/npm not found on PATH")
    version = subprocess.run([node, "--version"], capture_output=True, text=True).stdout.strip()
    if (CACHE / "node_modules" / "kafka-sse").is_dir() and NATIVE.is_file():
        return {"node": version, "package": PACKAGE, "installed_now": False}
    CACHE.mkdir(parents=True, exist_ok=True)
    if not (CACHE / "package.json").exists():
        (CACHE / "package.json").write_text('{"name":"kafkasse-bench-node","private":true}\n')
    log = CACHE / "npm-install.log"
    print(
        f"bench: npm install {PACKAGE} into {CACHE} (node-rdkafka builds librdkafka: "
        f"a few minutes; log: {log})",
        flush=True,
    )
    with open(log, "w") as out:
        try:
            done = subprocess.run(
                ["npm", "install", "--no-audit", "--no-fund", PACKAGE],
                cwd=CACHE,
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=INSTALL_TIMEOUT_S,
            )
        except subprocess.TimeoutExpired as exc:
            raise NodeUnavailable(f"npm install timed out after {INSTALL_TIMEOUT_S}s") from exc
    if done.returncode != 0 or not NATIVE.is_file():
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-25:])
        raise NodeUnavailable(f"npm install {PACKAGE} failed (exit {done.returncode}):\n{tail}")
    return {"node": version, "package": PACKAGE, "installed_now": True}


def node_stream(bootstrap: str, topic: str, messages: int, log_dir: Path) -> dict[str, Any]:
    info = ensure_installed()
    port = free_port()
    env = dict(
        os.environ, BENCH_BOOTSTRAP=bootstrap, PORT=str(port), NODE_PATH=str(CACHE / "node_modules")
    )
    with open(log_dir / "node-server.log", "w") as log:
        server = subprocess.Popen(
            ["node", str(Path(__file__).with_name("node_server.js"))],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_for_port(port, server)
            result = single_stream(port, server.pid, topic, messages)
            result["server_peak_rss_mb"] = peak_rss_bytes(server.pid) / 2**20
        finally:
            server.terminate()
            try:
                server.wait(10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(5)
    return {**info, **result}
