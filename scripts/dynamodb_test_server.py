"""The DynamoDB-compatible server the tests run against: moto's server mode, one request at a time.

DynamoDB applies each request, a TransactWriteItems included, as one serializable step: no other
request sees or interleaves with half of it. moto's own `moto_server` handles requests on
concurrent threads without a lock, so two transactions on the same items can interleave (both
check their conditions, then both write), which real DynamoDB never does; concurrency tests then
fail or pass by chance. This runs the very same moto application with a lock around each request.
Requests still arrive concurrently on their own threads (idle keep-alive connections block no one);
only their handling is serialized, which is the isolation the store's design relies on.

Usage: .venv/bin/python scripts/dynamodb_test_server.py PORT
"""

import sys
import threading

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import run_simple


class OneRequestAtATime:
    """WSGI middleware: the wrapped application handles one request at a time."""

    def __init__(self, app):
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        with self.lock:
            # Consume the whole response inside the lock: WSGI apps may produce it lazily.
            return list(self.app(environ, start_response))


def main():
    port = int(sys.argv[1])
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(
        "127.0.0.1",
        port,
        OneRequestAtATime(app),
        threaded=True,
        request_handler=MotoRequestHandler,
    )


if __name__ == "__main__":
    main()
