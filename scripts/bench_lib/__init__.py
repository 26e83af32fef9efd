"""The kafkasse_wsgi benchmark (issues 6 and 10): ``scripts/bench`` runs
``python -m scripts.bench_lib``.

Modules, in the order a run uses them:

* ``data``      — the replay topic (reused when it already holds the data) and rate-limited
  producing for the live-tail measurements;
* ``baseline``  — (a) the bare kafka-python consumer, the ceiling for one stream;
* ``streams``   — (b) one stream, (d) fan-out, (e) latency, (g) time to first byte/event,
  and the client's own ceiling against a static server;
* ``node``      — (c) the Node original (``kafka-sse`` from npm) on the same topic;
* ``memory``    — (f) RSS and broker connections per idle stream vs a bare consumer;
* ``tail``      — (i) the shared live tail against one consumer per stream (issue 10):
  latency, fan-out, idle clients, capacity, each in both modes;
* ``profile``   — py-spy on the gunicorn worker during (b), or during a run of (i);
* ``report``    — the table and the JSON file.

Processes: the orchestrator (plain Python, no gevent), the server under test (gunicorn with
one gevent worker, ``app.py`` + ``gunicorn_conf.py``), and the load client (``client.py``,
gevent + raw sockets) in its own process, so client and server never share a core's time
slice by accident. Nothing here imports at package level: ``client.py`` must monkey-patch
before anything else is imported.
"""
