"""What the roomcast ORM costs over its drivers: insert, get, page, update, delete.

For each backend (SQLite always; MongoDB and Cassandra when ``make services``
runs them and their connectors import) the same operations run, interleaved
round by round, for:

``roomcast``
    the ORM: ``Repository.save``/``find_one``/``find``/``remove`` on an attrs
    entity, through the backend's connector.
``raw``
    the bare driver making the same round trips as the connector (the same
    statements, on a worker thread for sqlite3 as the connector does), with
    the driver's own values: no entity, no checks, no conversion back.
``raw-min``
    the bare driver doing the least that gets the write done (a plain
    INSERT, UPDATE of one column, DELETE), without reading the previous row,
    which the ORM reads to announce what changed.
``peer``
    another mapper on the same backend: MongoEngine on MongoDB, cqlengine on
    Cassandra. Both are synchronous, so their calls block the loop.

Every contender runs one operation at a time (latency-bound, as one request
handler would), each in a table of its own with the same layout.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import sqlite3
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

import attrs

import orm

from .common import Run, arguments, fixed, service_url, text

OPS = ("insert", "get", "page", "update", "delete")
WRITES = ("insert", "update", "delete")

SIZES: dict[str, dict[str, int]] = {
    # rows: rows per contender per round (one partition); page: page size;
    # walks: how often the partition is paged through per round. SQLite,
    # embedded, is ten times faster than a networked backend: it does more.
    "tiny": {"rows": 10, "page": 5, "rounds": 1, "walks": 1, "embedded": 1},
    "short": {"rows": 60, "page": 20, "rounds": 3, "walks": 2, "embedded": 8},
    "full": {"rows": 400, "page": 50, "rounds": 6, "walks": 3, "embedded": 5},
}

BENCH_DATABASE = "roomcast_bench"

Row = dict[str, Any]


class Contender(Protocol):
    name: str

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def insert(self, rows: Sequence[Row]) -> int: ...

    async def get(self, rows: Sequence[Row]) -> int: ...

    async def page(self, bucket: str, size: int) -> int: ...

    async def update(self, rows: Sequence[Row]) -> int: ...

    async def delete(self, rows: Sequence[Row]) -> int: ...


# -- the data ----------------------------------------------------------------


def declare_item(table: str) -> type:
    """An entity class stored in ``table``: one partition per bucket."""

    @orm.entity(table, partition_key=["bucket"], clustering={"seq": "asc"})
    @attrs.define
    class Item:
        bucket: str
        seq: int
        name: str
        score: float
        owner: uuid.UUID
        created_at: datetime
        tags: list[str]

    return Item


def make_rows(bucket: str, count: int) -> list[Row]:
    now = datetime.now(UTC).replace(microsecond=0)
    return [
        {
            "bucket": bucket,
            "seq": seq,
            "name": f"item number {seq}",
            "score": seq * 1.5,
            "owner": uuid.uuid4(),
            "created_at": now,
            "tags": ["benchmark", f"t{seq % 7}"],
        }
        for seq in range(count)
    ]


def renamed(row: Row) -> str:
    return f"renamed {row['seq']}"


def millis(value: datetime) -> int:
    return int(value.timestamp() * 1000)


# -- roomcast ------------------------------------------------------------------


class Roomcast:
    """The ORM: a repository of an attrs entity."""

    name = "roomcast"

    def __init__(self, url: str, table: str) -> None:
        self.url = url
        self.cls = declare_item(table)
        self.db = orm.Database.from_url(url)
        self.items: orm.Repository[Any] = self.db.repository(self.cls)

    async def open(self) -> None:
        await self.db.connect()
        await self.db.create_schema([self.cls])

    async def close(self) -> None:
        await self.db.close()

    async def insert(self, rows: Sequence[Row]) -> int:
        for row in rows:
            await self.items.save(self.cls(**row))
        return len(rows)

    async def get(self, rows: Sequence[Row]) -> int:
        for row in rows:
            found = await self.items.find_one(
                {"bucket": row["bucket"], "seq": row["seq"]}
            )
            assert found is not None
        return len(rows)

    async def page(self, bucket: str, size: int) -> int:
        pages, token = 0, None
        while True:
            page = await self.items.find(
                {"bucket": bucket}, limit=size, page_token=token
            )
            pages += 1
            token = page.next_page_token
            if token is None:
                return pages

    async def update(self, rows: Sequence[Row]) -> int:
        for row in rows:
            await self.items.save(self.cls(**{**row, "name": renamed(row)}))
        return len(rows)

    async def delete(self, rows: Sequence[Row]) -> int:
        for row in rows:
            await self.items.remove(self.cls(**row))
        return len(rows)


# -- SQLite: sqlite3 on one worker thread, as the connector uses it -----------


class RawSQLite:
    """sqlite3 with the connector's pragmas, every call on one worker thread."""

    def __init__(self, path: Path, table: str, *, minimal: bool) -> None:
        self.name = "raw-min" if minimal else "raw"
        self.path = path
        self.minimal = minimal
        self.table = table
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="bench-sqlite")
        self._conn: sqlite3.Connection | None = None
        columns = "bucket, seq, name, score, owner, created_at, tags"
        key = "bucket = ? AND seq = ?"
        self.select_key = f"SELECT {columns} FROM {table} WHERE {key}"
        self.upsert = (
            f"INSERT INTO {table} ({columns}) VALUES (?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (bucket, seq) DO UPDATE SET name = excluded.name, "
            "score = excluded.score, owner = excluded.owner, "
            "created_at = excluded.created_at, tags = excluded.tags"
        )
        self.insert_only = (
            f"INSERT INTO {table} ({columns}) VALUES (?, ?, ?, ?, ?, ?, ?)"
        )
        self.update_name = f"UPDATE {table} SET name = ? WHERE {key}"
        self.delete_key = f"DELETE FROM {table} WHERE {key}"
        self.first_page = (
            f"SELECT {columns} FROM {table} WHERE bucket = ? ORDER BY seq LIMIT ?"
        )
        self.next_page = (
            f"SELECT {columns} FROM {table} WHERE bucket = ? AND seq > ? "
            "ORDER BY seq LIMIT ?"
        )

    async def _run(self, fn: Callable[..., Any], *args: Any) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, fn, *args)

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA busy_timeout=5000")
        return conn

    async def open(self) -> None:
        # The same table as the ORM's own (made by it), under another name.
        db = orm.Database.from_url(f"sqlite:///{self.path}")
        await db.connect()
        await db.create_schema([declare_item(self.table)])
        await db.close()
        self._conn = await self._run(self._connect)

    async def close(self) -> None:
        if self._conn is not None:
            await self._run(self._conn.close)
        self._executor.shutdown(wait=True)

    @property
    def conn(self) -> sqlite3.Connection:
        assert self._conn is not None
        return self._conn

    @staticmethod
    def params(row: Row, name: str | None = None) -> tuple[Any, ...]:
        return (
            row["bucket"],
            row["seq"],
            name or row["name"],
            row["score"],
            str(row["owner"]),
            millis(row["created_at"]),
            json.dumps(row["tags"]),
        )

    def _transaction(self, *statements: tuple[str, Sequence[Any]]) -> Any:
        # What the connector does for a write: read the row, write, commit.
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            previous = conn.execute(*statements[0]).fetchone()
            for statement in statements[1:]:
                conn.execute(*statement)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return previous

    async def insert(self, rows: Sequence[Row]) -> int:
        for row in rows:
            params = self.params(row)
            if self.minimal:
                await self._run(self.conn.execute, self.insert_only, params)
            else:
                key = (row["bucket"], row["seq"])
                await self._run(
                    self._transaction, (self.select_key, key), (self.upsert, params)
                )
        return len(rows)

    def _one(self, key: tuple[Any, ...]) -> Any:
        return self.conn.execute(self.select_key, key).fetchone()

    async def get(self, rows: Sequence[Row]) -> int:
        for row in rows:
            assert await self._run(self._one, (row["bucket"], row["seq"]))
        return len(rows)

    def _many(self, sql: str, params: tuple[Any, ...]) -> list[Any]:
        return self.conn.execute(sql, params).fetchall()

    async def page(self, bucket: str, size: int) -> int:
        pages = 0
        found = await self._run(self._many, self.first_page, (bucket, size + 1))
        while True:
            pages += 1
            if len(found) <= size:
                return pages
            last = found[size - 1][1]
            found = await self._run(
                self._many, self.next_page, (bucket, last, size + 1)
            )

    async def update(self, rows: Sequence[Row]) -> int:
        for row in rows:
            key = (row["bucket"], row["seq"])
            if self.minimal:
                params = (renamed(row), *key)
                await self._run(self.conn.execute, self.update_name, params)
            else:
                params = self.params(row, renamed(row))
                await self._run(
                    self._transaction, (self.select_key, key), (self.upsert, params)
                )
        return len(rows)

    async def delete(self, rows: Sequence[Row]) -> int:
        for row in rows:
            key = (row["bucket"], row["seq"])
            if self.minimal:
                await self._run(self.conn.execute, self.delete_key, key)
            else:
                await self._run(
                    self._transaction, (self.select_key, key), (self.delete_key, key)
                )
        return len(rows)


