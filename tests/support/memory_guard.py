"""A ceiling on the test process's memory while a test runs something that could run away.

A filter that builds gigabytes must fail its test with a :class:`MemoryError`, not swap the
shared machine: :func:`memory_guard` lowers ``RLIMIT_DATA`` (heap and anonymous mappings,
which is where Python allocates) to what the process uses now plus a margin, and puts the
old limit back after.
"""

from __future__ import annotations

import contextlib
import resource
from collections.abc import Iterator


def data_bytes() -> int:
    """The process's data segment now (``VmData``), in bytes."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmData:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmData in /proc/self/status")


@contextlib.contextmanager
def memory_guard(margin_bytes: int) -> Iterator[None]:
    soft, hard = resource.getrlimit(resource.RLIMIT_DATA)
    ceiling = data_bytes() + margin_bytes
    if hard != resource.RLIM_INFINITY:
        ceiling = min(ceiling, hard)
    resource.setrlimit(resource.RLIMIT_DATA, (ceiling, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_DATA, (soft, hard))
