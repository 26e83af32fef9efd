"""Everything a stream can be configured with, as one frozen, validated value.

The names follow the Node KafkaSSE options in Python spelling (``kafkaConfig`` →
``kafka_config``); the options of our own (heartbeats, queue and batch sizes) carry their unit
in the name. Validation happens once, at construction, and names the bad option.
"""

from __future__ import annotations

import dataclasses
import difflib
import logging
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from ipaddress import IPv4Network, IPv6Network
from typing import TYPE_CHECKING, Any

from . import _option_fields as checks
from ._internal_topics import is_internal_topic
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

#: The lifecycle hooks ``kafka_event_handlers`` may name, and what each receives.
KAFKA_EVENTS: dict[str, str] = {
    "connected": "(consumer) once the consumer reached the brokers; None on the shared tail",
    "assigned": "(positions) the concrete starting positions, a list of dicts",
    "message": "(kafka_message) every message polled, before deserialisation",
    "error": "(exception) any error that ends the stream",
    "disconnected": "() after the consumer is closed, however the stream ended",
}


RESUME_ACTIONS = ("earliest", "latest", "error")

#: What event ids carry: ``offset`` (default), ``timestamp`` (the Node original's
#: ``use_timestamp_for_id``), ``cursor`` (offset, timestamp and the Kafka cluster id).
ID_MODES = ("offset", "timestamp", "cursor")


@dataclasses.dataclass(frozen=True)
class ResumePolicy:
    """Where a resume starts when its offset is outside the partition's current range.

    :param too_old: the offset is below the log start (retention deleted it):
        ``earliest`` (default, loses only what Kafka already deleted), ``latest`` or ``error``.
    :param too_new: the offset is past the end (e.g. an id from another cluster):
        ``latest`` (default), ``earliest`` or ``error``.
    Either way the client is told: an ``event: reset`` and an ``X-KafkaSSE-Reset`` header.
    The same applies mid-stream, when Kafka deletes data a stream has not read yet (then
    ``event: reset`` only, or with ``error`` an ``event: error`` that ends the stream).
    """

    too_old: str = "earliest"
    too_new: str = "latest"

    def __post_init__(self) -> None:
        for name in ("too_old", "too_new"):
            if getattr(self, name) not in RESUME_ACTIONS:
                raise ConfigurationError(
                    f"resume_policy.{name} must be one of {', '.join(RESUME_ACTIONS)}"
                )


#: A field's check: ``(name, value) -> value``, normalised (a comma string split, a mapping
#: made a ``ResumePolicy``...); raises :class:`ConfigurationError` naming the option.
Check = Callable[[str, Any], Any]


@dataclasses.dataclass(frozen=True)
class Text:
    """How an option is written as text, on the ``kafkasse-wsgi serve`` command line and in
    its ``KAFKASSE_*`` variables (``serve_config`` derives the flag and variables from it).
    An option without one (a callable, a logger, a mapping) is set in Python or the config
    file only.

    :param kind: how the text is read: ``int``, ``float``, ``str``, ``bool`` (an on/off
        flag), ``list`` (comma-separated), ``origins``, ``proxies``, ``resume_policy`` or
        ``key`` (a key source: ``tokens.KeySet``).
    :param optional: ``none`` (or nothing) means ``None``.
    :param aliases: older flag names still accepted (``--heartbeat``).
    :param help: the flag's help, when the docstring's ``:param:`` reads badly there.
    :param choices: the values allowed, shown in ``--help``.
    """

    kind: str
    optional: bool = False
    aliases: tuple[str, ...] = ()
    help: str | None = None
    choices: tuple[str, ...] | None = None


_INT_OR_NONE = Text("int", optional=True)
_FLOAT_OR_NONE = Text("float", optional=True)