# -- MongoDB: pymongo's asyncio client, and MongoEngine ------------------------


def with_database(url: str, name: str) -> str:
    """``url`` with its database (or keyspace) replaced by ``name``."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


class RawMongo:
    """pymongo's AsyncMongoClient, documents in their natural BSON form."""

    def __init__(self, url: str, collection: str, *, minimal: bool) -> None:
        self.name = "raw-min" if minimal else "raw"
        self.url = url
        self.minimal = minimal
        self.collection_name = collection
        self._client: Any = None
        self.collection: Any = None

    async def open(self) -> None:
        from pymongo import AsyncMongoClient

        self._client = AsyncMongoClient(
            self.url, uuidRepresentation="standard", tz_aware=True, tzinfo=UTC
        )
        database = self._client.get_default_database()
        self.collection = database[self.collection_name]
        await self.collection.create_index([("bucket", 1), ("seq", 1)], name="key")

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()

    @staticmethod
    def document(row: Row, name: str | None = None) -> dict[str, Any]:
        return {
            "_id": f"{row['bucket']}:{row['seq']}",
            **row,
            "name": name or row["name"],
        }

    async def insert(self, rows: Sequence[Row]) -> int:
        from pymongo import ReturnDocument

        for row in rows:
            document = self.document(row)
            if self.minimal:
                await self.collection.insert_one(document)
            else:
                await self.collection.find_one_and_replace(
                    {"_id": document["_id"]},
                    document,
                    upsert=True,
                    return_document=ReturnDocument.BEFORE,
                )
        return len(rows)

    async def get(self, rows: Sequence[Row]) -> int:
        for row in rows:
            found = await self.collection.find_one(
                {"_id": f"{row['bucket']}:{row['seq']}"}
            )
            assert found is not None
        return len(rows)

    async def page(self, bucket: str, size: int) -> int:
        pages = 0
        where: dict[str, Any] = {"bucket": bucket}
        sort = [("bucket", 1), ("seq", 1)]
        while True:
            found = await self.collection.find(
                where, sort=sort, limit=size + 1
            ).to_list()
            pages += 1
            if len(found) <= size:
                return pages
            where = {"bucket": bucket, "seq": {"$gt": found[size - 1]["seq"]}}

    async def update(self, rows: Sequence[Row]) -> int:
        from pymongo import ReturnDocument

        for row in rows:
            key = {"_id": f"{row['bucket']}:{row['seq']}"}
            if self.minimal:
                await self.collection.update_one(key, {"$set": {"name": renamed(row)}})
            else:
                await self.collection.find_one_and_replace(
                    key,
                    self.document(row, renamed(row)),
                    upsert=True,
                    return_document=ReturnDocument.BEFORE,
                )
        return len(rows)

    async def delete(self, rows: Sequence[Row]) -> int:
        for row in rows:
            key = {"_id": f"{row['bucket']}:{row['seq']}"}
            if self.minimal:
                await self.collection.delete_one(key)
            else:
                await self.collection.find_one_and_delete(key)
        return len(rows)


