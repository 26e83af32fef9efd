"""The errors a stream can end with, and how each one looks to an HTTP client.

Before the response has started, an error becomes an HTTP status with a JSON body; after it,
the same JSON travels as an ``event: error`` SSE event and the stream ends. Neither form ever
carries a stack trace, a broker address or configuration.

The tree::

    KafkaSSEError                    origin "KafkaSSE", HTTP 500 unless said otherwise
    ├── ConfigurationError           500  the server is set up wrong (bad options)
    ├── InvalidAssignmentError       400  malformed assignments, Last-Event-ID or ``since``,
    │   │                                 or a Last-Event-ID outside the requested topics
    │   └── ResumeOutOfRangeError    410  a resume offset is outside the partition (policy
    │                                     "error"); named ``OffsetOutOfRangeError`` in the JSON
    │                                     body, and importable by that name
    ├── InvalidFilterError           400  a ``?filter=`` that does not parse, too long or too deep
    │   └── InvalidReplayBoundsError 400  a ``?until=``/``?limit=`` that is not one (named
    │                                     ``InvalidFilterError`` in the JSON body)
    ├── MethodNotAllowedError        405  not GET, HEAD (or OPTIONS); sent with ``Allow``
    ├── TopicNotAvailableError       404  topic missing *or* not allowed (never says which)
    ├── DeserializationError         --   a message could not be parsed: logged, skipped
    ├── FilterError                  --   the filterer raised: sent as ``event: error``
    ├── TooManyStreamsError          503  this process is full / 429 this client has enough
    ├── KafkaUnavailableError        503  the brokers cannot be reached right now
    ├── InvalidTokenError            401  no, or a bad, subscriber token (400 in a refused
    │                                     query, 431 too large); ``WWW-Authenticate: Bearer``
    ├── TokenKeysUnavailableError    503  the JWKS URL cannot be fetched right now
    └── KafkaStreamError             --   Kafka failed mid-stream: sent as ``event: error``
"""

from __future__ import annotations

import json
from typing import Any

#: Seconds a refused client is told to wait (``Retry-After``): a full process, a client at
#: its limit, brokers or token keys out of reach.
RETRY_AFTER_S = 5


class KafkaSSEError(Exception):
    """Base of every error this library reports to a client."""

    status: int = 500
    #: Seconds the client should wait before trying again (sent as ``Retry-After``), if any.
    retry_after_s: int | None = None
    #: Extra fields that are safe to show a client (assignments, topic names...).
    details: dict[str, Any]

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    @property
    def name(self) -> str:
        return type(self).__name__

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: name, message, origin and the safe details; no stack."""
        body: dict[str, Any] = {"name": self.name, "message": self.message, "origin": "KafkaSSE"}
        for key, value in self.details.items():
            body.setdefault(key, value)
        return body

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), default=str)

    def http_headers(self) -> list[tuple[str, str]]:
        """Headers that go with the HTTP form of this error (beyond Content-Type)."""
        if self.retry_after_s is None:
            return []
        return [("Retry-After", str(self.retry_after_s))]


class ConfigurationError(KafkaSSEError):
    """The server is configured wrong: a bad option, or no topic exists and is allowed."""

    status = 500


class InvalidAssignmentError(KafkaSSEError):
    """The client asked for something malformed: assignments, Last-Event-ID or ``since``."""

    status = 400


class InvalidFilterError(KafkaSSEError):
    """The request's ``filter`` is malformed or beyond the limits (or filters are off).

    For a filter that does not parse, ``position`` (a detail of the JSON body) is the
    0-based character index where the parser stopped.
    """

    status = 400


class InvalidReplayBoundsError(InvalidFilterError):
    """The request's ``until`` or ``limit`` is not one. A kind of :class:`InvalidFilterError`
    (both ask for less than everything), so code that caught that for these still does; the
    JSON body's ``name`` stays ``InvalidFilterError``, as clients already match it."""

    @property
    def name(self) -> str:
        return InvalidFilterError.__name__


