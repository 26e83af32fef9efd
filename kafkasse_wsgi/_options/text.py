"""How an :class:`~kafkasse_wsgi.options.Options` field is written as text: on the
``kafkasse-wsgi serve`` command line and in its ``KAFKASSE_*`` variables.

Each field names its :class:`Text` beside its check; ``_serve/specs.py`` derives the flag,
the variables and the parser from it, so the command learns a new option without changes
there. The forms shared by many fields, and those with words of their own for ``--help``,
are named here, which keeps the table in ``options.py`` about one line per field. Pure.
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Text:
    """How an option is written as text, on the ``kafkasse-wsgi serve`` command line and in
    its ``KAFKASSE_*`` variables (``_serve/specs.py`` derives the flag and variables from it).
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


#: An integer, or ``none`` for ``None``.
INT_OR_NONE = Text("int", optional=True)
#: A number, or ``none`` for ``None``.
FLOAT_OR_NONE = Text("float", optional=True)

#: The forms that need words of their own in ``--help`` (the docstring reads badly there).
ALLOWED_TOPICS = Text(
    "list",
    help="topics clients may read, comma-separated; default: all but the Kafka "
    "ecosystem's own (_*, connect-configs/-offsets/-status, *-changelog, "
    "*-repartition), which are served only when named here",
)
RESUME_POLICY = Text(
    "resume_policy",
    help="where a resume outside a partition's range starts: too_old=ACTION,"
    "too_new=ACTION (earliest, latest or error), or one ACTION for both",
)
TRUSTED_PROXIES = Text(
    "proxies",
    help="proxies in front whose X-Forwarded-For counts: how many (the client is the "
    "entry that many from the right), or their addresses and CIDR ranges, "
    "comma-separated",
)
CORS_ORIGINS = Text(
    "origins",
    help="origins whose pages may read streams (CORS), comma-separated, or '*' for "
    "any (without credentials); default: none",
)
JWT_KEYS = Text(
    "key",
    aliases=("--jwt-key", "--jwt-jwks"),
    help="subscriber tokens: a JWKS URL (https://…), or a file holding a PEM public "
    "key, a JWKS or an HS secret; an inline HS secret only in KAFKASSE_JWT_KEYS, never "
    "on a command line; one key source (a JWKS holds many); default: no tokens",
)
JWT_ALGORITHMS = Text(
    "list",
    optional=True,
    help="accepted token algorithms, comma-separated (e.g. RS256); default: those of "
    "the configured keys' kinds, never none",
)
JWT_AUDIENCE = Text(
    "list",
    optional=True,
    help="required token audience (aud), comma-separated for several; default: not checked",
)
SCHEMA_REGISTRY = Text(
    "str",
    optional=True,
    help="URL of a Confluent-compatible schema registry: Avro, Protobuf and JSON "
    "Schema records are decoded into JSON (the registry extra); user, password and "
    "ca_file go in the config file's schema_registry table; default: none",
)
