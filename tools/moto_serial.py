"""moto server whose requests are handled one at a time.

moto's threaded server evaluates DynamoDB condition expressions and transactions without a
lock, so two concurrent conditional writes can both pass -- real DynamoDB never allows that.
Holding one lock per request restores the atomicity the product relies on (and that the
concurrency tests assert) while keeping the wire protocol and every SDK call real.

It also makes a transaction's rollback journal hold only the items the transaction names:
moto 5.2.5 deep-copies every table a TransactWriteItems names (items and stream records) before
each transaction, so a run's cost grows with the square of the table (a 10,000-callback load run
would take hours). All-or-nothing is kept: on any cancellation the named items and the table's
stream are put back as they were (`tools/test_moto_serial.py` holds it to that).

And a Query on the table's own key reads the one partition it names: moto 5.2.5 sorts every
item of the table to find a partition, so each Query costs the whole table.

Usage: python tools/moto_serial.py -H 127.0.0.1 -p PORT
       python tools/moto_serial.py --fork-server   (the tests' harness: see `fork_server`)
"""

import argparse
import copy
import os
import random
import signal
import sys
import threading
import time
from typing import Any

from werkzeug.serving import run_simple

from moto.moto_server.threaded_moto_server import MotoRequestHandler  # noqa: F401 (same handler as moto_server)
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app


def install_journaled_transactions() -> None:
    """Replace moto's whole-table backup in TransactWriteItems by a journal of the named items."""
    import moto.dynamodb.models as dynamodb_models
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.models.table import Table

    if getattr(DynamoDBBackend.transact_write_items, "journaled", False):
        return

    class _NoTableCopies:
        """`copy` as moto's module sees it: a Table is not copied (the journal covers it)."""

        def deepcopy(self, value: Any, memo: Any = None) -> Any:
            return value if isinstance(value, Table) else copy.deepcopy(value, memo)

        def __getattr__(self, name: str) -> Any:
            return getattr(copy, name)

    dynamodb_models.copy = _NoTableCopies()
    unjournaled = DynamoDBBackend.transact_write_items

    def journaled(self: Any, transact_items: list[dict[str, Any]]) -> None:
        journal: list[tuple[Table, DynamoType, Any, Any]] = []
        streams: dict[int, tuple[Table, int]] = {}
        for entry in transact_items:
            for op in entry.values():
                table = self.tables.get(op.get("TableName"))
                attrs = op.get("Item") if "Item" in op else op.get("Key")
                if table is None or not isinstance(attrs, dict) or table.hash_key_attr not in attrs:
                    continue  # moto refuses it before any write
                hash_value = DynamoType(attrs[table.hash_key_attr])
                range_value = None
                if table.range_key_attr is not None:
                    if table.range_key_attr not in attrs:
                        continue
                    range_value = DynamoType(attrs[table.range_key_attr])
                before = table.get_item(hash_value, range_value)
                journal.append((table, hash_value, range_value, copy.deepcopy(before)))
                if table.stream_shard is not None:
                    streams.setdefault(id(table), (table, len(table.stream_shard.items)))
        try:
            unjournaled(self, transact_items)
        except BaseException:
            for table, hash_value, range_value, before in reversed(journal):
                if range_value is None:
                    if before is None:
                        table.items.pop(hash_value, None)
                    else:
                        table.items[hash_value] = before
                else:
                    rows = table.items[hash_value]
                    if before is None:
                        rows.pop(range_value, None)
                        if not rows:
                            table.items.pop(hash_value, None)
                    else:
                        rows[range_value] = before
            for table, length in streams.values():
                del table.stream_shard.items[length:]
            raise

    journaled.journaled = True  # type: ignore[attr-defined]
    DynamoDBBackend.transact_write_items = journaled


