"""``kafkasse-wsgi serve``: the command-line server, a layer above the library.

- :mod:`.cli`: the command line (``serve``, ``check``, ``capacity``), gevent or gunicorn.
- :mod:`.config`: every setting from flags, ``KAFKASSE_*`` variables and a TOML file,
  derived from the options' own declaration.
- :mod:`.server`: the WSGI app it serves (streams, the demo page, health, metrics).
- :mod:`.health`, :mod:`.connections`, :mod:`.capacity`: broker health checks, bounded
  connections and refusals, what one worker can hold.
- ``static/``: the demo page.

The library never imports this package.
"""
