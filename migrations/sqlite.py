"""SQLite: the catalog through PRAGMA functions, DDL inside transactions.

Statements run on the connector's own connection and worker thread. A
migration's schema changes and its ledger row commit together, in one
``BEGIN IMMEDIATE`` transaction, so a migration that fails leaves nothing
behind; reading or writing rows through ``ctx.db`` commits the changes made
so far first, as every ORM write is a transaction of its own.

The lock is a row that a ``BEGIN IMMEDIATE`` transaction takes when it is
absent or expired: SQLite lets one writer at a time in, which settles races.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import orm

# The connector's own DDL and types, so that a table a migration creates is
# the very table the connector would have created.
from orm.sqlite import _SQL_TYPES, _Table

from .backend import LOCK_NAME, Backend, Holder, LedgerEntry, Progress
from .exceptions import SchemaError
from .schema import Key, LiveTable, TableSpec, identifier

__all__ = ["SQLiteBackend"]

T = TypeVar("T")

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)

_BOOKKEEPING = (
    "CREATE TABLE IF NOT EXISTS roomcast_migrations "
    "(id TEXT PRIMARY KEY, checksum TEXT NOT NULL, applied_at INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS roomcast_migrations_lock "
    "(name TEXT PRIMARY KEY, owner TEXT NOT NULL, expires_at INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS roomcast_migrations_progress "
    "(migration_id TEXT NOT NULL, step TEXT NOT NULL, cursor TEXT, "
    "done INTEGER NOT NULL, finished INTEGER NOT NULL, "
    "PRIMARY KEY (migration_id, step))",
)


def _ms(value: datetime) -> int:
    return (value - _EPOCH) // _MS


def _datetime(ms: int) -> datetime:
    return _EPOCH + ms * _MS


def _quote(name: str) -> str:
    return f'"{identifier(name, "table or column")}"'


class SQLiteBackend(Backend):
    """The adapter for ``orm.SQLiteConnector``."""

    type_change_reason = (
        "SQLite cannot change a column's type without rebuilding the table, "
        "and the rows already stored keep values of the old type"
    )

    def __init__(self, db: orm.Database) -> None:
        super().__init__(db)
        if not isinstance(db.connector, orm.SQLiteConnector):
            raise TypeError(f"not an SQLite database: {self.where}")
        self._connector = db.connector
        self._migrating = False
        self._open = False

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(connection, *args)`` on the connector's thread; sqlite3 errors
        come back as ``orm.DatabaseUnavailable``."""
        connector = self._connector
        return await connector._run(lambda: fn(connector._connection(), *args))

    async def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        return await self._call(lambda conn: conn.execute(sql, params).fetchall())

    async def _write(self, sql: str, params: Sequence[Any] = ()) -> int:
        return await self._call(lambda conn: conn.execute(sql, params).rowcount)

    async def _ddl(self, statements: Sequence[str]) -> None:
        # Inside a migration the first change opens its transaction.
        if self._migrating and not self._open:
            await self._write("BEGIN IMMEDIATE")
            self._open = True
        for statement in statements:
            await self._write(statement)

    # Bookkeeping

    async def prepare(self) -> None:
        await self._call(_in_transaction, _BOOKKEEPING)

    async def ledger(self) -> list[LedgerEntry]:
        if not await self._exists("roomcast_migrations"):
            return []
        rows = await self._rows(
            "SELECT id, checksum, applied_at FROM roomcast_migrations ORDER BY id"
        )
        return [LedgerEntry(i, c, _datetime(at)) for i, c, at in rows]

    async def record(self, entry: LedgerEntry) -> None:
        await self._write(
            "INSERT INTO roomcast_migrations (id, checksum, applied_at) "
            "VALUES (?, ?, ?)",
            (entry.id, entry.checksum, _ms(entry.applied_at)),
        )

    async def forget(self, migration_id: str) -> None:
        await self._write(
            "DELETE FROM roomcast_migrations WHERE id = ?", (migration_id,)
        )

    async def read_progress(self, migration_id: str, step: str) -> Progress | None:
        rows = await self._rows(
            "SELECT cursor, done, finished FROM roomcast_migrations_progress "
            "WHERE migration_id = ? AND step = ?",
            (migration_id, step),
        )
        if not rows:
            return None
        cursor, done, finished = rows[0]
        return Progress(migration_id, step, cursor, done, bool(finished))

    async def write_progress(self, progress: Progress) -> None:
        await self._write(
            "INSERT OR REPLACE INTO roomcast_migrations_progress "
            "(migration_id, step, cursor, done, finished) VALUES (?, ?, ?, ?, ?)",
            (
                progress.migration_id,
                progress.step,
                progress.cursor,
                progress.done,
                int(progress.finished),
            ),
        )

    async def clear_progress(self, migration_id: str) -> None:
        await self._write(
            "DELETE FROM roomcast_migrations_progress WHERE migration_id = ?",
            (migration_id,),
        )

    # The lock

    async def try_lock(self, holder: Holder) -> Holder | None:
        now = datetime.now(UTC)
        return await self._call(_take_lock, holder, now)

    async def renew_lock(self, holder: Holder) -> bool:
        changed = await self._write(
            "UPDATE roomcast_migrations_lock SET expires_at = ? "
            "WHERE name = ? AND owner = ?",
            (_ms(holder.expires_at), LOCK_NAME, holder.owner),
        )
        return changed == 1

    async def release_lock(self, owner: str) -> None:
        await self._write(
            "DELETE FROM roomcast_migrations_lock WHERE name = ? AND owner = ?",
            (LOCK_NAME, owner),
        )

    # Transactions

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        self._migrating = True
        try:
            yield
            if self._open:
                await self._write("COMMIT")
        except BaseException:
            if self._open:
                await self._write("ROLLBACK")
            raise
        finally:
            self._migrating = self._open = False

    async def end_transaction(self) -> None:
        if self._open:
            await self._write("COMMIT")
            self._open = False

    # Schema

    async def _exists(self, table: str) -> bool:
        rows = await self._rows(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
        )
        return bool(rows)

    async def tables(self) -> dict[str, LiveTable]:
        names = await self._rows(
            "SELECT name FROM sqlite_master WHERE type = 'table' "
            "AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' "
            "AND name NOT LIKE 'roomcast\\_migrations%' ESCAPE '\\'"
        )
        return {name: await self._table(name) for (name,) in names}

    async def _table(self, name: str) -> LiveTable:
        columns = await self._rows(
            "SELECT name, type, pk FROM pragma_table_info(?)", (name,)
        )
        indexes = await self._rows(
            "SELECT name, origin FROM pragma_index_list(?)", (name,)
        )
        key: Key = tuple(
            (n, "asc") for n, _, pk in sorted(columns, key=lambda c: c[2]) if pk
        )
        indexed = set()
        for index, origin in indexes:
            parts = await self._rows(
                "SELECT name, desc FROM pragma_index_xinfo(?) WHERE key = 1 "
                "ORDER BY seqno",
                (index,),
            )
            if origin == "pk":
                key = tuple((n, "desc" if desc else "asc") for n, desc in parts)
            elif origin == "c" and len(parts) == 1:
                indexed.add(parts[0][0])
        return LiveTable(
            name,
            {n: kind for n, kind, _ in columns},
            key,
            None,
            frozenset(indexed),
        )

    def storage_type(self, kind: orm.ColumnKind) -> str | None:
        return _SQL_TYPES[kind]

    async def create_table(self, spec: TableSpec) -> None:
        await self._ddl(_Table(spec.to_meta()).create_statements())

    async def add_column(self, table: str, column: orm.Column) -> None:
        live = await self._live(table)
        if column.name in live.columns:
            return
        # Rows already stored hold no value for it: it cannot be NOT NULL.
        await self._ddl(
            [
                f"ALTER TABLE {_quote(table)} ADD COLUMN {_quote(column.name)} "
                f"{_SQL_TYPES[column.kind]}"
            ]
        )

    async def drop_column(self, table: str, column: str) -> None:
        live = await self._live(table)
        if column not in live.columns:
            return
        if any(name == column for name, _ in live.key):
            raise SchemaError(f"{table}.{column} is a key column and cannot be dropped")
        # SQLite refuses to drop an indexed column.
        await self.drop_index(table, column)
        await self._ddl([f"ALTER TABLE {_quote(table)} DROP COLUMN {_quote(column)}"])

    async def create_index(self, table: LiveTable, column: str) -> None:
        name = _quote(f"{table.name}__{column}")
        on = f"{_quote(table.name)} ({_quote(column)})"
        await self._ddl([f"CREATE INDEX IF NOT EXISTS {name} ON {on}"])

    async def drop_index(self, table: str, column: str) -> None:
        rows = await self._rows(
            "SELECT l.name FROM pragma_index_list(?) AS l WHERE l.origin = 'c' "
            "AND (SELECT count(*) FROM pragma_index_info(l.name)) = 1 "
            "AND (SELECT name FROM pragma_index_info(l.name)) = ?",
            (table, column),
        )
        await self._ddl([f"DROP INDEX IF EXISTS {_quote(name)}" for (name,) in rows])

    async def drop_table(self, table: str) -> None:
        await self._ddl([f"DROP TABLE IF EXISTS {_quote(table)}"])

    async def _live(self, table: str) -> LiveTable:
        if not await self._exists(table):
            raise SchemaError(f"there is no table {table!r} in {self.where}")
        return await self._table(table)


def _in_transaction(conn: sqlite3.Connection, statements: Sequence[str]) -> None:
    conn.execute("BEGIN IMMEDIATE")
    try:
        for statement in statements:
            conn.execute(statement)
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _take_lock(
    conn: sqlite3.Connection, holder: Holder, now: datetime
) -> Holder | None:
    try:
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError:
        # Busy past the connector's timeout: someone is writing, most likely
        # the holder of the lock in the middle of a migration.
        return Holder("a process writing to the database", now)
    try:
        found = conn.execute(
            "SELECT owner, expires_at FROM roomcast_migrations_lock WHERE name = ?",
            (LOCK_NAME,),
        ).fetchone()
        if found is not None and found[0] != holder.owner and found[1] > _ms(now):
            conn.execute("ROLLBACK")
            return Holder(found[0], _datetime(found[1]))
        conn.execute(
            "INSERT OR REPLACE INTO roomcast_migrations_lock (name, owner, expires_at) "
            "VALUES (?, ?, ?)",
            (LOCK_NAME, holder.owner, _ms(holder.expires_at)),
        )
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return None
