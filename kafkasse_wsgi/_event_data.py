"""How a stream's own pump turns a Kafka record into its event's data (what follows ``data:``).

The way is chosen once per stream, when its pump is made, so the per-record path tests
nothing it could know before:

- the fast path (no hook could change a message, no ``?filter=``): the value's own JSON text
  with ``_kafka`` appended (:func:`~kafkasse_wsgi._message.default_event_data`);
- filtered: the same text, for the events the request's ``?filter=`` passes; its verdicts
  are shared between the process's streams that read the same record;
- direct: a deserializer that makes the text itself (the schema registry's), when no hook or
  filter needs a :class:`~kafkasse_wsgi._message.KafkaMessage`;
- custom: through the user's hooks (the ``message`` handler, ``deserializer``, ``filterer``),
  then ``?filter=``.

What may wait (a hook, a schema fetched from a registry) runs with the pump's processing
slot lent out (:mod:`~kafkasse_wsgi._processing_slot`), so other streams work meanwhile.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from ._consumer import cluster_id_of
from ._filters import EventFilter, FilterEvaluationError, take_turn
from ._message import (
    KafkaMessage,
    default_deserializer,
    default_event_data,
    deserialize,
    direct_of,
    kafka_meta_of,
    parse_value,
    serialize_message,
)
from ._processing_slot import Slot
from ._protocol import StreamStats
from .errors import FilterError
from .options import Options


class RecordConverter:
    """A stream's way from a record to its event's data: :attr:`convert`.

    :param event_filter: the request's ``?filter=``, compiled (shared per process).
    :param consumer: the stream's consumer, only for its cluster's id: on the fast path,
        filter verdicts are shared between the streams reading the same record there.
    :param slot: the pump's hold on a processing slot, lent out while a hook may wait.
    :param stats: the stream's counters (filtered events, filter errors).
    """

    def __init__(
        self,
        options: Options,
        event_filter: EventFilter | None,
        consumer: Any,
        slot: Slot,
        stats: StreamStats,
        log: logging.Logger | logging.LoggerAdapter,
    ) -> None:
        self._event_filter = event_filter
        self._slot = slot
        self._stats = stats
        self._log = log
        self._deserializer = options.deserializer or default_deserializer
        self._filterer = options.filterer
        self._on_message: Callable[[KafkaMessage], Any] | None = options.kafka_event_handlers.get(
            "message"
        )
        # Without hooks that could change a message, the value's JSON text is reused as is.
        fast = (
            options.deserializer is None and options.filterer is None and self._on_message is None
        )
        #: A record's event data; ``None`` when it is dropped (by a filter or the filterer).
        #: Raises :class:`~kafkasse_wsgi.errors.DeserializationError` for a record to skip.
        self.convert: Callable[[Any], str | None]
        if not fast:
            self.convert = self._custom_event_data
        elif event_filter is not None:
            self.convert = self._filtered_event_data
        else:
            self.convert = default_event_data
        # A deserializer that makes the event's text itself (the schema registry's), when no
        # hook or filter needs a KafkaMessage: no second dump.
        self._direct = direct_of(options.deserializer)
        hooks = (options.filterer, self._on_message, event_filter)
        if self._direct is not None and hooks == (None, None, None):
            self.convert = self._direct_event_data
        # Filter results are shared between the streams of the process that read the same
        # record on the same cluster (the fast path only: the event is the record's).
        self._cluster = cluster_id_of(consumer) if fast else None

    def _passes_filter(self, event: Any, event_bytes: int | None = None) -> bool:
        """The request's ``?filter=`` on one decoded event; one that raises is dropped."""
        assert self._event_filter is not None
        try:
            keep = self._event_filter.matches(event, event_bytes)
        except FilterEvaluationError as exc:
            self._stats.filter_errors += 1
            self._log.debug("filter raised on an event, skipping it: %s", exc)
            keep = False
        take_turn(self._slot.lent)  # the slot is lent out while the others run
        if not keep:
            self._stats.events_filtered += 1
        return keep

    def _filtered_event_data(self, record: Any) -> str | None:
        """:func:`default_event_data` for the events the request's filter passes.

        The filter sees the value with ``_kafka``; a passing event's data is still its own
        JSON text with ``_kafka`` appended (no re-serialisation).
        """
        event_filter = self._event_filter
        assert event_filter is not None
        key = None
        if self._cluster is not None:
            key = (self._cluster, record.topic, record.partition, record.offset, record.timestamp)
            known = event_filter.known(key)
            if known is False:  # another stream evaluated it: not even decoded here
                self._stats.events_filtered += 1
                return None
            if known:
                return default_event_data(record)
        # Parsed for the filter only (no text kept): most events are dropped here, and one
        # that passes is made the fast path's way, its own text with _kafka appended.
        message = parse_value(record)
        if event_filter.sees_kafka_meta and isinstance(message, dict):
            message["_kafka"] = kafka_meta_of(record)  # ours replaces theirs, as on the way out
        passed = self._passes_filter(message, len(record.value or b""))
        if key is not None:
            event_filter.remember(key, passed)
        return default_event_data(record) if passed else None

    def _direct_event_data(self, record: Any) -> str | None:
        """The deserializer's own text of the event; the slot is lent while it would wait
        (a schema to fetch from a registry that may take its time)."""
        direct = self._direct
        assert direct is not None
        if direct.ready(record):
            return direct.event_data(record)
        with self._slot.lent():
            return direct.event_data(record)

    def _custom_event_data(self, record: Any) -> str | None:
        """Event data through the user's hooks; ``None`` when the filterer drops it.

        The hooks run with the processing slot lent out: one that waits (on a service, a
        database) lets the other streams work meanwhile.
        """
        with self._slot.lent():
            return self._through_hooks(record)

    def _through_hooks(self, record: Any) -> str | None:
        kafka_message = KafkaMessage.from_record(record)
        if self._on_message is not None:
            try:
                self._on_message(kafka_message)
            except Exception:  # a hook observes; like the other hooks, it can't end a stream
                self._log.warning("kafka_event_handlers['message'] raised", exc_info=True)
        kafka_message = deserialize(self._deserializer, kafka_message)
        if self._filterer is not None:
            try:
                keep = self._filterer(kafka_message)
            except Exception as exc:
                self._log.warning("filterer raised on %r: %r", kafka_message, exc)
                # Its text is the application's (a query, a credential): the log's, not the
                # client's.
                raise FilterError("the filterer failed on this message") from exc
            if not keep:
                self._stats.events_filtered += 1
                return None
        if self._event_filter is not None and not self._passes_filter(kafka_message.message):
            return None
        return serialize_message(kafka_message.message)
