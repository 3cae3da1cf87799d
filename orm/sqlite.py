"""The embedded default: SQLite through the standard library's sqlite3.

Every statement runs on one worker thread that owns the connection, so the
event loop never waits on the disk; WAL mode lets other processes (the
migration CLI, a second reader) use the file meanwhile. Keys are real primary
keys, indexes real indexes, and every value is a bound parameter.
"""

from __future__ import annotations

import asyncio
import json
import math
import sqlite3
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from .connector import Companions, Connector, Row
from .entity import EntityMeta
from .exceptions import DatabaseUnavailable, InvalidPageToken
from .query import Query
from .types import ColumnKind

__all__ = ["SQLiteConnector"]

T = TypeVar("T")

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

_SQL_TYPES = {
    ColumnKind.TEXT: "TEXT",
    ColumnKind.INT: "INTEGER",
    ColumnKind.FLOAT: "REAL",
    ColumnKind.BOOL: "INTEGER",
    ColumnKind.UUID: "TEXT",
    ColumnKind.TIMEUUID: "TEXT",
    ColumnKind.DATETIME: "INTEGER",
    ColumnKind.JSON: "TEXT",
}


def _encode_timeuuid(value: uuid.UUID) -> str:
    # Time first, so that text order is time order, as on Cassandra.
    return (
        f"{value.time:015x}{value.clock_seq_hi_variant:02x}"
        f"{value.clock_seq_low:02x}{value.node:012x}"
    )


def _decode_timeuuid(text: str) -> uuid.UUID:
    time = int(text[:15], 16)
    return uuid.UUID(
        fields=(
            time & 0xFFFFFFFF,
            (time >> 32) & 0xFFFF,
            ((time >> 48) & 0x0FFF) | 0x1000,
            int(text[15:17], 16),
            int(text[17:19], 16),
            int(text[19:], 16),
        )
    )


def _encode_datetime(value: datetime) -> int:
    return (value - _EPOCH) // timedelta(milliseconds=1)


def _decode_datetime(value: int) -> datetime:
    return _EPOCH + timedelta(milliseconds=value)


def _json_text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


_ENCODERS: dict[ColumnKind, Callable[[Any], Any]] = {
    ColumnKind.BOOL: int,
    ColumnKind.UUID: str,
    ColumnKind.TIMEUUID: _encode_timeuuid,
    ColumnKind.DATETIME: _encode_datetime,
    ColumnKind.JSON: _json_text,
}

_DECODERS: dict[ColumnKind, Callable[[Any], Any]] = {
    ColumnKind.BOOL: bool,
    ColumnKind.UUID: uuid.UUID,
    ColumnKind.TIMEUUID: _decode_timeuuid,
    ColumnKind.DATETIME: _decode_datetime,
    ColumnKind.JSON: json.loads,
}


def _quote(name: str) -> str:
    # Names are plain identifiers (checked at declaration); quoting keeps
    # SQL keywords such as "order" usable as column names.
    return f'"{name}"'


