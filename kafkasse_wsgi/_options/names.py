"""Option names as an application writes them: a name that is no option is an error, and
the error names the option meant when the name is a near miss (``alowed_topics``, or the
Node original's ``allowedTopics``). Without it a typo would leave the default in force.
Pure.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Sequence

from ..errors import ConfigurationError


def check_names(names: Iterable[str], known: Sequence[str]) -> None:
    """:raises ConfigurationError: naming every one of ``names`` not in ``known``."""
    unknown = sorted(set(names) - set(known))
    if unknown:
        raise ConfigurationError(f"unknown option(s): {', '.join(unknown)}{_hint(unknown, known)}")


def _hint(unknown: Sequence[str], known: Sequence[str]) -> str:
    """``; did you mean allowed_topics?`` for near misses (``alowed_topics``, the Node
    original's ``allowedTopics``), naming each one when there are several."""
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
