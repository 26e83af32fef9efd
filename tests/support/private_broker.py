"""A kafka-local broker of a test module's own, on a free port (the session's is shared).

Used where a test stops its broker (outages) or needs a second Kafka cluster (cursor ids
across clusters). A start costs about 8 s: one per test module, module-scoped.
"""

from __future__ import annotations

import contextlib
import os
import random
import socket
import subprocess
from collections.abc import Iterator

from tests.support.servers import ROOT

KAFKA_LOCAL = ROOT / "scripts" / "kafka-local"


def _ephemeral_ports() -> range:
    """The ports the kernel gives outgoing connections (and ``free_port``)."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as ports:
            low, high = (int(part) for part in ports.read().split())
    except (OSError, ValueError):
        low, high = 32768, 60999
    return range(low, high + 1)


def port_block_below_ephemeral(size: int = 2) -> int:
    """A port P with P..P+size-1 free, below the ephemeral range: while the broker is stopped
    or starting, an outgoing connection of any process on the machine may take an ephemeral
    port as its own, and the broker could not bind it (seen in 2 of 2 outages of 30 s, and
    under parallel test workers)."""
    ephemeral = _ephemeral_ports()
    for _ in range(1000):
        port = random.randrange(10_000, min(ephemeral.start, 32_000) - size)
        try:
            with contextlib.ExitStack() as probes:
                for offset in range(size):
                    probe = probes.enter_context(socket.socket())
                    probe.bind(("127.0.0.1", port + offset))
            return port
        except OSError:
            continue
    raise RuntimeError(f"no {size} free ports in a row below the ephemeral range")


class PrivateBroker:
    """A second kafka-local broker (port P, controller P+1) that tests may stop and start again."""

    def __init__(self) -> None:
        self.port = port_block_below_ephemeral(2)
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
        """Stop the broker, keeping its data for ``start(keep_data=True)``."""
        subprocess.run([str(KAFKA_LOCAL), "stop"], env=self.env, check=False, capture_output=True)

    def remove(self) -> None:
        """Stop the broker and delete its run folder: a test's broker leaves nothing behind."""
        subprocess.run([str(KAFKA_LOCAL), "purge"], env=self.env, check=False, capture_output=True)


@contextlib.contextmanager
def running_private_broker() -> Iterator[PrivateBroker]:
    """A started private broker, removed (stopped, its run folder deleted) afterwards."""
    broker = PrivateBroker()
    broker.start()
    try:
        yield broker
    finally:
        broker.remove()
