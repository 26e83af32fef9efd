"""pywikibot's ``EventStreams``, the client of Wikimedia bot authors, on a kafkasse server.

pywikibot needs a config folder, even offline: ``PYWIKIBOT_DIR`` naming a folder that holds
an empty ``user-config.py``. Its URL comes from a site whose family names the EventStreams
host, or from ``url=`` (then ``since=`` is ignored: put it in the URL). It reads through
requests-sse, so it reconnects with ``Last-Event-ID`` by itself; to resume from an id of
your own, pass ``latest_event_id=``. It yields the events' data only: the ids come through
requests-sse's ``on_message`` hook. It does not know ``event: end``: after a bounded replay it
reconnects once, gets the 204 and raises ``InvalidStatusCodeError``.

    site = kafkasse_site("http://127.0.0.1:6927")
    for event_id, change in follow(site, "edits", since="2026-11-26T10:00:00Z"):
        print(change["_kafka"]["partition"], change)
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from typing import Any

import pywikibot
from pywikibot import family
from pywikibot.comms.eventstreams import EventStreams
from requests_sse import InvalidStatusCodeError, MessageEvent


def kafkasse_site(host: str) -> Any:
    """A site whose family points EventStreams at ``host`` (``http://127.0.0.1:6927``).

    ``BaseSite``: an ``APISite`` would ask a wiki's API for its user at once.
    """
    netloc = host.split("://", 1)[-1]

    class KafkaSSEFamily(family.Family):
        name = "kafkasse_" + netloc.replace(".", "_").replace(":", "_")  # a site per server
        langs = {"kafkasse": netloc}

        def eventstreams_host(self, code: str) -> str:
            return host

        def eventstreams_path(self, code: str) -> str:
            return ""

    return pywikibot.Site("kafkasse", fam=KafkaSSEFamily(), interface="BaseSite")


def follow(site: Any, streams: str | None = None, **options: Any) -> Iterator[tuple[str, Any]]:
    """Yield ``(id, change)`` for each message of ``streams`` (topics, comma-separated).

    ``options``: ``since=``, ``url=``, ``latest_event_id=`` (to resume), ``retry=`` (ms)...
    """
    last: deque[MessageEvent] = deque(maxlen=1)
    stream = EventStreams(site=site, streams=streams, on_message=last.append, **options)
    try:
        for change in stream:
            yield last[0].last_event_id, change
    except InvalidStatusCodeError as error:
        if error.status_code != 204:  # 204: a bounded replay with nothing left
            raise
