"""How many connections and streams one serve process can hold, from its file limit.

Every client connection is a file descriptor, and so is every Kafka connection, log file and
the listening socket. A process out of descriptors cannot ``accept()``, and neither can one
whose connection pool is full: new connections then wait in the listen backlog without an
answer (an ``EventSource`` in that state never retries). So the serve command sizes its
bounds from ``RLIMIT_NOFILE``, each below the next:

- ``streams``: the default ``max_streams``; a stream past it gets a 503 with ``Retry-After``.
- ``connections``: the connection pool (gevent's ``Pool``, gunicorn's ``worker_connections``):
  the streams plus headroom for connections that are not streams (refusals, probes, requests
  still sending their headers), so the pool is never the bound a stream meets.
- the file limit: the connections plus a reserve for Kafka connections (hubs, private
  consumers, metadata look-ups) and files.

Each gunicorn worker is a process with the same limit, so each gets the same bounds.
"""

from __future__ import annotations

import dataclasses
import resource

#: Part of the file limit kept for everything but client connections, and its floor.
RESERVE_FRACTION = 0.2
MIN_RESERVE = 64
#: Part of the connections kept for those that are not streams, and its floor.
HEADROOM_FRACTION = 0.05
MIN_HEADROOM = 16
#: The serve command's default ``max_streams_per_client``, for clients at global addresses
#: (``count_private_clients=False``): a browser opens a handful, a NAT of many users more.
STREAMS_PER_CLIENT = 100
#: Taken as the limit when the process has none.
UNLIMITED_FILES = 1 << 20


@dataclasses.dataclass(frozen=True)
class Capacity:
    """The bounds of one process with ``file_limit`` descriptors."""

    file_limit: int
    connections: int
    streams: int

    @classmethod
    def for_files(cls, file_limit: int) -> Capacity:
        reserve = max(MIN_RESERVE, int(file_limit * RESERVE_FRACTION))
        connections = max(1, file_limit - reserve)
        headroom = max(MIN_HEADROOM, int(connections * HEADROOM_FRACTION))
        return cls(file_limit, connections, max(1, connections - headroom))

    def connections_for(self, max_streams: int | None) -> int:
        """The pool for ``max_streams`` (set by hand, perhaps beyond the files): never below
        the streams plus headroom, so a stream past ``max_streams`` still gets its 503."""
        if max_streams is None:
            return self.connections
        headroom = max(MIN_HEADROOM, int(max_streams * HEADROOM_FRACTION))
        return max(self.connections, max_streams + headroom)


def file_limit() -> int:
    """This process's soft ``RLIMIT_NOFILE`` (what ``ulimit -n`` says)."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return UNLIMITED_FILES if soft == resource.RLIM_INFINITY else int(soft)


def this_process() -> Capacity:
    return Capacity.for_files(file_limit())
