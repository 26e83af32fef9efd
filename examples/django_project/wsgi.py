"""The WSGI entry point: ``gunicorn -k gevent --chdir examples/django_project wsgi:application``."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "settings")

application = get_wsgi_application()