class MongoEngine:
    """MongoEngine documents (synchronous: each call blocks the loop)."""

    name = "mongoengine"

    def __init__(self, url: str, collection: str) -> None:
        import mongoengine  # type: ignore[import-untyped]

        self.url = url
        self._me = mongoengine

        class Item(mongoengine.Document):  # type: ignore[misc]
            key = mongoengine.StringField(primary_key=True)
            bucket = mongoengine.StringField(required=True)
            seq = mongoengine.IntField(required=True)
            name = mongoengine.StringField(required=True)
            score = mongoengine.FloatField(required=True)
            owner = mongoengine.UUIDField(binary=True, required=True)
            created_at = mongoengine.DateTimeField(required=True)
            tags = mongoengine.ListField(mongoengine.StringField())
            meta: dict[str, Any] = {  # noqa: RUF012 (MongoEngine's own API)
                "collection": collection,
                "indexes": [{"fields": ["bucket", "seq"], "name": "key"}],
                "auto_create_index": False,
                "db_alias": "roomcast-bench",
            }

        self.Item = Item
        self._docs: dict[tuple[str, int], Any] = {}

    async def open(self) -> None:
        self._me.connect(
            host=self.url,
            alias="roomcast-bench",
            uuidRepresentation="standard",
            tz_aware=True,
        )
        self.Item.ensure_indexes()

    async def close(self) -> None:
        self._me.disconnect(alias="roomcast-bench")

    async def insert(self, rows: Sequence[Row]) -> int:
        for row in rows:
            doc = self.Item(key=f"{row['bucket']}:{row['seq']}", **row)
            doc.save(force_insert=True)
        return len(rows)

    async def get(self, rows: Sequence[Row]) -> int:
        for row in rows:
            doc = self.Item.objects(key=f"{row['bucket']}:{row['seq']}").first()
            assert doc is not None
            self._docs[row["bucket"], row["seq"]] = doc
        return len(rows)

    async def page(self, bucket: str, size: int) -> int:
        pages = 0
        query = self.Item.objects(bucket=bucket)
        while True:
            found = list(query.order_by("seq").limit(size + 1))
            pages += 1
            if len(found) <= size:
                return pages
            query = self.Item.objects(bucket=bucket, seq__gt=found[size - 1].seq)

    async def update(self, rows: Sequence[Row]) -> int:
        # Documents as read by get(): MongoEngine saves the changed field.
        for row in rows:
            doc = self._docs[row["bucket"], row["seq"]]
            doc.name = renamed(row)
            doc.save()
        return len(rows)

    async def delete(self, rows: Sequence[Row]) -> int:
        for row in rows:
            self._docs.pop((row["bucket"], row["seq"])).delete()
        return len(rows)


