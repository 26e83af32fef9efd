"""Who may open a stream now: per-process and per-client limits on open streams.

Every open stream holds a connection, a queue and formatted events, and a stream that
resumes further back its own Kafka consumer (sockets, buffers) until it reaches the shared
tail, so a worker must be able to say no before it builds one. The counts are per process,
like the streams themselves: with N gunicorn workers the process limit applies to each.

The client is :attr:`~kafkasse_wsgi._request.StreamRequest.client_address`: the connection's
address, or behind ``trusted_proxies`` the address the outermost trusted proxy saw; IPv6
clients are counted by their /64.
"""

from __future__ import annotations

import collections
import ipaddress

from .errors import RETRY_AFTER_S, TooManyStreamsError
from .options import Options

_open_total = 0
_open_by_client: collections.Counter[str] = collections.Counter()


class Ticket:
    """One admitted stream; ``release()`` (idempotent) gives its place back."""

    __slots__ = ("_client", "_released")

    def __init__(self, client: str) -> None:
        self._client = client
        self._released = False

    def release(self) -> None:
        global _open_total
        if self._released:
            return
        self._released = True
        _open_total -= 1
        _open_by_client[self._client] -= 1
        if _open_by_client[self._client] <= 0:
            del _open_by_client[self._client]


def admit(client: str, options: Options) -> Ticket:
    """Take a place for a new stream, or raise :class:`TooManyStreamsError` (503 or 429).

    :param client: the client's address, as the request value says.
    """
    global _open_total
    if options.max_streams is not None and _open_total >= options.max_streams:
        raise TooManyStreamsError(
            "this server holds as many streams as it can; try again later",
            status=503,
            retry_after_s=RETRY_AFTER_S,
        )
    client = client_key(client)
    limit = options.max_streams_per_client
    if limit is not None and not (options.count_private_clients or _is_global(client)):
        limit = None  # perhaps a proxy not yet trusted, with every client behind it
    if limit is not None and _open_by_client[client] >= limit:
        raise TooManyStreamsError(
            f"too many open streams from this client (at most {limit})",
            status=429,
            retry_after_s=RETRY_AFTER_S,
        )
    _open_total += 1
    _open_by_client[client] += 1
    return Ticket(client)


def client_key(client: str) -> str:
    """What per-client limits count: the address; for IPv6 its /64, which one client (a
    home, a phone) holds whole and may spread its connections over."""
    try:
        address = ipaddress.ip_address(client)
    except ValueError:
        return client
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return client


def _is_global(client: str) -> bool:
    """Whether ``client`` (an address or a /64) is on the internet (text that is neither
    counts as global)."""
    try:
        return ipaddress.ip_network(client, strict=False).is_global
    except ValueError:
        return True
