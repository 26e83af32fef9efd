"""The framework test apps with subscriber tokens accepted from ``?access_token=``, for
gunicorn's ``module:factory()``: Flask's ``/stream/<topics>``, Django's ``/fn/<topics>`` and
the middleware's ``/stream/<topics>`` (options as in ``framework_apps``, plus the tokens)."""

from __future__ import annotations

from typing import Any

from kafkasse_wsgi import Options
from tests.support import framework_apps
from tests.support.tokens import SECRET

_framework_options = framework_apps.options


def options() -> Options:
    return _framework_options().replace(jwt_keys=SECRET, jwt_allow_query_token=True)


def flask_app() -> Any:
    framework_apps.options = options  # its views take their options from there
    return framework_apps.flask_app()


def django_app() -> Any:
    framework_apps.options = options
    return framework_apps.django_app()


def middleware_app() -> Any:
    from kafkasse_wsgi.middleware import KafkaSSEMiddleware

    opts = options()
    return KafkaSSEMiddleware(
        framework_apps.echo_app,
        prefix="/stream",
        kafka_config=opts.kafka_config,
        jwt_keys=SECRET,
        jwt_allow_query_token=True,
    )