class MethodNotAllowedError(KafkaSSEError):
    """The request's method is not one a stream answers; ``Allow`` lists those that are."""

    status = 405

    def __init__(self, message: str, allow: tuple[str, ...] | None = None, **details: Any) -> None:
        super().__init__(message, **details)
        if allow is None:
            from ._request import ALLOWED_METHODS  # _request.py imports this module

            allow = ALLOWED_METHODS
        self.allow = allow

    def http_headers(self) -> list[tuple[str, str]]:
        return [("Allow", ", ".join(self.allow)), *super().http_headers()]


class TopicNotAvailableError(KafkaSSEError):
    """A requested topic does not exist or is not allowed; deliberately not saying which."""

    status = 404
    #: The topics the cluster has, when the refusal came from a look at them (a hub's).
    existing: frozenset[str] | None = None


class ResumeOutOfRangeError(InvalidAssignmentError):
    """A resume offset lies outside the partition and the resume policy says "error".

    Not named as kafka-python's ``OffsetOutOfRangeError`` (which the pump catches), but the
    JSON body's ``name`` keeps that name, as clients already match it."""

    status = 410

    @property
    def name(self) -> str:
        return "OffsetOutOfRangeError"


#: This error's name before 0.2.0, kept for code that catches it by that name.
OffsetOutOfRangeError = ResumeOutOfRangeError


class DeserializationError(KafkaSSEError):
    """A Kafka message could not be turned into an event; it is logged and skipped."""

    status = 500


class FilterError(KafkaSSEError):
    """The filterer raised; the stream reports it and ends."""

    status = 500


class KafkaUnavailableError(KafkaSSEError):
    """The brokers could not be reached in time; the client should retry later."""

    status = 503

    def __init__(self, message: str, retry_after_s: int = RETRY_AFTER_S, **details: Any) -> None:
        super().__init__(message, **details)
        self.retry_after_s = retry_after_s


class InvalidTokenError(KafkaSSEError):
    """No subscriber token, or one that does not verify; answered with ``WWW-Authenticate``.

    The message is always one of a few fixed strings: never a part of the token.

    :param bearer_error: the RFC 6750 error code (``invalid_token``, ``invalid_request``), or
        ``None`` when the request carried no token at all (RFC 6750 §3.1: then no code).
    """

    status = 401

    def __init__(
        self, message: str, status: int = 401, bearer_error: str | None = "invalid_token"
    ) -> None:
        super().__init__(message)
        self.status = status
        self.bearer_error = bearer_error

    @classmethod
    def missing(cls) -> InvalidTokenError:
        return cls("a subscriber token is required", bearer_error=None)

    @classmethod
    def invalid(cls, message: str) -> InvalidTokenError:
        return cls(message)

    @classmethod
    def too_large(cls, status: int = 431) -> InvalidTokenError:
        return cls("the token is too large", status=status, bearer_error="invalid_request")

    @classmethod
    def query_refused(cls) -> InvalidTokenError:
        return cls(
            "a token in the query (access_token) is not accepted here; send it in an "
            "Authorization: Bearer header or the cookie",
            status=400,
            bearer_error="invalid_request",
        )

    def http_headers(self) -> list[tuple[str, str]]:
        challenge = 'Bearer realm="kafkasse"'
        if self.bearer_error is not None:
            challenge += f', error="{self.bearer_error}", error_description="{self.message}"'
        return [("WWW-Authenticate", challenge), *super().http_headers()]


class TokenKeysUnavailableError(KafkaSSEError):
    """The keys tokens are verified with (a JWKS URL) cannot be fetched; try again later."""

    status = 503
    retry_after_s = RETRY_AFTER_S


class TooManyStreamsError(KafkaSSEError):
    """A stream limit is reached: 503 for the process, 429 for one client."""

    def __init__(
        self, message: str, status: int = 503, retry_after_s: int = RETRY_AFTER_S, **details: Any
    ) -> None:
        super().__init__(message, **details)
        self.status = status
        self.retry_after_s = retry_after_s


class KafkaStreamError(KafkaSSEError):
    """Kafka failed while the stream was running (not a timeout or an empty poll)."""

    status = 500
