"""The ports of the brokers a test module starts of its own lie below the kernel's ephemeral
range: while a JVM starts (seconds), any outgoing connection on the machine may take an
ephemeral port, and the broker could not bind it (seen under parallel test workers)."""

from __future__ import annotations

from tests.support.private_broker import _ephemeral_ports
from tests.test_secured_kafka import _free_port_block


def test_a_secured_brokers_port_block_lies_below_the_ephemeral_range():
    ephemeral = _ephemeral_ports()
    for _ in range(20):
        port = _free_port_block()
        assert port + 2 < ephemeral.start, (port, ephemeral)
