"""A kafka-local broker of a test module's own, on a free port (the session's is shared).

Used where a test stops its broker (outages) or needs a second Kafka cluster (cursor ids
across clusters). A start costs about 8 s: one per test module, module-scoped.
"""

from __future__ import annotations

import os
import socket
import subprocess

from tests.support.servers import ROOT, free_port

KAFKA_LOCAL = ROOT / "scripts" / "kafka-local"


class PrivateBroker:
    """A second kafka-local broker on a free port that tests may stop and start again."""

    def __init__(self) -> None:
        while True:
            self.port = free_port()
            try:
                with socket.socket() as probe:
                    probe.bind(("127.0.0.1", self.port + 1))  # the controller's port
                break
            except OSError:
                continue
        self.env = {k: v for k, v in os.environ.items() if k != "KAFKA_BOOTSTRAP_SERVERS"}
        self.env["KAFKA_PORT"] = str(self.port)
        self.bootstrap = f"127.0.0.1:{self.port}"

    def start(self, keep_data: bool = False) -> None:
        env = {**self.env, "KAFKA_KEEP_DATA": "1" if keep_data else "0"}
        result = subprocess.run(
            [str(KAFKA_LOCAL), "start"], env=env, capture_output=True, text=True
        )
        assert result.returncode == 0, result.stderr

    def stop(self) -> None:
        subprocess.run([str(KAFKA_LOCAL), "stop"], env=self.env, check=False, capture_output=True)