def _storable(value: Any) -> bool:
    """Whether a cursor value is one SQLite could have stored for a key."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return -(2**63) <= value < 2**63
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, str):
        return _encodable(value)
    return False


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class _Table:
    """The SQL text and value codecs for one entity, built once."""

    def __init__(self, meta: EntityMeta) -> None:
        self.meta = meta
        self.names = list(meta.columns)
        self.encoders = [
            (name, _ENCODERS.get(col.kind)) for name, col in meta.columns.items()
        ]
        self.decoders = [
            (name, _DECODERS.get(col.kind)) for name, col in meta.columns.items()
        ]
        table = _quote(meta.table)
        columns = ", ".join(_quote(n) for n in self.names)
        key_match = " AND ".join(f"{_quote(n)} = ?" for n in meta.primary_key)
        self.select = f"SELECT {columns} FROM {table}"
        self.select_key = f"{self.select} WHERE {key_match}"
        self.delete_key = f"DELETE FROM {table} WHERE {key_match}"

        values = ", ".join("?" for _ in self.names)
        keys = ", ".join(_quote(n) for n in meta.primary_key)
        others = [n for n in self.names if n not in meta.primary_key]
        if others:
            updates = ", ".join(f"{_quote(n)} = excluded.{_quote(n)}" for n in others)
            conflict = f"DO UPDATE SET {updates}"
        else:
            conflict = "DO NOTHING"
        self.upsert = (
            f"INSERT INTO {table} ({columns}) VALUES ({values}) "
            f"ON CONFLICT ({keys}) {conflict}"
        )

    def encode(self, name: str, value: Any) -> Any:
        encoder = _ENCODERS.get(self.meta.columns[name].kind)
        return value if value is None or encoder is None else encoder(value)

    def encode_row(self, row: Mapping[str, Any]) -> list[Any]:
        return [
            row[name] if row[name] is None or enc is None else enc(row[name])
            for name, enc in self.encoders
        ]

    def decode_row(self, values: Sequence[Any]) -> Row:
        return {
            name: value if value is None or dec is None else dec(value)
            for (name, dec), value in zip(self.decoders, values, strict=True)
        }

    def key_params(self, key: Mapping[str, Any]) -> list[Any]:
        return [self.encode(name, key[name]) for name in self.meta.primary_key]

    def create_statements(self) -> list[str]:
        meta = self.meta
        columns = [
            f"{_quote(n)} {_SQL_TYPES[c.kind]}{'' if c.optional else ' NOT NULL'}"
            for n, c in meta.columns.items()
        ]
        order = dict(meta.clustering)
        keys = ", ".join(
            f"{_quote(n)}{' DESC' if order.get(n) == 'desc' else ''}"
            for n in meta.primary_key
        )
        table = _quote(meta.table)
        statements = [
            f"CREATE TABLE IF NOT EXISTS {table} "
            f"({', '.join(columns)}, PRIMARY KEY ({keys})) WITHOUT ROWID"
        ]
        for name in meta.indexes:
            statements.append(
                f"CREATE INDEX IF NOT EXISTS {_quote(meta.table + '__' + name)} "
                f"ON {table} ({_quote(name)})"
            )
        return statements


class SQLiteConnector(Connector):
    """SQLite at ``path`` (``:memory:`` for a private in-memory database)."""

    backend = "sqlite"

    def __init__(self, path: str) -> None:
        self.path = path
        self._executor: ThreadPoolExecutor | None = None
        self._conn: sqlite3.Connection | None = None
        self._tables: dict[type, _Table] = {}

    async def connect(self) -> None:
        if self._executor is not None:
            return
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="roomcast-sqlite")
        try:
            self._conn = await self._run(self._open)
        except BaseException:
            # Leave the connector as before, so connect() can be tried again.
            self._executor.shutdown(wait=False)
            self._executor = None
            raise

    def _open(self) -> sqlite3.Connection:
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(
            self.path,
            isolation_level=None,
            check_same_thread=False,
            cached_statements=256,
        )
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA busy_timeout=5000")
        return conn

    async def close(self) -> None:
        executor, self._executor = self._executor, None
        if executor is None:
            return
        conn, self._conn = self._conn, None
        if conn is not None:
            await asyncio.get_running_loop().run_in_executor(executor, conn.close)
        executor.shutdown(wait=True)

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        if self._executor is None:
            raise DatabaseUnavailable("SQLite connector is not connected")
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, fn, *args)
        except (sqlite3.Error, OSError) as exc:
            raise DatabaseUnavailable(f"SQLite {self.path}: {exc}") from exc

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise sqlite3.ProgrammingError("connection is closed")
        return self._conn

    def _table(self, meta: EntityMeta) -> _Table:
        table = self._tables.get(meta.cls)
        if table is None or table.meta is not meta:
            table = self._tables[meta.cls] = _Table(meta)
        return table

    async def ping(self) -> None:
        await self._run(lambda: self._connection().execute("SELECT 1").fetchone())

    async def create_schema(self, metas: Sequence[EntityMeta]) -> None:
        statements = [s for m in metas for s in self._table(m).create_statements()]
        await self._run(self._in_transaction, self._execute_all, statements)

    def _execute_all(self, conn: sqlite3.Connection, statements: list[str]) -> None:
        for statement in statements:
            conn.execute(statement)

    def _in_transaction(self, body: Callable[..., T], *args: Any) -> T:
        conn = self._connection()
        conn.execute("BEGIN IMMEDIATE")
        try:
            result = body(conn, *args)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return result

    async def save(
        self, meta: EntityMeta, row: Row, companions: Companions | None = None
    ) -> Row | None:
        table = self._table(meta)
        params = table.encode_row(row)
        key = table.key_params(row)
        return await self._run(
            self._in_transaction, self._save, table, params, key, companions
        )

    def _save(
        self,
        conn: sqlite3.Connection,
        table: _Table,
        params: list[Any],
        key: list[Any],
        companions: Companions | None,
    ) -> Row | None:
        found = conn.execute(table.select_key, key).fetchone()
        previous = None if found is None else table.decode_row(found)
        conn.execute(table.upsert, params)
        self._write_companions(conn, companions, previous)
        return previous

    def _write_companions(
        self,
        conn: sqlite3.Connection,
        companions: Companions | None,
        previous: Row | None,
    ) -> None:
        # Called on the worker thread, inside the write's transaction.
        for companion in companions(previous) if companions else ():
            extra = self._table(companion.meta)
            conn.execute(extra.upsert, extra.encode_row(companion.row))

    async def get(self, meta: EntityMeta, key: Mapping[str, Any]) -> Row | None:
        table = self._table(meta)
        found = await self._run(self._get, table, table.key_params(key))
        return None if found is None else table.decode_row(found)

    def _get(self, table: _Table, key: list[Any]) -> Any:
        return self._connection().execute(table.select_key, key).fetchone()

    async def delete(
        self,
        meta: EntityMeta,
        key: Mapping[str, Any],
        companions: Companions | None = None,
    ) -> Row | None:
        table = self._table(meta)
        params = table.key_params(key)
        return await self._run(
            self._in_transaction, self._delete, table, params, companions
        )

    def _delete(
        self,
        conn: sqlite3.Connection,
        table: _Table,
        key: list[Any],
        companions: Companions | None,
    ) -> Row | None:
        found = conn.execute(table.select_key, key).fetchone()
        if found is None:
            return None
        conn.execute(table.delete_key, key)
        previous = table.decode_row(found)
        self._write_companions(conn, companions, previous)
        return previous

    async def expire(self, meta: EntityMeta, column: str, before: datetime) -> None:
        table = self._table(meta)
        sql = f"DELETE FROM {_quote(meta.table)} WHERE {_quote(column)} < ?"
        limit = table.encode(column, before)
        await self._run(self._in_transaction, self._execute_all_with, sql, limit)

    def _execute_all_with(self, conn: sqlite3.Connection, sql: str, value: Any) -> None:
        conn.execute(sql, (value,))

    async def fetch(self, query: Query, cursor: Any | None) -> tuple[list[Row], Any]:
        table = self._table(query.meta)
        sql, params = self._select_for(table, query, cursor)
        found = await self._run(self._fetch, sql, params)

        rows = [table.decode_row(values) for values in found[: query.limit]]
        if len(found) <= query.limit:
            return rows, None
        last = found[query.limit - 1]
        position = {name: i for i, name in enumerate(table.names)}
        return rows, [last[position[name]] for name, _ in query.order_by]

    def _fetch(self, sql: str, params: list[Any]) -> list[Any]:
        return self._connection().execute(sql, params).fetchall()

    def _select_for(
        self, table: _Table, query: Query, cursor: Any | None
    ) -> tuple[str, list[Any]]:
        where: list[str] = []
        params: list[Any] = []
        for name, value in query.equals.items():
            where.append(f"{_quote(name)} = ?")
            params.append(table.encode(name, value))
        if query.range is not None:
            name, bounds = query.range
            for op, value in bounds.bounds():
                where.append(f"{_quote(name)} {op} ?")
                params.append(table.encode(name, value))
        if cursor is not None:
            clause, values = self._after(query, cursor)
            where.append(clause)
            params.extend(values)

        sql = table.select
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY " + ", ".join(
            f"{_quote(n)} {way.upper()}" for n, way in query.order_by
        )
        params.append(query.limit + 1)
        return sql + " LIMIT ?", params

    def _after(self, query: Query, cursor: Any) -> tuple[str, list[Any]]:
        columns = [name for name, _ in query.order_by]
        if (
            not isinstance(cursor, list)
            or len(cursor) != len(columns)
            or not all(_storable(v) for v in cursor)
        ):
            raise InvalidPageToken("page token does not fit this table")
        value_of = dict(zip(columns, cursor, strict=True))
        if not query.keyset_after():
            return "0", []
        alternatives = []
        params: list[Any] = []
        for clause in query.keyset_after():
            alternatives.append(
                "(" + " AND ".join(f"{_quote(n)} {op} ?" for n, op in clause) + ")"
            )
            params.extend(value_of[n] for n, _ in clause)
        return "(" + " OR ".join(alternatives) + ")", params
