"""The defaults of :class:`~kafkasse_wsgi.options.Options`, as named constants.

``Options`` inherits them (``Options.DEFAULT_QUEUE_SIZE``), so tests, benchmarks and the
token helpers name a default instead of repeating its number; the fields declare them as
their defaults. Kept apart so ``options.py`` reads as the fields and what they mean.
"""

from __future__ import annotations


class Defaults:
    """``DEFAULT_<FIELD>``: the default of the ``Options`` field ``<field>``, where it is named."""

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
