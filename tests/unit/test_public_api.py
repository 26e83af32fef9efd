"""What a user sees of the package: ``dir()``, ``help()`` and the module docstring show the
public names (``__all__``), while attributes stay lazy (no import has side effects)."""

from __future__ import annotations

import pydoc
import re
from pathlib import Path

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


PUBLIC_MODULES = {
    "errors",
    "gunicorn_hooks",
    "hub",
    "log",
    "metrics",
    "middleware",
    "options",
    "tokens",
    "contrib",
    "schema_registry",
}


def test_a_module_is_public_by_name_or_marked_internal():
    """The layout says which modules are the API: every other one starts with ``_``."""
    root = Path(kafkasse_wsgi.__file__).parent
    modules = {path.stem for path in root.glob("*.py")}
    packages = {path.name for path in root.iterdir() if (path / "__init__.py").exists()}
    unmarked = {name for name in modules | packages if not name.startswith("_")}
    assert unmarked == PUBLIC_MODULES


def test_every_documented_import_path_works():
    from kafkasse_wsgi.contrib.django import KafkaSSEView, stream_view
    from kafkasse_wsgi.contrib.flask import make_blueprint, stream_response
    from kafkasse_wsgi.errors import ConfigurationError
    from kafkasse_wsgi.gunicorn_hooks import post_worker_init
    from kafkasse_wsgi.hub import describe_hubs
    from kafkasse_wsgi.log import configure_json_logging
    from kafkasse_wsgi.metrics import metrics_app, worker_exited
    from kafkasse_wsgi.middleware import KafkaSSEMiddleware
    from kafkasse_wsgi.options import Options
    from kafkasse_wsgi.schema_registry import RegistryConfig, deserializer_for
    from kafkasse_wsgi.tokens import mint_token

    assert all(
        callable(name)
        for name in (
            KafkaSSEView,
            stream_view,
            make_blueprint,
            stream_response,
            ConfigurationError,
            post_worker_init,
            describe_hubs,
            configure_json_logging,
            metrics_app,
            worker_exited,
            KafkaSSEMiddleware,
            Options,
            RegistryConfig,
            deserializer_for,
            mint_token,
        )
    )


def test_kafka_pythons_private_attributes_are_touched_in_one_module():
    """An upgrade of kafka-python has one file to read: ``_kafka_internals.py``."""
    root = Path(kafkasse_wsgi.__file__).parent
    names = "_client|_fetcher|_conns|_coordinator|_subscription|_next_partition_records"
    private = re.compile(rf"""(?<!self)\.({names})\b|getattr\([^,]+, ["']({names})["']""")
    touching = {
        str(path.relative_to(root))
        for path in root.rglob("*.py")
        if private.search(path.read_text(encoding="utf-8"))
    }
    assert touching == {"_kafka_internals.py"}
