"""A test app for gunicorn, configured like tests/support/apps.py through an env var."""

import json
import os

from kafkasse_wsgi.log import configure_json_logging
from tests.support.apps import make_app

configure_json_logging("INFO")
app = make_app(json.loads(os.environ["TEST_APP_CONFIG"]))
