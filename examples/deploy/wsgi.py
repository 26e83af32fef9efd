"""The stream server as a WSGI module, for a gunicorn configuration of your own:

    gunicorn -c examples/gunicorn.conf.py --chdir examples/deploy wsgi:application

It reads exactly what ``kafkasse-wsgi serve`` reads, with the same defaults: the ``KAFKASSE_*``
variables (``KAFKASSE_BOOTSTRAP_SERVERS``, ``KAFKASSE_ALLOWED_TOPICS``,
``KAFKASSE_TRUSTED_PROXIES`` (default 0; 1 with one nginx in front that appends the client's
address to ``X-Forwarded-For``), ``KAFKASSE_MAX_STREAMS``, ``KAFKASSE_MAX_STREAMS_PER_CLIENT``,
…), ``KAFKASSE_KAFKA_<KEY>`` consumer settings and a ``KAFKASSE_CONFIG`` file. The server's
own settings (host, port, workers) are gunicorn's here. ``kafkasse-wsgi serve`` itself has a
flag for each of these (``--trusted-proxies``, ``--max-streams``, …): this module is for
when gunicorn is yours to configure.
"""

from __future__ import annotations

from kafkasse_wsgi._serve.cli import build_parser
from kafkasse_wsgi._serve.config import check, resolve
from kafkasse_wsgi._serve.server import StreamServer

# No flags here: the environment and the file, over the defaults. A bad value fails now.
config = resolve(build_parser().parse_args(["serve"]))
check(config)
application = StreamServer(**config.stream_options())
