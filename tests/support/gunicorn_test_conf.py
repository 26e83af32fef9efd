"""gunicorn settings for tests: the stream-ending hook of kafkasse_wsgi, as documented."""

from kafkasse_wsgi.gunicorn_hooks import post_worker_init  # noqa: F401
