"""CORS: which browser pages on other origins may read a stream, said in response headers.

With ``cors_origins`` set, a page on an allowed origin gets ``Access-Control-Allow-Origin``
on streams *and* on error responses (else its script could not read why it was refused), a
preflight ``OPTIONS`` is answered (``EventSource`` needs none, but ``fetch`` with a
``Last-Event-ID`` header does), and listed origins may send cookies (credentials). With
``"*"`` any origin may read, without credentials, as browsers require. Pure: headers only.
"""

from __future__ import annotations

from ._request import ALLOWED_METHODS
from .options import Options

#: Request headers a cross-origin page may send (beyond the always-allowed simple ones).
#: Authorization: a fetch-based client sending a subscriber token preflights it.
ALLOWED_HEADERS = "Last-Event-ID, Accept, Cache-Control, X-Request-ID, Authorization"
#: Response headers a cross-origin script may read.
EXPOSED_HEADERS = "X-Request-ID, X-KafkaSSE-Reset"
#: Seconds a browser may cache a preflight answer.
PREFLIGHT_MAX_AGE_S = 600
#: Every answer depends on Accept (SSE or JSON lines) and Origin (the CORS headers).
VARY = ("Vary", "Accept, Origin")


def cors_headers(options: Options, origin: str | None) -> list[tuple[str, str]]:
    """The CORS headers of an answer to ``origin``: none when it is not allowed."""
    allowed = options.cors_origins
    if origin is None or allowed is None:
        return []
    if allowed == "*":
        return [
            ("Access-Control-Allow-Origin", "*"),
            ("Access-Control-Expose-Headers", EXPOSED_HEADERS),
        ]
    # Exact match: browsers send origins in lower case, and so are the configured ones.
    if origin not in allowed:
        return []
    return [
        ("Access-Control-Allow-Origin", origin),
        ("Access-Control-Allow-Credentials", "true"),
        ("Access-Control-Expose-Headers", EXPOSED_HEADERS),
    ]


def preflight_headers(options: Options, origin: str | None) -> list[tuple[str, str]]:
    """The headers of a ``204`` answer to ``OPTIONS``: ``Allow``, plus CORS if allowed."""
    headers = [("Allow", ", ".join(ALLOWED_METHODS)), VARY]
    granted = cors_headers(options, origin)
    if granted:
        headers += [
            *(h for h in granted if h[0] != "Access-Control-Expose-Headers"),
            ("Access-Control-Allow-Methods", ", ".join(ALLOWED_METHODS)),
            ("Access-Control-Allow-Headers", ALLOWED_HEADERS),
            ("Access-Control-Max-Age", str(PREFLIGHT_MAX_AGE_S)),
        ]
    return headers
