"""Debian's nginx as a test reverse proxy: ``examples/deploy/nginx.conf`` itself, with the
upstream servers and the listen address of the test, run in the foreground from a temporary
directory (its pid, logs and buffers there) on a free 127.0.0.1 port."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
from pathlib import Path

from tests.support.servers import ROOT, die_with_parent, free_port, wait_for_port

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
SITE_CONFIG = ROOT / "examples" / "deploy" / "nginx.conf"

_UPSTREAM_SERVER = re.compile(r"^(\s*)server 127\.0\.0\.1:\d+( [^;]*)?;\n", re.MULTILINE)


def nginx_available() -> bool:
    return os.path.exists(NGINX)


def site_config(
    upstream_ports: list[int], port: int, overrides: dict[str, str] | None = None
) -> str:
    """The example's site config with these upstream ports and this listen port.

    ``overrides`` replaces the value of a directive (``{"proxy_read_timeout": "3s"}``), for the
    tests whose subject is that setting.
    """
    text = SITE_CONFIG.read_text()
    template = _UPSTREAM_SERVER.findall(text)
    if not template:
        raise ValueError(f"no upstream server lines in {SITE_CONFIG}")
    indent, params = template[0]
    servers = "".join(f"{indent}server 127.0.0.1:{p}{params};\n" for p in upstream_ports)
    text = _UPSTREAM_SERVER.sub("", text, count=len(template))
    text = text.replace("upstream kafkasse {\n", "upstream kafkasse {\n" + servers, 1)
    text, listens = re.subn(r"^(\s*)listen 80;", rf"\1listen 127.0.0.1:{port};", text, flags=re.M)
    if listens != 1:
        raise ValueError(f"expected one 'listen 80;' in {SITE_CONFIG}")
    for directive, value in (overrides or {}).items():
        text, count = re.subn(
            rf"^(\s*){directive} [^;]*;", rf"\1{directive} {value};", text, flags=re.M
        )
        if count != 1:
            raise ValueError(f"{directive} is not set once in {SITE_CONFIG}")
    return text


class Nginx:
    """``nginx -g 'daemon off;'`` with the example site in front of ``upstream_ports``."""

    def __init__(
        self, directory: Path, upstream_ports: list[int], overrides: dict[str, str] | None = None
    ) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        (directory / "site.conf").write_text(site_config(upstream_ports, self.port, overrides))
        temp_paths = "\n".join(
            f"    {kind}_temp_path {directory / kind};"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        # As root, nginx's worker would switch to www-data, which cannot enter pytest's tmp.
        user = "user root;\n" if os.geteuid() == 0 else ""
        (directory / "nginx.conf").write_text(
            f"{user}worker_processes 1;\n"
            f"pid {directory / 'nginx.pid'};\n"
            f"error_log {directory / 'error.log'} info;\n"
            "events { worker_connections 1024; }\n"
            "http {\n"
            f"    access_log {directory / 'access.log'};\n"
            f"{temp_paths}\n"
            f"    include {directory / 'site.conf'};\n"
            "}\n"
        )
        self.process: subprocess.Popen | None = None

    def start(self) -> Nginx:
        self.process = subprocess.Popen(
            [
                NGINX,
                "-p",
                str(self.directory),
                "-c",
                str(self.directory / "nginx.conf"),
                "-e",
                str(self.directory / "error.log"),
                "-g",
                "daemon off;",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent,
        )
        try:
            wait_for_port(self.port, self.process, timeout_s=10)
        except (RuntimeError, TimeoutError) as error:
            raise RuntimeError(f"nginx did not start: {self.error_log()[-2000:]}") from error
        return self

    def error_log(self) -> str:
        path = self.directory / "error.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def access_log(self) -> str:
        path = self.directory / "access.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        """Fast shutdown (SIGTERM): open client connections are closed."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)

    def __enter__(self) -> Nginx:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
