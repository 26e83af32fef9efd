"""Settings of the smallest Django project that streams Kafka topics (see ../04_django.py).

Flat layout: run from this directory (gunicorn ``--chdir``, or ``python manage.py``), so
``DJANGO_SETTINGS_MODULE=settings``.
"""

import os

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "example-only-not-secret")
DEBUG = os.environ.get("DJANGO_DEBUG") == "1"
ALLOWED_HOSTS = ["127.0.0.1", "localhost", *os.environ.get("ALLOWED_HOSTS", "").split(",")]

ROOT_URLCONF = "urls"
WSGI_APPLICATION = "wsgi.application"
INSTALLED_APPS: list[str] = []
# No middleware that buffers bodies (GZipMiddleware would hold back a stream's bytes).
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
]
USE_TZ = True
TIME_ZONE = "UTC"  # Django sets the process TZ from this; log times stay in UTC
# Logging: gunicorn.conf.py's post_worker_init installs JSON lines for every logger.

#: The options of every stream in this project (kafkasse_wsgi.Options keywords).
KAFKASSE = {
    "kafka_config": {
        "bootstrap_servers": os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
    },
    "heartbeat_interval_s": float(os.environ.get("EXAMPLE_HEARTBEAT_S", "15")),
}
