"""How a text names a token key: a JWKS URL, PEM text, a key file, or an inline HS secret.

One rule for ``KAFKASSE_JWT_KEYS``, ``--jwt-keys`` and a string given to ``jwt_keys``:

* ``https://…`` (or ``http://`` to a loopback host) is a JWKS URL; ``-----BEGIN`` is PEM;
* a generated secret has the **secret shape**: at least :data:`MIN_SECRET_CHARS` characters
  of base64, base64url or hex (``A-Z a-z 0-9 + / = - _``), which is what
  ``openssl rand -base64 32`` prints, ``/`` included;
* anything else is a file name (a key file's name has a ``.``, a ``~`` or a space that no
  generated secret has; one named by a secret-shaped text is read only if it exists).

``KAFKASSE_JWT_KEYS`` reads a value naming an existing file as that file, else a
secret-shaped value as the secret. ``--jwt-keys`` takes no inline secret (a command line is
visible to every user of the machine). A value that is neither is refused as "names no key
file". In Python a string is never read as a file (pass a :class:`~pathlib.Path`): one that
looks like a file name is refused. No message here quotes the value: it may be a secret.
"""

from __future__ import annotations

import argparse
import os
import re
from pathlib import Path

__all__ = ["KeyTextError", "is_secret_shaped", "key_of_env", "key_of_flag", "looks_like_a_path"]

#: Shortest text taken as an inline secret (an HS256 key is 32 bytes).
MIN_SECRET_CHARS = 32
_SECRET_SHAPE = re.compile(rf"[A-Za-z0-9+/=_-]{{{MIN_SECRET_CHARS},}}")


class KeyTextError(ValueError, argparse.ArgumentTypeError):
    """A key text that names nothing usable; its message never quotes the text (argparse
    shows an ``ArgumentTypeError``'s message instead of ``invalid … value: '<text>'``)."""


def is_secret_shaped(text: str) -> bool:
    """Base64, base64url or hex of at least :data:`MIN_SECRET_CHARS` characters."""
    return bool(_SECRET_SHAPE.fullmatch(text))


def looks_like_a_path(text: str) -> bool:
    """A string given to ``jwt_keys`` in Python that a mistyped key file name would be: it
    must not become an HMAC secret. Secret-shaped text is one only if that file exists."""
    if os.path.isfile(text):
        return True
    return not is_secret_shaped(text) and (
        text.startswith(("/", "./", "../", "~"))
        or text.endswith((".pem", ".json", ".jwks", ".key", ".crt"))
    )


def _url_pem_or_file(value: str) -> str | Path | None:
    """A URL or PEM text as is, an existing file as its path; ``None`` for anything else."""
    if value.startswith(("https://", "http://", "-----BEGIN")):
        return value
    path = Path(value).expanduser()
    return path if path.is_file() else None


def key_of_env(text: str) -> str | Path:
    """``KAFKASSE_JWT_KEYS``: a URL or PEM as is, an existing file, or an inline secret.

    :raises KeyTextError: neither an existing file nor secret-shaped.
    """
    value = text.strip()
    known = _url_pem_or_file(value)
    if known is not None:
        return known
    if is_secret_shaped(value):
        return value
    raise KeyTextError(
        "names no key file (the value is not shown; an inline HS secret is at least "
        f"{MIN_SECRET_CHARS} characters of A-Z a-z 0-9 + / = - _)"
    )


def key_of_flag(text: str) -> str | Path:
    """``--jwt-keys``: a URL, PEM text or an existing key file; never an inline secret.

    :raises KeyTextError: no such file.
    """
    known = _url_pem_or_file(text.strip())
    if known is not None:
        return known
    raise KeyTextError(
        "names no key file (the value is not shown; an inline HS secret belongs in "
        "KAFKASSE_JWT_KEYS, never on a command line)"
    )
