"""What a user sees of the package: ``dir()``, ``help()`` and the module docstring show the
public names (``__all__``), while attributes stay lazy (no import has side effects)."""

from __future__ import annotations

import pydoc

import kafkasse_wsgi


def test_dir_lists_every_public_name():
    """Regression: ``dir(kafkasse_wsgi)`` showed none of the API (no ``__dir__``)."""
    assert set(kafkasse_wsgi.__all__) <= set(dir(kafkasse_wsgi))


def test_every_public_name_is_importable_and_in_the_docstring():
    doc = kafkasse_wsgi.__doc__ or ""
    for name in kafkasse_wsgi.__all__:
        assert getattr(kafkasse_wsgi, name) is not None
        assert f"``{name}``" in doc, name


def test_help_shows_the_api_not_only_getattr():
    """Regression: ``help(kafkasse_wsgi)`` listed 33 modules and, as functions, only
    ``__getattr__``."""
    text = pydoc.render_doc(kafkasse_wsgi, renderer=pydoc.plaintext)
    for name in ("KafkaSSE", "kafka_sse", "Options", "ResumePolicy", "configure_json_logging"):
        assert name in text, name
    functions = text.split("FUNCTIONS", 1)[1].split("DATA", 1)[0] if "FUNCTIONS" in text else ""
    assert "kafka_sse(" in functions


def test_configure_json_logging_is_public():
    from kafkasse_wsgi.log import configure_json_logging

    assert kafkasse_wsgi.configure_json_logging is configure_json_logging
    assert "configure_json_logging" in kafkasse_wsgi.__all__
