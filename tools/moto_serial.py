"""moto server whose requests are handled one at a time.

moto's threaded server evaluates DynamoDB condition expressions and transactions without a
lock, so two concurrent conditional writes can both pass -- real DynamoDB never allows that.
Holding one lock per request restores the atomicity the product relies on (and that the
concurrency tests assert) while keeping the wire protocol and every SDK call real.

Usage: python tools/moto_serial.py -H 127.0.0.1 -p PORT
"""

import argparse
import os
import threading

from werkzeug.serving import run_simple

from moto.moto_server.threaded_moto_server import MotoRequestHandler  # noqa: F401 (same handler as moto_server)
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, default=5000)
    args = parser.parse_args()
    os.environ.setdefault("MOTO_PORT", str(args.port))

    app = DomainDispatcherApplication(create_backend_app)
    lock = threading.Lock()

    def serialised(environ, start_response):
        with lock:
            # Materialise the body inside the lock: moto computes it lazily for some services.
            return list(app(environ, start_response))

    run_simple(args.host, args.port, serialised, threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
