"""Cassandra and ScyllaDB: the catalog in ``system_schema``, CQL DDL.

Tables and indexes are created by the connector's own ``create_schema``, so
they are exactly those it expects (and it waits until a new index can be
queried). Statements run on the connector's session, on a worker thread, as
the driver's synchronous API blocks.

The lock is a row inserted with ``IF NOT EXISTS`` (a lightweight
transaction, decided by Paxos among the replicas) and a TTL: a holder that
dies stops renewing it and the row expires. Renewal and release are
conditional on the owner, so nobody renews or releases a lock taken since.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from cassandra import DriverException, RequestValidationException
from cassandra.cluster import NoHostAvailable
from cassandra.connection import ConnectionException

import orm
from orm.cassandra import _CQL_TYPES, CassandraConnector

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
from .schema import Key, LiveTable, TableSpec, identifier

__all__ = ["CassandraBackend"]

_DRIVER_ERRORS = (DriverException, NoHostAvailable, ConnectionException, OSError)

# DDL waits for every node to agree on the schema.
_DDL_TIMEOUT = 60.0

_KINDS = {
    cql: kind for kind, cql in _CQL_TYPES.items() if kind is not orm.ColumnKind.JSON
}


def _quote(name: str) -> str:
    return f'"{identifier(name, "table or column")}"'


def _utc(value: datetime) -> datetime:
    # The driver hands timestamps back naive, in UTC.
    return value.replace(tzinfo=UTC)


class CassandraBackend(Backend):
    """The adapter for ``orm.cassandra.CassandraConnector``."""

    type_change_reason = "Cassandra cannot change the type of a column"

    def __init__(self, db: orm.Database) -> None:
        super().__init__(db)
        if not isinstance(db.connector, CassandraConnector):
            raise TypeError(f"not a Cassandra database: {self.where}")
        self._connector = db.connector
        self._keyspace = db.connector.options.keyspace

    def _name(self, table: str) -> str:
        return f"{_quote(self._keyspace)}.{_quote(table)}"

    async def _execute(
        self, cql: str, params: Sequence[Any] = (), *, timeout: float | None = None
    ) -> Any:
        """Run one statement; returns the driver's ResultSet."""
        session = self._connector._require_session()
        timeout = timeout or self._connector.options.request_timeout
        try:
            return await asyncio.to_thread(
                session.execute, cql, tuple(params), timeout=timeout
            )
        except RequestValidationException as exc:
            # Understood and refused: the statement does not fit the schema.
            raise SchemaError(f"Cassandra {self.where} refused: {exc}") from exc
        except _DRIVER_ERRORS as exc:
            raise orm.DatabaseUnavailable(
                f"Cassandra {self.where}: {type(exc).__name__}: {exc}"
            ) from exc

    async def _rows(self, cql: str, params: Sequence[Any] = ()) -> list[Any]:
        result = await self._execute(cql, params)
        return list(result)

    async def _ddl(self, cql: str) -> None:
        await self._execute(cql, timeout=_DDL_TIMEOUT)

    async def _exists(self, table: str) -> bool:
        rows = await self._rows(
            "SELECT table_name FROM system_schema.tables "
            "WHERE keyspace_name = %s AND table_name = %s",
            (self._keyspace, table),
        )
        return bool(rows)

    # Bookkeeping

    async def prepare(self) -> None:
        await self._connector.create_schema([])  # the keyspace
        await self._ddl(
            f"CREATE TABLE IF NOT EXISTS {self._name(LEDGER)} "
            "(id text PRIMARY KEY, checksum text, applied_at timestamp)"
        )
        await self._ddl(
            f"CREATE TABLE IF NOT EXISTS {self._name(LOCK)} "
            "(name text PRIMARY KEY, owner text, expires_at timestamp)"
        )
        await self._ddl(
            f"CREATE TABLE IF NOT EXISTS {self._name(PROGRESS)} "
            "(migration_id text, step text, cursor text, done bigint, "
            "finished boolean, PRIMARY KEY (migration_id, step))"
        )

    async def ledger(self) -> list[LedgerEntry]:
        if not await self._exists(LEDGER):
            return []
        rows = await self._rows(
            f"SELECT id, checksum, applied_at FROM {self._name(LEDGER)}"
        )
        entries = [LedgerEntry(i, c, _utc(at)) for i, c, at in rows]
        return sorted(entries, key=lambda e: e.id)

    async def record(self, entry: LedgerEntry) -> None:
        await self._execute(
            f"INSERT INTO {self._name(LEDGER)} (id, checksum, applied_at) "
            "VALUES (%s, %s, %s)",
            (entry.id, entry.checksum, entry.applied_at),
        )

    async def forget(self, migration_id: str) -> None:
        await self._execute(
            f"DELETE FROM {self._name(LEDGER)} WHERE id = %s",
            (migration_id,),
        )

    async def read_progress(self, migration_id: str, step: str) -> Progress | None:
        rows = await self._rows(
            f"SELECT cursor, done, finished FROM {self._name(PROGRESS)} "
            "WHERE migration_id = %s AND step = %s",
            (migration_id, step),
        )
        if not rows:
            return None
        cursor, done, finished = rows[0]
        return Progress(migration_id, step, cursor, done, finished)

    async def write_progress(self, progress: Progress) -> None:
        await self._execute(
            f"INSERT INTO {self._name(PROGRESS)} "
            "(migration_id, step, cursor, done, finished) VALUES (%s, %s, %s, %s, %s)",
            (
                progress.migration_id,
                progress.step,
                progress.cursor,
                progress.done,
                progress.finished,
            ),
        )

    async def clear_progress(self, migration_id: str) -> None:
        await self._execute(
            f"DELETE FROM {self._name(PROGRESS)} WHERE migration_id = %s",
            (migration_id,),
        )

    # The lock

    def _ttl(self, holder: Holder) -> int:
        seconds = (holder.expires_at - datetime.now(UTC)).total_seconds()
        return max(1, round(seconds))

    async def try_lock(self, holder: Holder) -> Holder | None:
        result = await self._execute(
            f"INSERT INTO {self._name(LOCK)} (name, owner, expires_at) "
            "VALUES (%s, %s, %s) IF NOT EXISTS USING TTL %s",
            (LOCK_NAME, holder.owner, holder.expires_at, self._ttl(holder)),
        )
        row = dict(zip(result.column_names, result.one(), strict=True))
        if row["[applied]"]:
            return None
        return Holder(row["owner"], _utc(row["expires_at"]))

    async def renew_lock(self, holder: Holder) -> bool:
        result = await self._execute(
            f"UPDATE {self._name(LOCK)} USING TTL %s "
            "SET owner = %s, expires_at = %s WHERE name = %s IF owner = %s",
            (
                self._ttl(holder),
                holder.owner,
                holder.expires_at,
                LOCK_NAME,
                holder.owner,
            ),
        )
        applied: bool = result.one()[0]
        return applied

    async def release_lock(self, owner: str) -> None:
        await self._execute(
            f"DELETE FROM {self._name(LOCK)} WHERE name = %s IF owner = %s",
            (LOCK_NAME, owner),
        )

    # Schema

    async def tables(self) -> dict[str, LiveTable]:
        keyspace = (self._keyspace,)
        names = await self._rows(
            "SELECT table_name FROM system_schema.tables WHERE keyspace_name = %s",
            keyspace,
        )
        columns = await self._rows(
            "SELECT table_name, column_name, kind, position, clustering_order, type "
            "FROM system_schema.columns WHERE keyspace_name = %s",
            keyspace,
        )
        indexes = await self._rows(
            "SELECT table_name, index_name, options FROM system_schema.indexes "
            "WHERE keyspace_name = %s",
            keyspace,
        )
        return {
            name: _live_table(name, columns, indexes)
            for (name,) in names
            if not name.startswith("roomcast_migrations")
        }

    def storage_type(self, kind: orm.ColumnKind) -> str | None:
        return _CQL_TYPES[kind]

    async def create_table(self, spec: TableSpec) -> None:
        await self._connector.create_schema([spec.to_meta()])

    async def add_column(self, table: str, column: orm.Column) -> None:
        if column.name in (await self._live(table)).columns:
            return
        await self._ddl(
            f"ALTER TABLE {self._name(table)} ADD {_quote(column.name)} "
            f"{_CQL_TYPES[column.kind]}"
        )

    async def drop_column(self, table: str, column: str) -> None:
        if column not in (await self._live(table)).columns:
            return
        # Cassandra refuses to drop an indexed column.
        await self.drop_index(table, column)
        await self._ddl(f"ALTER TABLE {self._name(table)} DROP {_quote(column)}")

    async def create_index(self, table: LiveTable, column: str) -> None:
        # Through the connector, which also waits until the index is built.
        key_and_column = [*(name for name, _ in table.key), column]
        columns = {}
        for name in key_and_column:
            kind = _KINDS.get(table.columns.get(name) or "")
            if kind is None:
                raise SchemaError(f"{table.name}.{name}: cannot index this column")
            columns[name] = orm.Column(name, kind, name == column)
        partition = table.partition_key or ()
        spec = TableSpec(
            table.name,
            columns,
            partition_key=partition,
            clustering=table.key[len(partition) :],
            indexes=(column,),
        )
        await self._connector.create_schema([spec.to_meta()])

    async def drop_index(self, table: str, column: str) -> None:
        rows = await self._rows(
            "SELECT index_name, options FROM system_schema.indexes "
            "WHERE keyspace_name = %s AND table_name = %s",
            (self._keyspace, table),
        )
        for name, options in rows:
            if _index_target(options) == column:
                await self._ddl(f"DROP INDEX IF EXISTS {self._name(name)}")

    async def drop_table(self, table: str) -> None:
        await self._ddl(f"DROP TABLE IF EXISTS {self._name(table)}")

    async def _live(self, table: str) -> LiveTable:
        live = (await self.tables()).get(table)
        if live is None:
            raise SchemaError(f"there is no table {table!r} in {self.where}")
        return live


def _index_target(options: dict[str, str] | None) -> str:
    target = (options or {}).get("target", "")
    if len(target) > 1 and target[0] == target[-1] == '"':
        target = target[1:-1].replace('""', '"')
    return target


def _live_table(name: str, columns: list[Any], indexes: list[Any]) -> LiveTable:
    mine = [c for c in columns if c[0] == name]
    partition = sorted((c for c in mine if c[2] == "partition_key"), key=lambda c: c[3])
    clustering = sorted((c for c in mine if c[2] == "clustering"), key=lambda c: c[3])
    key: Key = tuple((c[1], "asc") for c in partition) + tuple(
        (c[1], "desc" if c[4] == "desc" else "asc") for c in clustering
    )
    return LiveTable(
        name,
        {c[1]: c[5] for c in mine},
        key,
        tuple(c[1] for c in partition),
        frozenset(_index_target(i[2]) for i in indexes if i[0] == name),
    )
