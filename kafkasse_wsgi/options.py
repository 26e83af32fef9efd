"""Everything a stream can be configured with, as one frozen, validated value.

The names follow the Node KafkaSSE options in Python spelling (``kafkaConfig`` →
``kafka_config``); the options of our own (heartbeats, queue and batch sizes) carry their unit
in the name. Validation happens once, at construction, and names the bad option.

This module is the table: each field with its meaning (the docstring, which the docs and
``serve --help`` read), default, check and text form. What the table names is beside it, in
``_options/``: the checks, text forms, defaults, rules between fields, unknown names,
lifecycle hooks and :class:`ResumePolicy`.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from ipaddress import IPv4Network, IPv6Network
from typing import TYPE_CHECKING, Any

from ._internal_topics import is_internal_topic
from ._options import fields as checks
from ._options import text as forms
from ._options.defaults import Defaults
from ._options.fields import Check, option
from ._options.hooks import KAFKA_EVENTS as KAFKA_EVENTS
from ._options.hooks import call_hook, event_handlers
from ._options.names import check_names
from ._options.resume_policy import RESUME_ACTIONS as RESUME_ACTIONS
from ._options.resume_policy import ResumePolicy, resume_policy
from ._options.rules import RULES
from ._options.text import FLOAT_OR_NONE, INT_OR_NONE, Text
from ._positions import ID_MODES as ID_MODES
from .errors import ConfigurationError

if TYPE_CHECKING:
    from ._message import KafkaMessage

    WSGIEnvironment = dict[str, Any]

#: ``allowed_topics``: a list of names, or ``(environ, topic) -> bool`` decided per request.
AllowedTopics = Iterable[str] | Callable[["WSGIEnvironment", str], bool] | None

#: ``trusted_proxies`` given as addresses and ranges, once validated.
TrustedNetworks = tuple[IPv4Network | IPv6Network, ...]

#: ``cors_origins``: ``"*"`` (any origin, without credentials) or the origins allowed.
CorsOrigins = str | Iterable[str] | None


@dataclasses.dataclass(frozen=True)
class Options(Defaults):
    """Options of one stream (or of every stream of a :class:`~kafkasse_wsgi.KafkaSSE` app).

    :param kafka_config: ``KafkaConsumer`` keyword arguments; librdkafka-style dotted keys of
        the Node original are translated (``metadata.broker.list``, ``client.id``,
        ``security.protocol``, ``sasl.*``, ``ssl.*``, ``default_topic_config:
        {"auto.offset.reset": …}``); an unknown key is an error. Defaults:
        ``bootstrap_servers="localhost:9092"``, ``client_id="KafkaSSE-<request id>"``,
        ``metadata_max_age_ms=15000`` (how soon added partitions join), ``fetch_max_bytes`` and
        ``max_partition_fetch_bytes`` 1 MB. Forced: ``group_id=None``,
        ``enable_auto_commit=False``, ``allow_auto_create_topics=False``.
        ``auto_offset_reset`` is read as ``resume_policy.too_old`` (``none`` means ``error``);
        the consumer itself runs with ``none``, so it never moves silently.
    :param allowed_topics: topic names clients may read, or a callable
        ``(environ, topic) -> bool``; ``None`` allows every topic except the ecosystem's
        own (``_*``, ``connect-configs``, ``*-changelog``, …: see ``internal_topics``); a
        list serves one of those only when it names it.
    :param logger: where to log; default ``logging.getLogger("kafkasse_wsgi")``. Every
        record carries ``request_id``.
    :param disable_sse_formatting: send JSON lines instead of SSE events.
    :param deserializer: ``(KafkaMessage) -> KafkaMessage`` that sets ``.message``; default:
        the value parsed as JSON, with the record's ``_kafka`` metadata added.
    :param filterer: ``(KafkaMessage) -> bool``; false drops the message.
    :param use_timestamp_for_id: event ids hold ``timestamp + 1`` instead of ``offset + 1``
        (the Node original's option; the same as ``id_mode="timestamp"``).
    :param id_mode: what event ids carry, one of :data:`ID_MODES`. ``cursor`` ids hold the
        offset and timestamp of every partition and the Kafka cluster id: a resume on the same
        cluster is exact by offset, on another (mirrored topics) it goes by timestamp and the
        client gets ``event: reset`` with reason ``cluster``.
    :param kafka_event_handlers: lifecycle hooks, see :data:`KAFKA_EVENTS`:
        ``connected(consumer)`` (``None`` on the shared tail), ``assigned(positions)``,
        ``message(kafka_message)``, ``error(exception)``, ``disconnected()``.
    :param connect_error_handler: ``(error, environ, start_response) -> iterable`` answering
        errors that happen before the stream started, instead of the JSON error response.
    :param idle_delay_ms: how long one poll waits for new data when there is none (default
        5000). A poll returns as soon as data arrives, so this is no latency floor; the Node
        original slept this long (100 ms) after every empty poll, which was one.
    :param heartbeat_interval_s: a comment is sent after this long without events.
    :param queue_size: formatted batches that may wait for a slow client before the pump
        stops polling (backpressure).
    :param queue_bytes: bytes of formatted events that may wait for a slow client; a poll
        also takes no more records than fit in ``queue_bytes / queue_size`` at the size of
        the last ones (every event's id lists every partition: with many partitions an event
        is kilobytes). With one fetch (``kafka_config``'s ``fetch_max_bytes``), this bounds a
        stream's memory whatever its partitions. A single larger event still passes, alone.
    :param batch_size: most records taken from one poll (``max_records``).
    :param retry_ms: ``retry:`` hint sent at the start of a stream; ``None`` sends none.
    :param resume_policy: where a stream goes when its offset is outside the partition, at
        a resume or mid-stream (retention or ``delete_records`` removed data it had not read):
        ``ResumePolicy(too_old=…, too_new=…)`` or
        ``{"too_old": "earliest"|"latest"|"error", "too_new": …}``. Always told
        (``event: reset``, at a resume also ``X-KafkaSSE-Reset``); ``error`` is a 410 at a
        resume, an ``event: error`` mid-stream.
    :param setup_timeout_s: bound on everything before the response starts (connecting,
        metadata, offset look-ups); past it the client gets a 503 with ``Retry-After``.

    Limits (``None`` means no limit):

    :param max_streams: open streams per process; more get 503 with ``Retry-After``.
        ``kafkasse-wsgi serve`` defaults it to what the file limit allows.
    :param cors_origins: origins whose browser pages may read streams (CORS): a list such
        as ``["https://app.example"]`` (those get ``Access-Control-Allow-Credentials``, so
        cookies work), or ``"*"`` for any origin (without credentials). ``None`` (default):
        no CORS headers, same-origin pages only.
    :param max_streams_per_client: open streams per client address (an IPv6 client's
        /64); more get 429. ``kafkasse-wsgi serve`` defaults it to 100.
    :param count_private_clients: whether ``max_streams_per_client`` counts clients at
        loopback, private and other non-global addresses. The serve command sets False beside
        its own ``max_streams_per_client`` of 100: behind a proxy not yet in
        ``trusted_proxies`` every client has the proxy's address, and that cap must not
        apply to them all.
    :param trusted_proxies: how many proxies in front of this server append to
        ``X-Forwarded-For``; the client address is the entry that many places from the right.
        0 (default) ignores the header and uses the connection's address. Or the proxies'
        addresses and CIDR ranges (a list, or text separated by commas): the header counts
        only when the connection comes from one of them, and the client is its rightmost
        entry that is not one of them.
    :param max_topics: distinct topics one request may name (400 beyond).
    :param max_partitions: partitions one stream may be assigned (400 beyond).
    :param max_last_event_id_bytes: longest ``Last-Event-ID`` accepted (400 beyond).
    :param max_stream_lifetime_s: a stream ends cleanly after about this long (minus up to
        ``lifetime_jitter`` of it, so streams opened together don't end together); the client
        resumes from its last id.
    :param lifetime_jitter: fraction of ``max_stream_lifetime_s`` taken off at random.
    :param reconnect_spread_ms: when the server ends a stream (lifetime, shutdown, slow
        client), its ``retry:`` hint is random in ``[0, reconnect_spread_ms]``: clients come
        back spread out instead of all at once.
    :param max_blocked_s: a client that has not taken any data for this long (its queue full,
        its socket not draining) gets its stream ended; it resumes from its last id.
    :param broker_outage_timeout_s: a stream whose consumer has had no broker connection for
        this long ends with ``event: error``. Shorter outages are ridden out: heartbeats go on
        and the stream continues where it was.

    Filtering and bounded replays (see :mod:`~kafkasse_wsgi._filters`,
    :mod:`~kafkasse_wsgi._replay`):

    :param allow_filters: whether clients may send ``?filter=<JMESPath>`` (default True);
        when False a request with one gets a 400. ``filterer`` applies either way.
    :param max_filter_length: the longest ``?filter=`` accepted, in characters (400 beyond).
    :param progress_interval_s: while events are filtered out, an id-only frame (``id:``
        without ``data:``) goes out at most this often, and before a heartbeat, so a client's
        last event id advances and a resume does not rescan what was dropped. ``None``: never.

    The shared live tail (see :mod:`~kafkasse_wsgi._tail.hub`):

    :param shared_tail: streams at the head of a topic share one consumer per topic per
        process (a hub), whose records are decoded and formatted once for all of them. A
        stream that resumes further back reads through its own consumer until it has caught
        up, then moves to the hub. ``False``: one consumer per stream. The hub runs
        ``deserializer`` once for every client, so it must not depend on the request.
    :param tail_linger_s: a hub closes this long after its last client left.
    :param tail_batch_interval_ms: the longest a hub under load holds records back to hand
        them out as one batch (each batch costs every client a wake-up and a write, whatever
        it holds): it spaces batches by 40 µs per client, up to this. A record arriving after
        a quieter interval goes out at once. 0: a batch per poll.
    :param tail_ring_events: most events a hub keeps for clients that are behind (and for
        resumes to catch up to); with ``tail_ring_bytes`` and ``tail_ring_age_s``: how far a
        client may fall behind before it detaches, and what a resume must reach to hand off.
    :param tail_ring_bytes: most bytes a hub keeps: the events' text, the bytes formatted for
        its clients, position vectors.
    :param tail_ring_age_s: oldest event a hub keeps, in seconds.
    :param max_hubs: hubs one process holds (each a consumer and a ring of up to
        ``tail_ring_bytes``: with the ring bounds this bounds the tail's memory); a stream
        that needs one more gets 503 with ``Retry-After`` (a hub without clients makes room).
    :param max_private_consumers: a hub client that fell behind the ring reads through its
        own consumer again, unless the process holds this many already: it then ends with a
        ``retry:`` hint and its id, and resumes later. ``None``: no cap.

    Subscriber tokens (JWT; needs the ``jwt`` extra; see :mod:`~kafkasse_wsgi.tokens`):

    :param jwt_keys: what tokens are verified with: an HS secret (at least 32 bytes), a PEM
        public key, a JWKS (mapping, :class:`pathlib.Path` or ``https://`` URL), or a list of
        these. Setting it turns tokens on. HS384/HS512 need 48/64 bytes. A JWKS URL is
        fetched with PyJWT's ``PyJWKClient``: cached 300 s, refreshed on an unknown ``kid`` at
        most every 10 s.
    :param jwt_algorithms: the accepted ``alg`` values; default: whatever fits a configured
        key (each key only verifies its own kind). ``none`` is never accepted.
    :param jwt_audience: the required ``aud`` (a string or a list of accepted ones).
    :param jwt_issuer: the required ``iss``.
    :param jwt_topics_claim: the claim listing the topics (names or ``*``/``?`` globs) a
        token grants; default ``kafkasse.topics`` (``{"kafkasse": {"topics": [...]}}``): found
        by its exact name, else as a dotted path.
    :param jwt_required: refuse requests without a token (401); default: True when
        ``jwt_keys`` is set. False: a token is optional, and narrows access when present.
    :param jwt_cookie_name: the cookie a token is read from when there is no
        ``Authorization: Bearer`` header; default ``kafkasse_token``.
    :param jwt_allow_query_token: also read ``?access_token=`` (last resort: URLs end up in
        logs and browser history; the token is removed from the environ); when False such a
        request is a 400.

    Schema registry topics (the ``registry`` extra; see :mod:`~kafkasse_wsgi.schema_registry`):

    :param schema_registry: a Confluent-compatible schema registry (a URL, or a mapping of
        url, username, password, ca_file): values and keys in the Confluent framing (Avro,
        Protobuf, JSON Schema) are decoded by their schema into JSON; other records take the
        usual path. A ``deserializer`` of your own replaces this decoding.
    """

    kafka_config: Mapping[str, Any] = option(factory=dict, check=checks.settings)
    allowed_topics: AllowedTopics = option(
        None, check=checks.allowed_topics, text=forms.ALLOWED_TOPICS
    )
    logger: logging.Logger | logging.LoggerAdapter | None = option(
        None, check=checks.logger_or_none
    )
    disable_sse_formatting: bool = option(False, check=checks.switch, text=Text("bool"))
    deserializer: Callable[[KafkaMessage], KafkaMessage | None] | None = option(
        None, check=checks.callable_or_none
    )
    filterer: Callable[[KafkaMessage], bool] | None = option(None, check=checks.callable_or_none)
    use_timestamp_for_id: bool = option(False, check=checks.switch, text=Text("bool"))
    id_mode: str = option(
        Defaults.DEFAULT_ID_MODE, check=checks.one_of(ID_MODES), text=Text("str", choices=ID_MODES)
    )
    kafka_event_handlers: Mapping[str, Callable[..., Any]] = option(
        factory=dict, check=event_handlers
    )
    connect_error_handler: Callable[..., Iterable[bytes]] | None = option(
        None, check=checks.callable_or_none
    )
    idle_delay_ms: int = option(
        Defaults.DEFAULT_IDLE_DELAY_MS, check=checks.integer(0), text=Text("int")
    )
    heartbeat_interval_s: float = option(
        Defaults.DEFAULT_HEARTBEAT_INTERVAL_S,
        check=checks.seconds(),
        text=Text("float", aliases=("--heartbeat",)),
    )
    queue_size: int = option(Defaults.DEFAULT_QUEUE_SIZE, check=checks.integer(1), text=Text("int"))
    queue_bytes: int = option(
        Defaults.DEFAULT_QUEUE_BYTES, check=checks.integer(1024), text=Text("int")
    )
    batch_size: int = option(Defaults.DEFAULT_BATCH_SIZE, check=checks.integer(1), text=Text("int"))
    retry_ms: int | None = option(
        Defaults.DEFAULT_RETRY_MS, check=checks.integer(0, optional=True), text=INT_OR_NONE
    )
    resume_policy: ResumePolicy = option(
        factory=ResumePolicy, check=resume_policy, text=forms.RESUME_POLICY
    )
    setup_timeout_s: float = option(
        Defaults.DEFAULT_SETUP_TIMEOUT_S, check=checks.seconds(), text=Text("float")
    )
    max_streams: int | None = option(None, check=checks.limit, text=INT_OR_NONE)
    max_streams_per_client: int | None = option(None, check=checks.limit, text=INT_OR_NONE)
    count_private_clients: bool = option(True, check=checks.switch, text=Text("bool"))
    trusted_proxies: int | TrustedNetworks = option(
        0, check=checks.trusted_proxies, text=forms.TRUSTED_PROXIES
    )
    max_topics: int | None = option(
        Defaults.DEFAULT_MAX_TOPICS, check=checks.limit, text=INT_OR_NONE
    )
    max_partitions: int | None = option(
        Defaults.DEFAULT_MAX_PARTITIONS, check=checks.limit, text=INT_OR_NONE
    )
    max_last_event_id_bytes: int | None = option(
        Defaults.DEFAULT_MAX_LAST_EVENT_ID_BYTES, check=checks.limit, text=INT_OR_NONE
    )
    max_stream_lifetime_s: float | None = option(
        None, check=checks.seconds(optional=True), text=FLOAT_OR_NONE
    )
    lifetime_jitter: float = option(
        Defaults.DEFAULT_LIFETIME_JITTER, check=checks.fraction, text=Text("float")
    )
    reconnect_spread_ms: int = option(
        Defaults.DEFAULT_RECONNECT_SPREAD_MS, check=checks.integer(0), text=Text("int")
    )
    max_blocked_s: float | None = option(
        Defaults.DEFAULT_MAX_BLOCKED_S, check=checks.seconds(optional=True), text=FLOAT_OR_NONE
    )
    broker_outage_timeout_s: float = option(
        Defaults.DEFAULT_BROKER_OUTAGE_TIMEOUT_S, check=checks.seconds(), text=Text("float")
    )
    cors_origins: CorsOrigins = option(
        Defaults.DEFAULT_CORS_ORIGINS, check=checks.cors_origins, text=forms.CORS_ORIGINS
    )
    allow_filters: bool = option(
        Defaults.DEFAULT_ALLOW_FILTERS, check=checks.switch, text=Text("bool")
    )
    max_filter_length: int | None = option(
        Defaults.DEFAULT_MAX_FILTER_LENGTH, check=checks.limit, text=INT_OR_NONE
    )
    progress_interval_s: float | None = option(
        Defaults.DEFAULT_PROGRESS_INTERVAL_S,
        check=checks.seconds(optional=True),
        text=FLOAT_OR_NONE,
    )
    shared_tail: bool = option(Defaults.DEFAULT_SHARED_TAIL, check=checks.switch, text=Text("bool"))
    tail_linger_s: float = option(
        Defaults.DEFAULT_TAIL_LINGER_S, check=checks.seconds(), text=Text("float")
    )
    tail_batch_interval_ms: int = option(
        Defaults.DEFAULT_TAIL_BATCH_INTERVAL_MS, check=checks.integer(0), text=Text("int")
    )
    tail_ring_events: int = option(
        Defaults.DEFAULT_TAIL_RING_EVENTS, check=checks.integer(1), text=Text("int")
    )
    tail_ring_bytes: int = option(
        Defaults.DEFAULT_TAIL_RING_BYTES, check=checks.integer(1024), text=Text("int")
    )
    tail_ring_age_s: float = option(
        Defaults.DEFAULT_TAIL_RING_AGE_S, check=checks.seconds(), text=Text("float")
    )
    max_private_consumers: int | None = option(
        Defaults.DEFAULT_MAX_PRIVATE_CONSUMERS, check=checks.limit, text=INT_OR_NONE
    )
    max_hubs: int | None = option(Defaults.DEFAULT_MAX_HUBS, check=checks.limit, text=INT_OR_NONE)
    # The jwt_* values are checked together (they only mean something with jwt_keys), by
    # _options/rules.py (token_settings); only the switches are checked alone.
    jwt_keys: Any = option(None, text=forms.JWT_KEYS)
    jwt_algorithms: Sequence[str] | None = option(None, text=forms.JWT_ALGORITHMS)
    jwt_audience: str | Sequence[str] | None = option(None, text=forms.JWT_AUDIENCE)
    jwt_issuer: str | None = option(None, text=Text("str", optional=True))
    jwt_topics_claim: str = option(Defaults.DEFAULT_JWT_TOPICS_CLAIM, text=Text("str"))
    jwt_required: bool | None = option(None, check=checks.switch_or_none, text=Text("bool"))
    jwt_cookie_name: str = option(Defaults.DEFAULT_JWT_COOKIE_NAME, text=Text("str"))
    jwt_allow_query_token: bool = option(False, check=checks.switch, text=Text("bool"))
    schema_registry: str | Mapping[str, Any] | None = option(None, text=forms.SCHEMA_REGISTRY)

    def __post_init__(self) -> None:
        """Each field's own check (declared with it), then the rules that involve several
        fields (:mod:`~kafkasse_wsgi._options.rules`)."""
        for name, check in _CHECKS:
            value = getattr(self, name)
            checked = check(name, value)
            if checked is not value:
                object.__setattr__(self, name, checked)
        for rule in RULES:
            for name, value in rule(self).items():
                object.__setattr__(self, name, value)

    @property
    def token_verifier(self) -> Any:
        """The :class:`~kafkasse_wsgi.tokens.TokenVerifier` of these options (``None`` without
        ``jwt_keys``), built on first use."""
        if self.jwt_keys is None:
            return None
        verifier = self.__dict__.get("_token_verifier")
        if verifier is None:
            from .tokens import TokenVerifier

            verifier = TokenVerifier(
                self.jwt_keys,
                self.jwt_algorithms,
                list(self.jwt_audience) if self.jwt_audience else None,
                self.jwt_issuer,
                self.jwt_topics_claim,
            )
            object.__setattr__(self, "_token_verifier", verifier)
        return verifier

    @classmethod
    def from_any(cls, options: Options | Mapping[str, Any] | None) -> Options:
        """Accept an :class:`Options`, a plain dict of option names, or ``None``."""
        if options is None:
            return cls()
        if isinstance(options, Options):
            return options
        if not isinstance(options, Mapping):
            raise ConfigurationError(
                f"options must be an Options, a mapping or None, got {type(options).__name__}"
            )
        check_names(options, [field.name for field in dataclasses.fields(cls)])
        return cls(**options)

    def replace(self, **changes: Any) -> Options:
        return dataclasses.replace(self, **changes)

    def call_hook(
        self, event: str, log: logging.Logger | logging.LoggerAdapter, *args: Any
    ) -> None:
        """Call ``kafka_event_handlers[event]`` if set; a hook observes, so if it raises that
        is logged and the stream goes on."""
        call_hook(self.kafka_event_handlers, event, log, *args)

    def is_topic_allowed(self, topic: str, environ: WSGIEnvironment) -> bool:
        allowed = self.allowed_topics
        if allowed is None:
            return not is_internal_topic(topic)
        if callable(allowed):
            return bool(allowed(environ, topic))
        return topic in allowed


#: Each field's check, in field order (a check returns the value, normalised).
_CHECKS: tuple[tuple[str, Check], ...] = tuple(
    (field.name, field.metadata["check"])
    for field in dataclasses.fields(Options)
    if "check" in field.metadata
)
