"""Decoding a hub's records once, for every client: the event's JSON text of each.

The hub runs the deserializer for all its clients (it is part of the hub's key, see
:mod:`~kafkasse_wsgi._tail.registry`); nothing here is any one stream's (its filter and
ids are applied per client, from the ring). A record that cannot be deserialized is kept
with no text: every client skips it, and counts it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from .._message import (
    KafkaMessage,
    default_event_data,
    deserialize,
    direct_of,
    serialize_message,
)
from .._processing_slot import call_with_slot_lent
from ..errors import DeserializationError
from ..log import PACKAGE_LOGGER
from .ring import SharedRecord

log = logging.getLogger(PACKAGE_LOGGER)


def decode_records(
    polled: dict[Any, list[Any]],
    deserializer: Callable[[KafkaMessage], KafkaMessage | None] | None,
) -> list[SharedRecord]:
    """Each record of one poll, in order, with its event's JSON text (or ``None``).

    Called holding a processing slot; a registry's deserializer that has to fetch a schema
    lends it out meanwhile."""
    direct = direct_of(deserializer)
    records = []
    for batch in polled.values():
        for record in batch:
            try:
                if deserializer is None:
                    data: str | None = default_event_data(record)
                elif direct is not None:  # the registry's: it may wait for a schema
                    data = (
                        direct.event_data(record)
                        if direct.ready(record)
                        else call_with_slot_lent(direct.event_data, record)
                    )
                else:
                    data = serialize_message(
                        deserialize(deserializer, KafkaMessage.from_record(record)).message
                    )
            except DeserializationError as exc:
                log.warning(
                    "shared tail: skipping %s/%d@%d: %s",
                    record.topic,
                    record.partition,
                    record.offset,
                    exc,
                )
                data = None
            records.append(
                SharedRecord(record.topic, record.partition, record.offset, record.timestamp, data)
            )
    return records