# -- Cassandra: cassandra-driver's execute_async, and cqlengine ---------------


def cassandra_cluster(url: str, **profile: Any) -> Any:
    """A Cluster configured as the connector configures its own."""
    from cassandra import ConsistencyLevel
    from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile
    from cassandra.policies import DCAwareRoundRobinPolicy, TokenAwarePolicy

    parsed = orm.parse_url(url)
    local_dc = parsed.options.get("local_dc", "")
    default = ExecutionProfile(
        load_balancing_policy=TokenAwarePolicy(DCAwareRoundRobinPolicy(local_dc)),
        consistency_level=ConsistencyLevel.LOCAL_QUORUM,
        request_timeout=10,
        **profile,
    )
    return Cluster(
        contact_points=list(parsed.hosts),
        port=parsed.port or 9042,
        execution_profiles={EXEC_PROFILE_DEFAULT: default},
        connect_timeout=5,
    )


async def execute(session: Any, statement: Any, **options: Any) -> Any:
    """Run one statement through ``execute_async`` without blocking the loop."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()

    def settle(result: Any, failed: bool) -> None:
        if done.done():
            return
        if failed:
            done.set_exception(result)
        else:
            done.set_result(None)

    response = session.execute_async(statement, **options)
    response.add_callbacks(
        lambda result: loop.call_soon_threadsafe(settle, result, False),
        lambda exc: loop.call_soon_threadsafe(settle, exc, True),
    )
    await done
    return response.result()


class RawCassandra:
    """Prepared statements through ``execute_async``; tuple rows."""

    def __init__(self, url: str, table: str, *, minimal: bool) -> None:
        self.name = "raw-min" if minimal else "raw"
        self.url = url
        self.minimal = minimal
        self.keyspace = orm.parse_url(url).name
        self.table = table
        self._cluster: Any = None
        self.session: Any = None
        self.statements: dict[str, Any] = {}

    async def open(self) -> None:
        from cassandra.query import tuple_factory

        # The table the ORM makes (it also makes the keyspace), renamed.
        db = orm.Database.from_url(self.url)
        await db.connect()
        await db.create_schema([declare_item(self.table)])
        await db.close()

        self._cluster = cassandra_cluster(self.url, row_factory=tuple_factory)
        self.session = await asyncio.to_thread(self._cluster.connect)
        qualified = f"{self.keyspace}.{self.table}"
        columns = "bucket, seq, name, score, owner, created_at, tags"
        key = "bucket = ? AND seq = ?"
        texts = {
            "select": f"SELECT {columns} FROM {qualified} WHERE {key}",
            "insert": f"INSERT INTO {qualified} ({columns}) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            "update": f"UPDATE {qualified} SET name = ? WHERE {key}",
            "delete": f"DELETE FROM {qualified} WHERE {key}",
            "page": f"SELECT {columns} FROM {qualified} WHERE bucket = ?",
        }
        for name, cql in texts.items():
            self.statements[name] = await asyncio.to_thread(self.session.prepare, cql)

    async def close(self) -> None:
        if self._cluster is not None:
            await asyncio.to_thread(self._cluster.shutdown)

    def _run(self, name: str, values: Sequence[Any], **options: Any) -> Awaitable[Any]:
        return execute(self.session, self.statements[name].bind(values), **options)

    @staticmethod
    def values(row: Row, name: str | None = None) -> tuple[Any, ...]:
        return (
            row["bucket"],
            row["seq"],
            name or row["name"],
            row["score"],
            row["owner"],
            row["created_at"],
            json.dumps(row["tags"]),
        )

    async def insert(self, rows: Sequence[Row]) -> int:
        for row in rows:
            if not self.minimal:
                await self._run("select", (row["bucket"], row["seq"]))
            await self._run("insert", self.values(row))
        return len(rows)

    async def get(self, rows: Sequence[Row]) -> int:
        for row in rows:
            result = await self._run("select", (row["bucket"], row["seq"]))
            assert result.current_rows
        return len(rows)

    async def page(self, bucket: str, size: int) -> int:
        # The driver's own paging: one request per page, resumed by its state.
        pages, state = 0, None
        while True:
            bound = self.statements["page"].bind((bucket,))
            bound.fetch_size = size
            result = await execute(self.session, bound, paging_state=state)
            pages += 1
            if not result.has_more_pages:
                return pages
            state = result.paging_state

    async def update(self, rows: Sequence[Row]) -> int:
        for row in rows:
            key = (row["bucket"], row["seq"])
            if self.minimal:
                await self._run("update", (renamed(row), *key))
            else:
                await self._run("select", key)
                await self._run("insert", self.values(row, renamed(row)))
        return len(rows)

    async def delete(self, rows: Sequence[Row]) -> int:
        for row in rows:
            key = (row["bucket"], row["seq"])
            if not self.minimal:
                await self._run("select", key)
            await self._run("delete", key)
        return len(rows)


class CqlEngine:
    """cqlengine models (synchronous: each call blocks the loop)."""

    name = "cqlengine"

    def __init__(self, url: str, table: str) -> None:
        from cassandra.cqlengine import columns, models

        self.url = url
        self.table = table
        keyspace = orm.parse_url(url).name

        class Item(models.Model):  # type: ignore[misc]
            __keyspace__ = keyspace
            __table_name__ = table
            bucket = columns.Text(partition_key=True)
            seq = columns.BigInt(primary_key=True, clustering_order="ASC")
            name = columns.Text(required=True)
            score = columns.Double(required=True)
            owner = columns.UUID(required=True)
            created_at = columns.DateTime(required=True)
            tags = columns.Text(required=True)

        self.Item = Item
        self._cluster: Any = None
        self._objects: dict[tuple[str, int], Any] = {}

    async def open(self) -> None:
        from cassandra.cqlengine import connection

        db = orm.Database.from_url(self.url)
        await db.connect()
        await db.create_schema([declare_item(self.table)])
        await db.close()

        self._cluster = cassandra_cluster(self.url)
        session = await asyncio.to_thread(self._cluster.connect)
        connection.set_session(session)

    async def close(self) -> None:
        from cassandra.cqlengine import connection

        connection.unregister_connection("default")
        if self._cluster is not None:
            await asyncio.to_thread(self._cluster.shutdown)

    async def insert(self, rows: Sequence[Row]) -> int:
        for row in rows:
            self.Item.create(**{**row, "tags": json.dumps(row["tags"])})
        return len(rows)

    async def get(self, rows: Sequence[Row]) -> int:
        for row in rows:
            found = self.Item.get(bucket=row["bucket"], seq=row["seq"])
            self._objects[row["bucket"], row["seq"]] = found
        return len(rows)

    async def page(self, bucket: str, size: int) -> int:
        pages = 0
        query = self.Item.objects.filter(bucket=bucket)
        while True:
            found = list(query.limit(size + 1))
            pages += 1
            if len(found) <= size:
                return pages
            last = found[size - 1].seq
            query = self.Item.objects.filter(bucket=bucket, seq__gt=last)

    async def update(self, rows: Sequence[Row]) -> int:
        for row in rows:
            self._objects[row["bucket"], row["seq"]].update(name=renamed(row))
        return len(rows)

    async def delete(self, rows: Sequence[Row]) -> int:
        for row in rows:
            self._objects.pop((row["bucket"], row["seq"])).delete()
        return len(rows)


# -- the backends ----------------------------------------------------------------

WHAT_RAW_DOES = {
    "sqlite": (
        "sqlite3 on one worker thread with the connector's pragmas; raw = "
        "BEGIN IMMEDIATE, SELECT the key, upsert (or DELETE), COMMIT for each "
        "write, as the connector does; raw-min = one autocommitted INSERT / "
        "UPDATE name / DELETE; pages by keyset (seq > last) LIMIT page+1"
    ),
    "mongodb": (
        "pymongo AsyncMongoClient; raw = find_one_and_replace(upsert, BEFORE) "
        "and find_one_and_delete, as the connector does; raw-min = insert_one "
        "/ update_one $set / delete_one; pages by keyset, limit page+1"
    ),
    "cassandra": (
        "cassandra-driver prepared statements via execute_async; raw = SELECT "
        "the key then INSERT (or DELETE), as the connector does; raw-min = "
        "INSERT / UPDATE name / DELETE alone; pages with the driver's paging "
        "state, one request per page"
    ),
}


@attrs.define
class Backend:
    name: str
    contenders: list[Contender]
    peer: str | None = None


def sqlite_backend(workdir: Path) -> Backend:
    return Backend(
        "sqlite",
        [
            Roomcast(f"sqlite:///{workdir}/roomcast.db", "bench_items"),
            RawSQLite(workdir / "raw.db", "bench_items", minimal=False),
            RawSQLite(workdir / "raw-min.db", "bench_items", minimal=True),
        ],
    )


def mongodb_backend(run: Run) -> Backend | None:
    url = service_url("mongodb")
    if url is None:
        run.skip("mongodb", "ROOMCAST_TEST_MONGODB_URL unset: run `make services`")
        return None
    if not connector_imports("orm.mongodb", run, "mongodb"):
        return None
    url = with_database(url, BENCH_DATABASE)
    backend = Backend(
        "mongodb",
        [
            Roomcast(url, "bench_roomcast"),
            RawMongo(url, "bench_raw", minimal=False),
            RawMongo(url, "bench_raw_min", minimal=True),
        ],
    )
    try:
        backend.contenders.append(MongoEngine(url, "bench_mongoengine"))
        backend.peer = "mongoengine"
    except ImportError:
        run.skip(
            "mongodb peer",
            "mongoengine not installed: pip install -r benchmarks/requirements.txt",
        )
    return backend


def cassandra_backend(run: Run) -> Backend | None:
    url = service_url("cassandra")
    if url is None:
        run.skip("cassandra", "ROOMCAST_TEST_CASSANDRA_URL unset: run `make services`")
        return None
    if not connector_imports("orm.cassandra", run, "cassandra"):
        return None
    url = with_database(url, BENCH_DATABASE)
    return Backend(
        "cassandra",
        [
            Roomcast(url, "bench_roomcast"),
            RawCassandra(url, "bench_raw", minimal=False),
            RawCassandra(url, "bench_raw_min", minimal=True),
            CqlEngine(url, "bench_cqlengine"),
        ],
        peer="cqlengine",
    )


def connector_imports(module: str, run: Run, backend: str) -> bool:
    try:
        importlib.import_module(module)
    except ImportError as exc:
        run.skip(backend, f"its connector does not import yet ({exc})")
        return False
    return True


# -- measuring -------------------------------------------------------------------


CHUNK = 10


async def measure(backend: Backend, sizes: dict[str, int], tag: str) -> list[Row]:
    """Run every operation for every contender, interleaved; one row per op.

    Contenders take turns every ``CHUNK`` operations (every walk, for pages),
    so that a burst of load from elsewhere on the machine slows them alike.
    """
    spent: dict[tuple[str, str], list[tuple[int, float]]] = {}
    count = sizes["rows"] * (sizes["embedded"] if backend.name == "sqlite" else 1)
    for n in range(sizes["rounds"]):
        # Rotate who goes first, so no contender always runs on a warm cache.
        order = backend.contenders[n:] + backend.contenders[:n]
        data = {c.name: make_rows(f"{tag}-{c.name}-{n}", count) for c in order}
        for op in OPS:
            turns = range(sizes["walks"]) if op == "page" else range(0, count, CHUNK)
            for turn in turns:
                for contender in order:
                    rows = data[contender.name]
                    started = time.perf_counter()
                    done = await one_turn(contender, op, rows, turn, sizes["page"])
                    took = time.perf_counter() - started
                    spent.setdefault((contender.name, op), []).append((done, took))
    return [summary(backend, op, spent) for op in OPS]


async def one_turn(
    contender: Contender, op: str, rows: list[Row], turn: int, page_size: int
) -> int:
    if op == "page":
        return await contender.page(rows[0]["bucket"], page_size)
    method: Callable[[Sequence[Row]], Awaitable[int]] = getattr(contender, op)
    return await method(rows[turn : turn + CHUNK])


def rate(turns: list[tuple[int, float]]) -> float:
    """Operations per second in the median turn: a burst of load from
    elsewhere on the machine slows a few turns, and moves the median little."""
    return statistics.median(done / took for done, took in turns if took > 0)


def summary(
    backend: Backend, op: str, spent: dict[tuple[str, str], list[tuple[int, float]]]
) -> Row:
    mine = {name: turns for (name, each), turns in spent.items() if each == op}
    rates = {name: rate(turns) for name, turns in mine.items()}
    row: Row = {
        "backend": backend.name,
        "op": op,
        "roomcast": rates.get("roomcast"),
        "raw": rates.get("raw"),
        # raw-min differs from raw only for writes.
        "raw_min": rates.get("raw-min") if op in WRITES else None,
        "peer": backend.peer,
        "peer_ops": rates.get(backend.peer) if backend.peer else None,
        "turns": {
            name: {
                "count": len(turns),
                "ops": sum(done for done, _ in turns),
                "seconds": round(sum(took for _, took in turns), 4),
                "mean_ops_per_s": sum(done for done, _ in turns)
                / sum(took for _, took in turns),
            }
            for name, turns in mine.items()
        },
    }
    for key in ("raw", "raw_min", "peer_ops"):
        other = row[key]
        ratio = None if not other or not row["roomcast"] else row["roomcast"] / other
        row[f"vs_{key}"] = ratio
    return row


async def run_backend(backend: Backend, sizes: dict[str, int], run: Run) -> None:
    if backend.name != "sqlite":
        await measure_backend(backend, sizes, run)
        return
    # Every SQLite contender hands each call to a worker thread of its own.
    # Left to the scheduler, one pair of threads may share a core while
    # another is split across two, which alone changes a hand-off's cost
    # twofold on this loaded machine; on one core, every pair is alike.
    everywhere = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(everywhere)})
    try:
        await measure_backend(backend, sizes, run)
    finally:
        os.sched_setaffinity(0, everywhere)


async def measure_backend(backend: Backend, sizes: dict[str, int], run: Run) -> None:
    opened: list[Contender] = []
    try:
        for contender in backend.contenders:
            await asyncio.wait_for(contender.open(), timeout=120)
            opened.append(contender)
        tag = uuid.uuid4().hex[:8]
        rows = await asyncio.wait_for(measure(backend, sizes, tag), timeout=600)
    except Exception as exc:  # a backend that fails is reported, not fatal
        name = opened[-1].name if opened else backend.contenders[0].name
        run.skip(backend.name, f"{name}: {type(exc).__name__}: {exc}")
        return
    finally:
        for contender in opened:
            await contender.close()
    for row in rows:
        run.add(row)
        print(
            f"{backend.name:9} {row['op']:6} roomcast {row['roomcast']:9.0f} ops/s  "
            f"ratio to raw {row['vs_raw']:.2f}",
            flush=True,
        )


COLUMNS = [
    ("backend", "backend", text),
    ("op", "op", text),
    ("roomcast", "roomcast ops/s", fixed(0)),
    ("raw", "raw ops/s", fixed(0)),
    ("raw_min", "raw-min ops/s", fixed(0)),
    ("peer", "peer", text),
    ("peer_ops", "peer ops/s", fixed(0)),
    ("vs_raw", "roomcast/raw", fixed(2)),
    ("vs_raw_min", "/raw-min", fixed(2)),
    ("vs_peer_ops", "/peer", fixed(2)),
]


async def main_async(mode: str, out: Path, only: list[str] | None) -> Path:
    sizes = SIZES[mode]
    run = Run("persistence", mode, {**sizes, "ops": list(OPS)})
    with tempfile.TemporaryDirectory(prefix="roomcast-bench-") as workdir:
        makers: dict[str, Callable[[], Backend | None]] = {
            "sqlite": lambda: sqlite_backend(Path(workdir)),
            "mongodb": lambda: mongodb_backend(run),
            "cassandra": lambda: cassandra_backend(run),
        }
        for name, make in makers.items():
            if only and name not in only:
                continue
            try:
                backend = make()
            except Exception as exc:  # a connector being written may not work yet
                run.skip(name, f"cannot set it up: {type(exc).__name__}: {exc}")
                continue
            if backend is not None:
                await run_backend(backend, sizes, run)
                run.note(f"{name}: {WHAT_RAW_DOES[name]}")
    run.note(
        "one operation at a time per contender; contenders take turns every "
        f"{CHUNK} operations (every walk through a partition, for pages); ops/s "
        "is that of the median turn; a page op fetches one page"
    )
    run.note(
        "roomcast/raw compares the same round trips (the ORM's own cost); "
        "/raw-min adds the read-before-write the ORM makes to announce changes"
    )
    run.note(
        "2 shared cores: absolute figures are noisy, same-run ratios are the "
        "figures to read"
    )
    return run.finish(out, COLUMNS)


def main(argv: list[str] | None = None) -> Path:
    parser = arguments(__doc__.splitlines()[0])
    parser.add_argument(
        "--backends",
        help="comma-separated subset of sqlite,mongodb,cassandra (default all)",
    )
    args = parser.parse_args(argv)
    only = args.backends.split(",") if args.backends else None
    return asyncio.run(main_async(args.mode, args.out, only))


if __name__ == "__main__":
    main()