def _option(
    default: Any = dataclasses.MISSING,
    *,
    factory: Callable[[], Any] | None = None,
    check: Check | None = None,
    text: Text | None = None,
) -> Any:
    """A field of :class:`Options` with its check and its text form declared beside it."""
    metadata: dict[str, Any] = {}
    if check is not None:
        metadata["check"] = check
    if text is not None:
        metadata["text"] = text
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def _resume_policy(name: str, value: Any) -> ResumePolicy:
    if isinstance(value, Mapping):
        unknown = sorted(set(value) - {"too_old", "too_new"})
        if unknown:
            raise ConfigurationError(f"{name}: unknown key(s) {', '.join(unknown)}")
        value = ResumePolicy(**value)
    if not isinstance(value, ResumePolicy):
        raise ConfigurationError(f"{name} must be a ResumePolicy or a mapping")
    return value


def _event_handlers(name: str, value: Any) -> Any:
    if value is None:
        return {}  # readers call ``.get()`` on it for every stream: keep it a mapping
    if not isinstance(value, Mapping):
        raise ConfigurationError(f"{name} must be a mapping of event → callable")
    for event, handler in value.items():
        if event not in KAFKA_EVENTS:
            raise ConfigurationError(
                f"{name}: unknown event {event!r}; known: {', '.join(sorted(KAFKA_EVENTS))}"
            )
        if not callable(handler):
            raise ConfigurationError(f"{name}[{event!r}] must be callable")
    return value


