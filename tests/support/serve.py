"""Run a test WSGI app under gevent's WSGIServer in its own process (as deployed: patched).

    python -m tests.support.serve --port P --parent-pid PID --config JSON

Prints ``READY`` once listening. Stops by itself when its parent dies or after
``--max-lifetime-s``, so a crashed test run leaves no server behind.
"""

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import gevent  # noqa: E402
from gevent.pywsgi import WSGIServer  # noqa: E402

from kafkasse_wsgi.log import configure_json_logging  # noqa: E402
from tests.support.apps import make_app  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--parent-pid", type=int, required=True)
    parser.add_argument("--config", default="{}")
    parser.add_argument("--max-lifetime-s", type=float, default=600)
    args = parser.parse_args()

    configure_json_logging("INFO", sys.stdout)
    app = make_app(json.loads(args.config))
    server = WSGIServer(("127.0.0.1", args.port), app, log=None)
    server.start()

    def watchdog() -> None:
        deadline = time.monotonic() + args.max_lifetime_s
        while os.getppid() == args.parent_pid and time.monotonic() < deadline:
            gevent.sleep(0.5)
        os._exit(0)

    gevent.spawn(watchdog)
    gevent.signal_handler(signal.SIGTERM, lambda: os._exit(0))
    print("READY", flush=True)
    sys.stdout.flush()
    server.serve_forever()


if __name__ == "__main__":
    main()
