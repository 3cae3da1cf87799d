"""``ctx``: what a migration's ``up`` and ``down`` are given.

Schema operations work alike on every backend and are safe to repeat: each
one that finds its work already done does nothing, so a migration that
failed half way on a backend without transactional DDL can simply run again.
``ctx.db`` is an ``orm.Database`` over the same connection, for data
migrations; ``ctx.pages`` streams an entity's rows in resumable pages.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from typing import Any, TextIO, TypeVar, cast

import orm

from . import progress
from .backend import Backend
from .exceptions import SchemaError
from .schema import LiveTable, TableSpec, identifier, parse_column_type

__all__ = ["Context"]

T = TypeVar("T")


class Context:
    """The schema operations, database and data helpers of one migration."""

    def __init__(
        self, backend: Backend, migration_id: str, *, stream: TextIO | None = None
    ) -> None:
        self.migration_id = migration_id
        self._backend = backend
        self._stream = stream
        connector = cast(orm.Connector, _Committing(backend))
        self._db = backend.db.with_connector(connector)

    @property
    def backend(self) -> str:
        """``sqlite``, ``mongodb`` or ``cassandra``, for the rare migration
        that must tell them apart."""
        return self._backend.db.backend

    @property
    def db(self) -> orm.Database:
        """The database, for reading and writing rows through repositories.

        On SQLite, its first read or write commits the schema changes the
        migration made before it.
        """
        return self._db

    async def create_table(
        self,
        table: str | type,
        *,
        columns: Mapping[str, str] | None = None,
        partition_key: Sequence[str] = (),
        clustering: Mapping[str, str] | Iterable[tuple[str, str]] = (),
        indexes: Sequence[str] = (),
    ) -> None:
        """Create a table with its indexes, unless it exists.

        ``table`` is a name followed by the table's shape, frozen in the
        migration (``columns`` maps names to types such as ``"text"`` or
        ``"datetime?"``), or an entity class, whose shape is read when the
        migration runs.
        """
        if isinstance(table, type):
            spec = TableSpec.of(orm.entity_meta(table))
        else:
            if columns is None:
                raise SchemaError(f"create_table({table!r}) needs its columns")
            spec = TableSpec.declare(
                table,
                columns=columns,
                partition_key=partition_key,
                clustering=clustering,
                indexes=indexes,
            )
        await self._backend.create_table(spec)

    async def add_column(self, table: str, name: str, type: str) -> None:
        """Add a column; rows already stored read ``None`` from it."""
        column = parse_column_type(identifier(name, "column"), type)
        await self._live(table)
        await self._backend.add_column(table, column)

    async def drop_column(self, table: str, name: str) -> None:
        """Drop a column with its values (and its index, if any)."""
        live = await self._find(table)
        if live is None or name not in live.columns:
            return
        if any(key == name for key, _ in live.key):
            raise SchemaError(f"{table}.{name} is a key column and cannot be dropped")
        await self._backend.drop_column(table, name)

    async def create_index(self, table: str, column: str) -> None:
        """Index a column, for lookups by equality on it."""
        live = await self._live(table)
        if column not in live.columns:
            raise SchemaError(f"{table} has no column {column!r} to index")
        if column not in live.indexes:
            await self._backend.create_index(live, identifier(column, "column"))

    async def drop_index(self, table: str, column: str) -> None:
        """Drop the index on a column."""
        live = await self._find(table)
        if live is not None and column in live.indexes:
            await self._backend.drop_index(table, column)

    async def drop_table(self, table: str) -> None:
        """Drop a table with all its rows."""
        await self._backend.drop_table(identifier(table, "table"))

    async def pages(
        self,
        entity: type[T],
        filters: Mapping[str, Any],
        *,
        step: str = "rows",
        page_size: int = 500,
        total: int | None = None,
    ) -> AsyncIterator[list[T]]:
        """The entities matching ``filters``, a page at a time, with progress
        shown, resuming after the last finished page of an interrupted run.

        ``step`` names the pass, unique within the migration; ``total``, when
        known, turns the count into a bar. Handle each page so that handling
        it twice does no harm: an interrupted page is handed over again.
        """
        found = progress.pages(
            self._backend,
            self.db.repository(entity),
            filters,
            migration_id=self.migration_id,
            step=step,
            page_size=page_size,
            total=total,
            stream=self._stream,
        )
        async for page in found:
            yield page

    async def _find(self, table: str) -> LiveTable | None:
        tables = await self._backend.tables()
        return tables.get(identifier(table, "table"))

    async def _live(self, table: str) -> LiveTable:
        live = await self._find(table)
        if live is None:
            raise SchemaError(f"there is no table {table!r} in {self._backend.where}")
        return live


class _Committing:
    """Stands for the migrator's connector in ``ctx.db``: ends the open
    schema transaction before every call that reads or writes rows, and
    leaves connecting and closing to the migrator."""

    def __init__(self, backend: Backend) -> None:
        self._backend = backend
        self._inner = backend.db.connector

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._inner, name)
        if name in ("connect", "close"):
            return _nothing
        if not inspect.iscoroutinefunction(value):
            return value

        async def call(*args: Any, **kwargs: Any) -> Any:
            await self._backend.end_transaction()
            return await value(*args, **kwargs)

        return call


async def _nothing() -> None:
    pass
