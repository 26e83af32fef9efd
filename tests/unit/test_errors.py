"""errors.py: each error's HTTP status and its JSON form, never with a stack trace."""

from __future__ import annotations

import json

import pytest

from kafkasse_wsgi import errors
from kafkasse_wsgi.errors import (
    ConfigurationError,
    DeserializationError,
    FilterError,
    InvalidAssignmentError,
    InvalidFilterError,
    InvalidReplayBoundsError,
    KafkaSSEError,
    KafkaStreamError,
    KafkaUnavailableError,
    MethodNotAllowedError,
    ResumeOutOfRangeError,
    TooManyStreamsError,
    TopicNotAvailableError,
)


@pytest.mark.parametrize(
    ("cls", "status"),
    [
        (KafkaSSEError, 500),
        (ConfigurationError, 500),
        (InvalidAssignmentError, 400),
        (TopicNotAvailableError, 404),
        (ResumeOutOfRangeError, 410),
        (MethodNotAllowedError, 405),
        (InvalidFilterError, 400),
        (InvalidReplayBoundsError, 400),
        (TooManyStreamsError, 503),
        (DeserializationError, 500),
        (FilterError, 500),
        (KafkaUnavailableError, 503),
        (KafkaStreamError, 500),
    ],
)
def test_status_code(cls: type[KafkaSSEError], status: int) -> None:
    assert cls("x").status == status


def test_too_many_streams_per_client_is_429_with_retry_after() -> None:
    error = TooManyStreamsError("x", status=429, retry_after_s=7)
    assert error.status == 429
    assert error.http_headers() == [("Retry-After", "7")]


def test_every_error_is_a_kafkasse_error() -> None:
    classes = {
        value
        for value in vars(errors).values()
        if isinstance(value, type) and issubclass(value, Exception)
    }
    assert len(classes) == 15
    assert all(issubclass(cls, KafkaSSEError) for cls in classes)


def test_method_not_allowed_is_405_with_allow_and_not_an_assignment_error() -> None:
    error = MethodNotAllowedError("method PUT not allowed; use GET", allow=("GET", "HEAD"))
    assert error.http_headers() == [("Allow", "GET, HEAD")]
    assert error.to_dict()["name"] == "MethodNotAllowedError"
    assert not isinstance(error, InvalidAssignmentError)


def test_resume_out_of_range_is_an_invalid_assignment() -> None:
    assert issubclass(ResumeOutOfRangeError, InvalidAssignmentError)


def test_to_dict_has_name_message_origin_and_details() -> None:
    error = TopicNotAvailableError("Topic(s) a not available for consumption", topics=["a"])
    assert error.to_dict() == {
        "name": "TopicNotAvailableError",
        "message": "Topic(s) a not available for consumption",
        "origin": "KafkaSSE",
        "topics": ["a"],
    }


def test_str_is_the_message() -> None:
    assert str(InvalidAssignmentError("bad")) == "bad"


@pytest.mark.parametrize("key", ["name", "origin"])
def test_details_cannot_override_the_fixed_fields(key: str) -> None:
    error = KafkaSSEError("real", **{key: "spoofed"})
    body = error.to_dict()
    assert body[key] != "spoofed"
    assert body == {"name": "KafkaSSEError", "message": "real", "origin": "KafkaSSE"}


def test_to_json_is_the_dict_as_json() -> None:
    error = ResumeOutOfRangeError("gone", topic="a", partition=0, available_offsets=[3, 9])
    assert error.to_json() == (
        '{"name": "OffsetOutOfRangeError", "message": "gone", "origin": "KafkaSSE", '
        '"topic": "a", "partition": 0, "available_offsets": [3, 9]}'
    )


def test_to_json_stringifies_values_json_cannot_hold() -> None:
    error = KafkaSSEError("x", thing={1})
    assert json.loads(error.to_json())["thing"] == "{1}"


def test_to_json_is_ascii_and_single_line() -> None:
    error = InvalidAssignmentError("bad topic 'é'\nsecond line")
    text = error.to_json()
    assert text.isascii()
    assert "\n" not in text and "\r" not in text


def test_json_form_carries_no_stack_trace_or_cause() -> None:
    try:
        try:
            raise OSError("connect to 10.0.0.7:9092 refused")
        except OSError as exc:
            raise KafkaUnavailableError("Kafka cannot be reached right now") from exc
    except KafkaUnavailableError as error:
        caught = error
    text = caught.to_json()
    assert "Traceback" not in text
    assert "10.0.0.7" not in text
    assert "OSError" not in text
    assert json.loads(text) == {
        "name": "KafkaUnavailableError",
        "message": "Kafka cannot be reached right now",
        "origin": "KafkaSSE",
    }


def test_kafka_unavailable_sends_retry_after() -> None:
    assert KafkaUnavailableError("down").http_headers() == [("Retry-After", "5")]
    assert KafkaUnavailableError("down", retry_after_s=30).http_headers() == [("Retry-After", "30")]


def test_kafka_unavailable_keeps_details_apart_from_retry_after() -> None:
    error = KafkaUnavailableError("down", retry_after_s=7, topic="a")
    assert error.retry_after_s == 7
    assert error.to_dict()["topic"] == "a"
    assert "retry_after_s" not in error.to_dict()


@pytest.mark.parametrize(
    "cls",
    [KafkaSSEError, ConfigurationError, InvalidAssignmentError, TopicNotAvailableError],
)
def test_other_errors_send_no_extra_headers(cls: type[KafkaSSEError]) -> None:
    assert cls("x").http_headers() == []


def test_no_error_class_is_named_as_one_of_kafka_pythons() -> None:
    """``errors.OffsetOutOfRangeError`` shared its name with kafka-python's: code reading
    both (the pump catches kafka-python's) could not tell by the name which one it meant."""
    import kafka.errors

    def names(module: object) -> set[str]:
        return {
            value.__name__
            for value in vars(module).values()
            if isinstance(value, type) and issubclass(value, BaseException)
        }

    assert not names(errors) & names(kafka.errors)


def test_a_resume_out_of_range_keeps_its_wire_name_and_its_old_python_name() -> None:
    """Clients match the JSON body's name, and callers catch the old class name: both stay."""
    error = ResumeOutOfRangeError("gone", topic="a", partition=0)
    assert error.status == 410 and isinstance(error, InvalidAssignmentError)
    assert error.to_dict()["name"] == "OffsetOutOfRangeError"
    assert errors.OffsetOutOfRangeError is ResumeOutOfRangeError
