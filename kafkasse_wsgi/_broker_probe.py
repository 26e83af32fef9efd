"""Why a stream's setup timed out: one bounded connection tells a refused SASL login or a
failed TLS handshake from brokers that are merely slow or down.
"""

from __future__ import annotations

import selectors
import socket
import ssl

from kafka import errors as kafka_errors

from ._consumer import TLS_FAILED_MESSAGE, UNAVAILABLE_RETRY_AFTER_S
from ._kafka_config import consumer_config
from .errors import KafkaUnavailableError
from .options import Options

#: Bound on the one connection :func:`explain_unavailable` opens to find out why.
AUTHENTICATION_PROBE_TIMEOUT_S = 3.0

AUTHENTICATION_FAILED_MESSAGE = (
    "Kafka cannot be reached: SASL authentication failed (credentials refused); try again later"
)


def explain_unavailable(options: Options, request_id: str) -> KafkaUnavailableError | None:
    """After a setup that timed out: was it the brokers refusing our SASL credentials?

    kafka-python does not raise on a failed SASL authentication: it logs, reconnects and tries
    again until the caller gives up, so the stream's setup only sees a timeout. One bounded
    connection to a bootstrap server, whose failures are recorded, tells the two apart.

    :returns: the 503 naming the authentication failure, or ``None`` if it was not that.
    """
    from kafka.conn import BrokerConnection

    config = consumer_config(options.kafka_config, f"{request_id}-probe")
    if not str(config.get("security_protocol", "")).startswith("SASL"):
        return None
    servers = config["bootstrap_servers"]
    host, _, port = (servers[0] if isinstance(servers, list) else servers).rpartition(":")
    settings = {k: v for k, v in config.items() if k in BrokerConnection.DEFAULT_CONFIG}
    settings["selector"] = selectors.DefaultSelector
    connection = BrokerConnection(host, int(port), socket.AF_UNSPEC, **settings)
    failures: list[BaseException | None] = []
    close = connection.close

    def recording_close(error: BaseException | None = None) -> None:
        failures.append(error)
        close(error)

    connection.close = recording_close
    try:
        connection.connect_blocking(timeout=AUTHENTICATION_PROBE_TIMEOUT_S)
    except ssl.SSLError:
        return KafkaUnavailableError(TLS_FAILED_MESSAGE, retry_after_s=UNAVAILABLE_RETRY_AFTER_S)
    except (kafka_errors.KafkaError, OSError) as exc:
        failures.append(exc)
    finally:
        close()
    refused = (
        kafka_errors.SaslAuthenticationFailedError,
        kafka_errors.UnsupportedSaslMechanismError,
        kafka_errors.IllegalSaslStateError,
    )
    if any(isinstance(failure, refused) for failure in failures):
        return KafkaUnavailableError(
            AUTHENTICATION_FAILED_MESSAGE, retry_after_s=UNAVAILABLE_RETRY_AFTER_S
        )
    return None
