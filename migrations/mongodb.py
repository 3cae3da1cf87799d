"""MongoDB (and any MongoDB-wire server): collections, indexes, documents.

Collections and indexes are those the connector itself makes (an index
``key`` on the primary key, ``by_<column>`` per secondary index), created by
its own ``create_schema``. Documents carry no schema, so the columns a
migration declares are kept in one more collection,
``roomcast_migrations_schema`` (one document per table), which is what
``plan`` compares the entities with.

The lock is a document with a fixed ``_id``: inserting it succeeds for one
process only. It carries its expiry; a waiter that finds it expired removes
exactly that document (same owner, same expiry) and tries again.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import (
    CollectionInvalid,
    DuplicateKeyError,
    OperationFailure,
    PyMongoError,
)

import orm
from orm.mongodb import MongoConnector

from .backend import (
    LEDGER,
    LOCK,
    LOCK_NAME,
    PROGRESS,
    Backend,
    Holder,
    LedgerEntry,
    Progress,
)
from .exceptions import SchemaError
from .schema import Key, LiveTable, TableSpec, column_type, parse_column_type

__all__ = ["MongoBackend"]

SCHEMA = "roomcast_migrations_schema"
_NAMESPACE_EXISTS = 48

Document = dict[str, Any]


class MongoBackend(Backend):
    """The adapter for ``orm.mongodb.MongoConnector``."""

    type_change_reason = (
        "documents already stored keep values of the old type, which the new "
        "one cannot read"
    )

    def __init__(self, db: orm.Database) -> None:
        super().__init__(db)
        if not isinstance(db.connector, MongoConnector):
            raise TypeError(f"not a MongoDB database: {self.where}")
        self._connector = db.connector

    def _database(self) -> AsyncDatabase[Document]:
        return self._connector._database()

    def _collection(self, name: str) -> AsyncCollection[Document]:
        return self._database()[name]

    @contextlib.contextmanager
    def _translated(self, action: str) -> Iterator[None]:
        try:
            yield
        except PyMongoError as exc:
            raise orm.DatabaseUnavailable(
                f"MongoDB {self.where}: {action} failed: {type(exc).__name__}: {exc}"
            ) from exc

    # Bookkeeping

    async def prepare(self) -> None:
        # A MongoDB database exists once it has a collection.
        with self._translated("create the ledger"):
            try:
                await self._database().create_collection(LEDGER)
            except CollectionInvalid:
                pass  # it exists
            except OperationFailure as exc:
                if exc.code != _NAMESPACE_EXISTS:  # created meanwhile
                    raise

    async def ledger(self) -> list[LedgerEntry]:
        with self._translated("read the ledger"):
            found = await self._collection(LEDGER).find({}).to_list()
        entries = [
            LedgerEntry(d["_id"], d["checksum"], d["applied_at"].astimezone(UTC))
            for d in found
        ]
        return sorted(entries, key=lambda e: e.id)

    async def record(self, entry: LedgerEntry) -> None:
        document = {
            "_id": entry.id,
            "checksum": entry.checksum,
            "applied_at": entry.applied_at,
        }
        with self._translated("write the ledger"):
            await self._collection(LEDGER).insert_one(document)

    async def forget(self, migration_id: str) -> None:
        with self._translated("write the ledger"):
            await self._collection(LEDGER).delete_one({"_id": {"$eq": migration_id}})

    async def read_progress(self, migration_id: str, step: str) -> Progress | None:
        with self._translated("read progress"):
            found = await self._collection(PROGRESS).find_one(
                {"_id": {"$eq": f"{migration_id}/{step}"}}
            )
        if found is None:
            return None
        return Progress(
            migration_id, step, found["cursor"], found["done"], found["finished"]
        )

    async def write_progress(self, progress: Progress) -> None:
        document = {
            "migration_id": progress.migration_id,
            "step": progress.step,
            "cursor": progress.cursor,
            "done": progress.done,
            "finished": progress.finished,
        }
        key = f"{progress.migration_id}/{progress.step}"
        with self._translated("write progress"):
            await self._collection(PROGRESS).replace_one(
                {"_id": {"$eq": key}}, document, upsert=True
            )

    async def clear_progress(self, migration_id: str) -> None:
        with self._translated("clear progress"):
            await self._collection(PROGRESS).delete_many(
                {"migration_id": {"$eq": migration_id}}
            )

    # The lock

    async def try_lock(self, holder: Holder) -> Holder | None:
        locks = self._collection(LOCK)
        document = {
            "_id": LOCK_NAME,
            "owner": holder.owner,
            "expires_at": holder.expires_at,
        }
        with self._translated("take the lock"):
            try:
                await locks.insert_one(document)
                return None
            except DuplicateKeyError:
                pass
            found = await locks.find_one({"_id": LOCK_NAME})
            if found is None:  # released meanwhile: the next try may take it
                return Holder("another migrator", datetime.now(UTC))
            current = Holder(found["owner"], found["expires_at"].astimezone(UTC))
            if current.expires_at <= datetime.now(UTC):
                # Expired: remove that very lock, not one taken since, so that
                # the next try takes it.
                await locks.delete_one(
                    {
                        "_id": LOCK_NAME,
                        "owner": {"$eq": found["owner"]},
                        "expires_at": {"$eq": found["expires_at"]},
                    }
                )
        return current

    async def renew_lock(self, holder: Holder) -> bool:
        with self._translated("renew the lock"):
            result = await self._collection(LOCK).update_one(
                {"_id": LOCK_NAME, "owner": {"$eq": holder.owner}},
                {"$set": {"expires_at": holder.expires_at}},
            )
        return result.matched_count == 1

    async def release_lock(self, owner: str) -> None:
        with self._translated("release the lock"):
            await self._collection(LOCK).delete_one(
                {"_id": LOCK_NAME, "owner": {"$eq": owner}}
            )

    # Schema

    async def tables(self) -> dict[str, LiveTable]:
        with self._translated("read the schema"):
            names = await self._database().list_collection_names()
            records = {d["_id"]: d async for d in self._collection(SCHEMA).find({})}
            return {
                name: await self._table(name, records.get(name))
                for name in sorted(names)
                if not name.startswith(("roomcast_migrations", "system."))
            }

    async def _table(self, name: str, record: Document | None) -> LiveTable:
        information = await self._collection(name).index_information()
        key_fields = information.get("key", {}).get("key", [])
        key: Key = tuple(
            (field, "asc" if direction == 1 else "desc")
            for field, direction in key_fields
        )
        indexes = frozenset(
            index["key"][0][0]
            for index_name, index in information.items()
            if index_name.startswith("by_")
        )
        columns: dict[str, str | None] = {field: None for field, _ in key}
        columns.update(dict.fromkeys(indexes))
        if record is not None:
            columns.update(
                {n: t.removesuffix("?") for n, t in record["columns"].items()}
            )
        return LiveTable(name, columns, key, None, indexes)

    def storage_type(self, kind: orm.ColumnKind) -> str | None:
        return kind.value

    async def create_table(self, spec: TableSpec) -> None:
        await self._connector.create_schema([spec.to_meta()])
        columns = {name: column_type(c) for name, c in spec.columns.items()}
        with self._translated("record the schema"):
            if await self._collection(SCHEMA).find_one({"_id": spec.name}) is None:
                await self._collection(SCHEMA).insert_one(
                    {"_id": spec.name, "columns": columns}
                )

    async def add_column(self, table: str, column: orm.Column) -> None:
        # Documents stored already lack the field, which reads as None.
        with self._translated("record the schema"):
            await self._collection(SCHEMA).update_one(
                {"_id": table},
                {"$set": {f"columns.{column.name}": column_type(column)}},
                upsert=True,
            )

    async def drop_column(self, table: str, column: str) -> None:
        await self.drop_index(table, column)
        with self._translated("drop a column"):
            await self._collection(table).update_many({}, {"$unset": {column: ""}})
            await self._collection(SCHEMA).update_one(
                {"_id": table}, {"$unset": {f"columns.{column}": ""}}
            )

    async def create_index(self, table: LiveTable, column: str) -> None:
        # The connector makes the index its queries expect: the column, then
        # the primary key. It needs the table's key and the column's type.
        if not table.key:
            raise SchemaError(
                f"{table.name} has no index 'key' telling its primary key; create "
                "the collection with ctx.create_table"
            )
        types = {n: t for n, t in table.columns.items() if t is not None}
        columns = {
            name: parse_column_type(name, types.get(name, "text"))
            for name in [*(n for n, _ in table.key), column]
        }
        spec = TableSpec(
            table.name,
            columns,
            partition_key=(table.key[0][0],),
            clustering=table.key[1:],
            indexes=(column,),
        )
        await self._connector.create_schema([spec.to_meta()])

    async def drop_index(self, table: str, column: str) -> None:
        with self._translated("drop an index"):
            collection = self._collection(table)
            if f"by_{column}" in await collection.index_information():
                await collection.drop_index(f"by_{column}")

    async def drop_table(self, table: str) -> None:
        with self._translated("drop a collection"):
            await self._database().drop_collection(table)
            await self._collection(SCHEMA).delete_one({"_id": table})
