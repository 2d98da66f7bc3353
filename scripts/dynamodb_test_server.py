"""The DynamoDB-compatible server the tests run against: moto's server mode, one request at a time,
with DynamoDB's idempotent transactions.

DynamoDB applies each request, a TransactWriteItems included, as one serializable step: no other
request sees or interleaves with half of it. moto's own `moto_server` handles requests on
concurrent threads without a lock, so two transactions on the same items can interleave (both
check their conditions, then both write), which real DynamoDB never does; concurrency tests then
fail or pass by chance. This runs the very same moto application with a lock around each request.
Requests still arrive concurrently on their own threads (idle keep-alive connections block no one);
only their handling is serialized, which is the isolation the store's design relies on.

moto also ignores TransactWriteItems' ClientRequestToken. DynamoDB answers a repeat of a committed
transaction (same token, same parameters, within 10 minutes) with success without running it again,
and the same token with other parameters with IdempotentParameterMismatchException (TransactWriteItems
API reference). The SDK's retry of a transaction whose answer was lost relies on that, so this server
does the same: see TransactionTokens.

Usage: .venv/bin/python scripts/dynamodb_test_server.py PORT [HOST] [--ignore-request-tokens]

HOST is 127.0.0.1 unless given: only this machine can reach it. `sam local` runs the functions in
Docker containers, which reach this machine at Docker's bridge address (172.17.0.1 on Linux): give
that address to serve them, and nothing beyond this machine and its containers can reach it.
--ignore-request-tokens keeps moto's own behaviour, for tests of a store that must cope without
DynamoDB's idempotent transactions.

moto backs up every table a TransactWriteItems names with copy.deepcopy before running it, so each
transaction costs time in proportion to the table's size and a bulk import slows quadratically
(2,000 creates did not finish in 10 minutes). DynamoDB's all-or-nothing outcome needs only the items
the transaction names: see item_level_rollback.

Every request's X-Amzn-Trace-Id is remembered (the last 10,000), so tests can check that a trace
reaches DynamoDB: GET /_test/trace-headers?root=1-... answers the operations (X-Amz-Target) and
headers of the requests in that trace, as JSON. Nothing else is answered on that path.
"""

import collections
import copy
import io
import json
import sys
import threading
import time
import urllib.parse

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


class TraceHeaders:
    """WSGI middleware: records each request's trace header, for tests to read back."""

    PATH = "/_test/trace-headers"

    def __init__(self, app):
        self.app = app
        self.seen = collections.deque(maxlen=10_000)

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO") == self.PATH:
            query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""))
            root = query.get("root", [""])[0]
            matching = [
                {"target": target, "header": header}
                for target, header in list(self.seen)
                if root and f"Root={root}" in header
            ]
            start_response("200 OK", [("Content-Type", "application/json")])
            return [json.dumps(matching).encode()]
        header = environ.get("HTTP_X_AMZN_TRACE_ID")
        if header:
            self.seen.append((environ.get("HTTP_X_AMZ_TARGET", ""), header))
        return self.app(environ, start_response)


class TransactionTokens:
    """WSGI middleware: TransactWriteItems' ClientRequestToken, as DynamoDB documents it."""

    TARGET = "DynamoDB_20120810.TransactWriteItems"
    WINDOW_SECONDS = 600

    def __init__(self, app):
        self.app = app
        # token -> (parameters, status, headers, body, when committed)
        self.committed = {}

    def __call__(self, environ, start_response):
        if environ.get("HTTP_X_AMZ_TARGET") != self.TARGET:
            return self.app(environ, start_response)
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        environ["wsgi.input"] = io.BytesIO(body)
        request = json.loads(body)
        token = request.pop("ClientRequestToken", None)
        if token is None:
            return self.app(environ, start_response)
        now = time.monotonic()
        self.committed = {
            t: entry for t, entry in self.committed.items() if now - entry[4] < self.WINDOW_SECONDS
        }
        parameters = json.dumps(request, sort_keys=True)
        seen = self.committed.get(token)
        if seen is not None:
            if seen[0] != parameters:
                error = {
                    "__type": "com.amazonaws.dynamodb.v20120810#IdempotentParameterMismatchException",
                    "message": "The request uses the same client token as a previous, but non-identical request.",
                }
                start_response("400 Bad Request", [("Content-Type", "application/x-amz-json-1.0")])
                return [json.dumps(error).encode()]
            start_response(seen[1], seen[2])
            return [seen[3]]
        answer = {}

        def capture(status, headers, exc_info=None):
            answer["status"], answer["headers"] = status, headers
            return start_response(status, headers, exc_info)

        chunks = list(self.app(environ, capture))
        if answer.get("status", "").startswith("200"):
            self.committed[token] = (parameters, answer["status"], answer["headers"], b"".join(chunks), now)
        return chunks


def item_level_rollback():
    """Makes moto's transactions roll back the items they name instead of copies of whole tables.

    Before a transaction runs, the items it names and each table's stream length are saved; if moto
    cancels it, those items are put back and the stream records it added are dropped, which is the
    state moto's own whole-table copy would restore. moto's copy is replaced by the table itself.
    """
    import moto.dynamodb.models as models
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.models.table import Table

    deepcopy = copy.deepcopy

    class TablesNotCopied:
        @staticmethod
        def deepcopy(value, memo=None):
            return value if isinstance(value, Table) else deepcopy(value, memo)

    models.copy = TablesNotCopied
    run = DynamoDBBackend.transact_write_items

    def named_item(backend, entry):
        """(table, hash key, range key) of one transaction entry, or None if moto will refuse it."""
        try:
            operation = next(iter(entry.values()))
            table = backend.tables[operation["TableName"]]
            key = operation.get("Key") or operation["Item"]
            hash_key = DynamoType(key[table.hash_key_attr])
            range_key = DynamoType(key[table.range_key_attr]) if table.range_key_attr else None
            return table, hash_key, range_key
        except (AttributeError, KeyError, StopIteration, TypeError):
            return None

    def transact_write_items(self, transact_items):
        named = [item for item in (named_item(self, entry) for entry in transact_items) if item]
        saved = [(t, h, r, deepcopy(t.get_item(h, r))) for t, h, r in named]
        streams = {id(t): (t, len(t.stream_shard.items)) for t, _, _ in named if t.stream_shard}
        try:
            return run(self, transact_items)
        except Exception:
            for table, hash_key, range_key, item in reversed(saved):
                if item is not None and range_key is not None:
                    table.items[hash_key][range_key] = item
                elif item is not None:
                    table.items[hash_key] = item
                elif range_key is not None:
                    table.items.get(hash_key, {}).pop(range_key, None)
                else:
                    table.items.pop(hash_key, None)
            for table, length in streams.values():
                del table.stream_shard.items[length:]
            raise

    DynamoDBBackend.transact_write_items = transact_write_items


def main():
    flags = {arg for arg in sys.argv[1:] if arg.startswith("--")}
    positional = [arg for arg in sys.argv[1:] if not arg.startswith("--")]
    port = int(positional[0])
    host = positional[1] if len(positional) > 1 else "127.0.0.1"
    item_level_rollback()
    app = DomainDispatcherApplication(create_backend_app)
    if "--ignore-request-tokens" not in flags:
        app = TransactionTokens(app)
    run_simple(
        host,
        port,
        TraceHeaders(OneRequestAtATime(app)),
        threaded=True,
        request_handler=MotoRequestHandler,
    )


if __name__ == "__main__":
    main()