@dataclasses.dataclass(frozen=True)
class Options:
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

    # Not a sleep: an empty poll ends after this long, a record ends it at once. Short waits
    # only cost CPU (200 idle streams: 0.78 cores at 100 ms, 0.06 at 5000 ms).
    DEFAULT_IDLE_DELAY_MS = 5000
    DEFAULT_HEARTBEAT_INTERVAL_S = 15.0
    DEFAULT_QUEUE_SIZE = 4
    DEFAULT_QUEUE_BYTES = 1_048_576
    DEFAULT_BATCH_SIZE = 250
    DEFAULT_RETRY_MS = None
    DEFAULT_SETUP_TIMEOUT_S = 10.0
    DEFAULT_MAX_TOPICS = 50
    DEFAULT_MAX_PARTITIONS = 1000
    DEFAULT_MAX_LAST_EVENT_ID_BYTES = 64 * 1024
    DEFAULT_LIFETIME_JITTER = 0.1
    DEFAULT_RECONNECT_SPREAD_MS = 2000
    DEFAULT_MAX_BLOCKED_S = 300.0
    DEFAULT_BROKER_OUTAGE_TIMEOUT_S = 60.0
    DEFAULT_ID_MODE = "offset"
    DEFAULT_CORS_ORIGINS = None
    DEFAULT_ALLOW_FILTERS = True
    DEFAULT_MAX_FILTER_LENGTH = 1000
    DEFAULT_PROGRESS_INTERVAL_S = 5.0
    DEFAULT_SHARED_TAIL = True
    DEFAULT_TAIL_LINGER_S = 10.0
    DEFAULT_TAIL_BATCH_INTERVAL_MS = 50
    DEFAULT_TAIL_RING_EVENTS = 100_000
    DEFAULT_TAIL_RING_BYTES = 16 * 1_048_576
    DEFAULT_TAIL_RING_AGE_S = 120.0
    DEFAULT_MAX_PRIVATE_CONSUMERS = 500
    DEFAULT_MAX_HUBS = 64
    DEFAULT_JWT_TOPICS_CLAIM = "kafkasse.topics"
    DEFAULT_JWT_COOKIE_NAME = "kafkasse_token"

    kafka_config: Mapping[str, Any] = _option(factory=dict, check=checks.settings)
    allowed_topics: AllowedTopics = _option(
        None,
        check=checks.allowed_topics,
        text=Text(
            "list",
            help="topics clients may read, comma-separated; default: all but the Kafka "
            "ecosystem's own (_*, connect-configs/-offsets/-status, *-changelog, "
            "*-repartition), which are served only when named here",
        ),
    )
    logger: logging.Logger | logging.LoggerAdapter | None = _option(
        None, check=checks.logger_or_none
    )
    disable_sse_formatting: bool = _option(False, check=checks.switch, text=Text("bool"))
    deserializer: Callable[[KafkaMessage], KafkaMessage | None] | None = _option(
        None, check=checks.callable_or_none
    )
    filterer: Callable[[KafkaMessage], bool] | None = _option(None, check=checks.callable_or_none)
    use_timestamp_for_id: bool = _option(False, check=checks.switch, text=Text("bool"))
    id_mode: str = _option(
        DEFAULT_ID_MODE, check=checks.one_of(ID_MODES), text=Text("str", choices=ID_MODES)
    )
    kafka_event_handlers: Mapping[str, Callable[..., Any]] = _option(
        factory=dict, check=_event_handlers
    )
    connect_error_handler: Callable[..., Iterable[bytes]] | None = _option(
        None, check=checks.callable_or_none
    )
    idle_delay_ms: int = _option(DEFAULT_IDLE_DELAY_MS, check=checks.integer(0), text=Text("int"))
    heartbeat_interval_s: float = _option(
        DEFAULT_HEARTBEAT_INTERVAL_S,
        check=checks.seconds(),
        text=Text("float", aliases=("--heartbeat",)),
    )
    queue_size: int = _option(DEFAULT_QUEUE_SIZE, check=checks.integer(1), text=Text("int"))
    queue_bytes: int = _option(DEFAULT_QUEUE_BYTES, check=checks.integer(1024), text=Text("int"))
    batch_size: int = _option(DEFAULT_BATCH_SIZE, check=checks.integer(1), text=Text("int"))
    retry_ms: int | None = _option(
        DEFAULT_RETRY_MS, check=checks.integer(0, optional=True), text=_INT_OR_NONE
    )
    resume_policy: ResumePolicy = _option(
        factory=ResumePolicy,
        check=_resume_policy,
        text=Text(
            "resume_policy",
            help="where a resume outside a partition's range starts: too_old=ACTION,"
            "too_new=ACTION (earliest, latest or error), or one ACTION for both",
        ),
    )
    setup_timeout_s: float = _option(
        DEFAULT_SETUP_TIMEOUT_S, check=checks.seconds(), text=Text("float")
    )
    max_streams: int | None = _option(None, check=checks.limit, text=_INT_OR_NONE)
    max_streams_per_client: int | None = _option(None, check=checks.limit, text=_INT_OR_NONE)
    count_private_clients: bool = _option(True, check=checks.switch, text=Text("bool"))
    trusted_proxies: int | TrustedNetworks = _option(
        0,
        check=checks.trusted_proxies,
        text=Text(
            "proxies",
            help="proxies in front whose X-Forwarded-For counts: how many (the client is the "
            "entry that many from the right), or their addresses and CIDR ranges, "
            "comma-separated",
        ),
    )
    max_topics: int | None = _option(DEFAULT_MAX_TOPICS, check=checks.limit, text=_INT_OR_NONE)
    max_partitions: int | None = _option(
        DEFAULT_MAX_PARTITIONS, check=checks.limit, text=_INT_OR_NONE
    )
    max_last_event_id_bytes: int | None = _option(
        DEFAULT_MAX_LAST_EVENT_ID_BYTES, check=checks.limit, text=_INT_OR_NONE
    )
    max_stream_lifetime_s: float | None = _option(
        None, check=checks.seconds(optional=True), text=_FLOAT_OR_NONE
    )
    lifetime_jitter: float = _option(
        DEFAULT_LIFETIME_JITTER, check=checks.fraction, text=Text("float")
    )
    reconnect_spread_ms: int = _option(
        DEFAULT_RECONNECT_SPREAD_MS, check=checks.integer(0), text=Text("int")
    )
    max_blocked_s: float | None = _option(
        DEFAULT_MAX_BLOCKED_S, check=checks.seconds(optional=True), text=_FLOAT_OR_NONE
    )
    broker_outage_timeout_s: float = _option(
        DEFAULT_BROKER_OUTAGE_TIMEOUT_S, check=checks.seconds(), text=Text("float")
    )
    cors_origins: CorsOrigins = _option(
        DEFAULT_CORS_ORIGINS,
        check=checks.cors_origins,
        text=Text(
            "origins",
            help="origins whose pages may read streams (CORS), comma-separated, or '*' for "
            "any (without credentials); default: none",
        ),
    )
    allow_filters: bool = _option(DEFAULT_ALLOW_FILTERS, check=checks.switch, text=Text("bool"))
    max_filter_length: int | None = _option(
        DEFAULT_MAX_FILTER_LENGTH, check=checks.limit, text=_INT_OR_NONE
    )
    progress_interval_s: float | None = _option(
        DEFAULT_PROGRESS_INTERVAL_S, check=checks.seconds(optional=True), text=_FLOAT_OR_NONE
    )
    shared_tail: bool = _option(DEFAULT_SHARED_TAIL, check=checks.switch, text=Text("bool"))
    tail_linger_s: float = _option(
        DEFAULT_TAIL_LINGER_S, check=checks.seconds(), text=Text("float")
    )
    tail_batch_interval_ms: int = _option(
        DEFAULT_TAIL_BATCH_INTERVAL_MS, check=checks.integer(0), text=Text("int")
    )
    tail_ring_events: int = _option(
        DEFAULT_TAIL_RING_EVENTS, check=checks.integer(1), text=Text("int")
    )
    tail_ring_bytes: int = _option(
        DEFAULT_TAIL_RING_BYTES, check=checks.integer(1024), text=Text("int")
    )
    tail_ring_age_s: float = _option(
        DEFAULT_TAIL_RING_AGE_S, check=checks.seconds(), text=Text("float")
    )
    max_private_consumers: int | None = _option(
        DEFAULT_MAX_PRIVATE_CONSUMERS, check=checks.limit, text=_INT_OR_NONE
    )
    max_hubs: int | None = _option(DEFAULT_MAX_HUBS, check=checks.limit, text=_INT_OR_NONE)
    # The jwt_* values are checked together (they only mean something with jwt_keys), by
    # _validate_tokens; only the switches are checked alone.
    jwt_keys: Any = _option(
        None,
        text=Text(
            "key",
            aliases=("--jwt-key", "--jwt-jwks"),
            help="subscriber tokens: a JWKS URL (https://…), or a file holding a PEM public "
            "key, a JWKS or an HS secret; an inline HS secret only in KAFKASSE_JWT_KEYS, never "
            "on a command line; one key source (a JWKS holds many); default: no tokens",
        ),
    )
    jwt_algorithms: Sequence[str] | None = _option(
        None,
        text=Text(
            "list",
            optional=True,
            help="accepted token algorithms, comma-separated (e.g. RS256); default: those of "
            "the configured keys' kinds, never none",
        ),
    )
    jwt_audience: str | Sequence[str] | None = _option(
        None,
        text=Text(
            "list",
            optional=True,
            help="required token audience (aud), comma-separated for several; default: not checked",
        ),
    )
    jwt_issuer: str | None = _option(None, text=Text("str", optional=True))
    jwt_topics_claim: str = _option(DEFAULT_JWT_TOPICS_CLAIM, text=Text("str"))
    jwt_required: bool | None = _option(None, check=checks.switch_or_none, text=Text("bool"))
    jwt_cookie_name: str = _option(DEFAULT_JWT_COOKIE_NAME, text=Text("str"))
    jwt_allow_query_token: bool = _option(False, check=checks.switch, text=Text("bool"))
    schema_registry: str | Mapping[str, Any] | None = _option(
        None,
        text=Text(
            "str",
            optional=True,
            help="URL of a Confluent-compatible schema registry: Avro, Protobuf and JSON "
            "Schema records are decoded into JSON (the registry extra); user, password and "
            "ca_file go in the config file's schema_registry table; default: none",
        ),
    )

    def _take_auto_offset_reset(self) -> None:
        """kafka_config's ``auto_offset_reset`` says where to go when the next offset is gone:
        that is ``resume_policy.too_old`` here (kafka-python itself never resets: it would
        do it silently). It fills in the default; a different explicit ``too_old`` is an error.
        """
        from ._kafka_config import AUTO_OFFSET_RESET_ACTIONS as actions
        from ._kafka_config import translate

        translated = translate(self.kafka_config)  # a mistyped key fails here, not per request
        if "auto_offset_reset" not in translated:
            return
        value = translated["auto_offset_reset"]
        action = actions.get(value) if isinstance(value, str) else None
        if action is None:
            raise ConfigurationError(
                f"kafka_config: auto_offset_reset must be one of {', '.join(actions)}"
            )
        too_old = self.resume_policy.too_old
        if too_old == action:
            return
        if too_old != ResumePolicy.too_old:
            raise ConfigurationError(
                f"kafka_config auto_offset_reset={value!r} and resume_policy.too_old="
                f"{too_old!r} disagree; set resume_policy only"
            )
        policy = dataclasses.replace(self.resume_policy, too_old=action)
        object.__setattr__(self, "resume_policy", policy)

    def __post_init__(self) -> None:
        """Each field's own check (declared with it, see :func:`_option`), then the checks
        that involve several fields."""
        for name, check in _CHECKS:
            value = getattr(self, name)
            checked = check(name, value)
            if checked is not value:
                object.__setattr__(self, name, checked)
        self._take_auto_offset_reset()
        self._take_id_mode()
        self._validate_tokens()
        self._take_schema_registry()

    def _take_id_mode(self) -> None:
        if self.use_timestamp_for_id and self.id_mode == "cursor":
            raise ConfigurationError(
                "use_timestamp_for_id=True asks for timestamp ids, id_mode='cursor' for "
                "cursor ids: set one of them"
            )
        if self.use_timestamp_for_id or self.id_mode == "timestamp":
            # Two spellings of one mode: both read the same afterwards.
            object.__setattr__(self, "id_mode", "timestamp")
            object.__setattr__(self, "use_timestamp_for_id", True)

    def _take_schema_registry(self) -> None:
        """The registry's deserializer becomes the deserializer (the process's one for this
        registry, so hubs stay shared), unless the application set its own. Nothing is
        fetched here: a request never waits on the registry before its stream."""
        if self.schema_registry is None:
            if getattr(self.deserializer, "is_schema_registry", False):
                object.__setattr__(self, "deserializer", None)  # replace(schema_registry=None)
            return
        from ._extras import MissingExtraError
        from .schema_registry import deserializer_for

        try:
            deserializer = deserializer_for(self.schema_registry)
        except MissingExtraError as missing:  # a setting that cannot work: fails at start-up
            raise ConfigurationError(str(missing)) from None
        object.__setattr__(self, "schema_registry", deserializer.config)
        if self.deserializer is None or getattr(self.deserializer, "is_schema_registry", False):
            object.__setattr__(self, "deserializer", deserializer)

    def _validate_tokens(self) -> None:
        """Build the key set once (``replace()`` then reuses it) and check the jwt options."""
        tokens_configured = self.jwt_keys is not None or any(
            getattr(self, name) is not None
            for name in ("jwt_algorithms", "jwt_audience", "jwt_issuer")
        )
        if not tokens_configured:
            if self.jwt_required:
                raise ConfigurationError("jwt_required needs jwt_keys to verify tokens with")
            object.__setattr__(self, "jwt_required", False)
            return
        from . import tokens

        if self.jwt_keys is None:
            raise ConfigurationError("jwt_algorithms, jwt_audience and jwt_issuer need jwt_keys")
        if not isinstance(self.jwt_keys, tokens.KeySet):
            object.__setattr__(self, "jwt_keys", tokens.KeySet(self.jwt_keys))
        if self.jwt_required is None:
            object.__setattr__(self, "jwt_required", True)
        algorithms = self.jwt_algorithms
        if algorithms is not None:
            if isinstance(algorithms, str):
                algorithms = [a.strip() for a in algorithms.split(",") if a.strip()]
            algorithms = tuple(algorithms)
            unknown = [a for a in algorithms if a not in tokens.KNOWN_ALGORITHMS]
            if unknown or not algorithms:
                raise ConfigurationError(
                    f"jwt_algorithms: not accepted: {', '.join(map(repr, unknown)) or 'empty'}; "
                    f"known: {', '.join(sorted(tokens.KNOWN_ALGORITHMS))} (never 'none')"
                )
            object.__setattr__(self, "jwt_algorithms", algorithms)
        audience = self.jwt_audience
        if audience is not None:
            if isinstance(audience, str):
                audience = [audience]
            audience = tuple(audience)
            if not audience or not all(isinstance(a, str) and a for a in audience):
                raise ConfigurationError("jwt_audience must be a string or a list of strings")
            object.__setattr__(self, "jwt_audience", audience)
        if self.jwt_issuer is not None and not (
            isinstance(self.jwt_issuer, str) and self.jwt_issuer
        ):
            raise ConfigurationError("jwt_issuer must be a non-empty string")
        if not tokens.is_topics_claim_name(self.jwt_topics_claim):
            raise ConfigurationError("jwt_topics_claim must be a claim name")
        if not tokens.is_cookie_name(self.jwt_cookie_name):
            raise ConfigurationError("jwt_cookie_name must be a cookie name (RFC 6265 token)")

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
        known = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(options) - known)
        if unknown:
            raise ConfigurationError(f"unknown option(s): {', '.join(unknown)}{_hint(unknown)}")
        return cls(**options)

    def replace(self, **changes: Any) -> Options:
        return dataclasses.replace(self, **changes)

    def call_hook(
        self, event: str, log: logging.Logger | logging.LoggerAdapter, *args: Any
    ) -> None:
        """Call ``kafka_event_handlers[event]`` if set; a hook observes, so if it raises that
        is logged and the stream goes on."""
        handler = self.kafka_event_handlers.get(event)
        if handler is None:
            return
        try:
            handler(*args)
        except Exception:
            log.warning("kafka_event_handlers[%r] raised", event, exc_info=True)

    def is_topic_allowed(self, topic: str, environ: WSGIEnvironment) -> bool:
        allowed = self.allowed_topics
        if allowed is None:
            return not is_internal_topic(topic)
        if callable(allowed):
            return bool(allowed(environ, topic))
        return topic in allowed


def _hint(unknown: Sequence[str]) -> str:
    """``; did you mean allowed_topics?`` for near misses (``alowed_topics``, the Node
    original's ``allowedTopics``), naming each one when there are several."""
    known = [field.name for field in dataclasses.fields(Options)]
    guesses = {}
    for name in unknown:
        snake = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()
        close = difflib.get_close_matches(snake, known, n=1, cutoff=0.75)
        if close:
            guesses[name] = close[0]
    if not guesses:
        return ""
    if len(unknown) == 1:
        return f"; did you mean {guesses[unknown[0]]}?"
    return "; did you mean " + ", ".join(f"{g} for {n}" for n, g in guesses.items()) + "?"


#: Each field's check, in field order (a check returns the value, normalised).
_CHECKS: tuple[tuple[str, Check], ...] = tuple(
    (field.name, field.metadata["check"])
    for field in dataclasses.fields(Options)
    if "check" in field.metadata
)