def install_partition_queries() -> None:
    """A Query without an index reads the partition it names, not a sort of the whole table."""
    from moto.dynamodb.models.table import Table

    if getattr(Table.query, "partitioned", False):
        return
    whole_table = Table.query

    def query(self: Any, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
        # moto's backend passes index_name as the 8th positional argument.
        index_name = args[6] if len(args) > 6 else kwargs.get("index_name")
        if index_name is not None or hash_key is None:
            return whole_table(self, hash_key, *args, **kwargs)
        # DynamoType hashes by (type, value) and compares the same way, so the dictionary's
        # partition is exactly the items moto's filter `item.hash_key == hash_key` keeps.
        partition = self.items.get(hash_key)
        if partition is None:
            rows: list = []
        elif self.range_key_attr is not None:
            rows = list(partition.values())  # moto sorts by range key after its filter
        else:
            rows = [partition]
        self.all_items = lambda: rows  # shadows the method for this one call (requests are serial)
        try:
            return whole_table(self, hash_key, *args, **kwargs)
        finally:
            del self.all_items

    query.partitioned = True  # type: ignore[attr-defined]
    Table.query = query


def serialised_app(app: Any) -> Any:
    lock = threading.Lock()

    def serialised(environ, start_response):
        with lock:
            # Materialise the body inside the lock: moto computes it lazily for some services.
            return list(app(environ, start_response))

    return serialised


def serve(host: str, port: int, app: Any) -> None:
    os.environ["MOTO_PORT"] = str(port)
    run_simple(host, port, serialised_app(app), threaded=True, request_handler=MotoRequestHandler)


# Every service the product and its tests call: their modules and Flask apps are built once in
# the fork server, so each forked server answers its first request of each without that cost.
WARM_SERVICES = ("dynamodb", "dynamodbstreams", "s3", "secretsmanager", "sts", "events", "logs")


def fork_server() -> None:
    """One warmed-up moto per test process; a fresh server forked from it per test.

    Starting moto costs about a second of CPU (imports, then each service's first request); a
    test suite that starts one server per test for isolation pays that a hundred times. Here the
    imports are paid once: every `start PORT` line on stdin forks a child that serves on PORT with
    its own, empty state (a forked copy: nothing is shared between tests), and answers its pid;
    `stop PORT` kills it and answers `stopped`. When stdin closes (the test process ended, however
    it ended) every child is killed and this process exits; a child whose fork server is gone
    exits by itself.
    """
    install_journaled_transactions()
    install_partition_queries()
    app = DomainDispatcherApplication(create_backend_app)
    from moto.core.utils import get_service_model

    for service in WARM_SERVICES:
        app.app_instances[service] = create_backend_app(service)
        get_service_model(service)  # botocore's model of the service, parsed once (cached)
    # A DynamoDB stream record imports moto's Lambda (event source mappings) on first use.
    import moto.awslambda.models  # noqa: F401
    # Forking is only safe from a process with one thread.
    assert threading.active_count() == 1, "moto started a thread before the fork"
    parent = os.getpid()
    children: dict[int, int] = {}

    def stop(port: int) -> None:
        pid = children.pop(port, None)
        if pid is not None:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)

    for line in sys.stdin:
        command, _, argument = line.strip().partition(" ")
        port = int(argument)
        if command == "start":
            stop(port)
            pid = os.fork()
            if pid == 0:
                random.seed()
                devnull = os.open(os.devnull, os.O_RDWR)
                for fd in (0, 1, 2):
                    os.dup2(devnull, fd)

                def orphaned() -> None:
                    while os.getppid() == parent:
                        time.sleep(0.5)
                    os._exit(0)

                threading.Thread(target=orphaned, daemon=True).start()
                try:
                    serve("127.0.0.1", port, app)
                finally:
                    os._exit(1)
            children[port] = pid
            print(pid, flush=True)
        elif command == "stop":
            stop(port)
            print("stopped", flush=True)
    for port in list(children):
        stop(port)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, default=5000)
    parser.add_argument("--fork-server", action="store_true")
    args = parser.parse_args()
    if args.fork_server:
        fork_server()
        return
    install_journaled_transactions()
    install_partition_queries()
    serve(args.host, args.port, DomainDispatcherApplication(create_backend_app))


if __name__ == "__main__":
    main()
