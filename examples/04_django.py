"""04 — Django: the project in ``examples/django_project``, served by gunicorn with gevent.

    KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:9092 PORT=8000 python examples/04_django.py

is the same as

    gunicorn -c examples/gunicorn.conf.py --chdir examples/django_project wsgi:application

Then ``curl -N http://127.0.0.1:8000/stream/my-topic`` (class-based view) or
``/fn/my-topic`` (function view). Read ``django_project/urls.py`` for the wiring; Django's
``runserver`` works too for a quick look, but serves each stream with a thread.
"""

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

if __name__ == "__main__":
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "-c",
        str(HERE / "gunicorn.conf.py"),
        "--chdir",
        str(HERE / "django_project"),
        "wsgi:application",
    ]
    os.execv(sys.executable, command)
