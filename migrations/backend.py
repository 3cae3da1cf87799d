"""What the engine asks of a backend, and how it picks the adapter for one.

An adapter works through the connector's own driver handle (the sqlite3
connection, the pymongo database, the Cassandra session) and keeps three
tables of its own next to the application's:

``roomcast_migrations``
    The ledger: one row per applied migration (id, checksum, applied_at).
``roomcast_migrations_lock``
    At most one row, held by the one process migrating; it expires unless
    its holder renews it, so a crashed holder blocks nobody for long.
``roomcast_migrations_progress``
    Where each paged data migration step got to, so that it can resume.
"""

from __future__ import annotations

import abc
import contextlib
import importlib
from collections.abc import AsyncIterator
from datetime import datetime

import attrs

import orm

from .schema import LiveTable, TableSpec

__all__ = ["Backend", "Holder", "LedgerEntry", "Progress", "backend_for"]

LEDGER = "roomcast_migrations"
LOCK = "roomcast_migrations_lock"
PROGRESS = "roomcast_migrations_progress"
LOCK_NAME = "migrate"

_ADAPTERS = {
    "sqlite": ("migrations.sqlite", "SQLiteBackend"),
    "mongodb": ("migrations.mongodb", "MongoBackend"),
    "cassandra": ("migrations.cassandra", "CassandraBackend"),
}


@attrs.frozen
class LedgerEntry:
    """One applied migration as the ledger records it."""

    id: str
    checksum: str
    applied_at: datetime


@attrs.frozen
class Holder:
    """Who holds the migration lock, and until when unless renewed."""

    owner: str
    expires_at: datetime


@attrs.frozen
class Progress:
    """How far one paged step of a data migration got."""

    migration_id: str
    step: str
    cursor: str | None
    done: int
    finished: bool


class Backend(abc.ABC):
    """Schema operations, ledger, lock and progress on one database."""

    #: Why a column's type cannot change in place, for ``plan``.
    type_change_reason = (
        "rows already stored keep values of the old type, which the new one cannot read"
    )

    def __init__(self, db: orm.Database) -> None:
        self.db = db

    @property
    def where(self) -> str:
        """The database, for messages (password left out)."""
        return self.db.url.redacted() if self.db.url else self.db.backend

    # Bookkeeping

    @abc.abstractmethod
    async def prepare(self) -> None:
        """Create the database or keyspace and the engine's own tables."""

    @abc.abstractmethod
    async def ledger(self) -> list[LedgerEntry]:
        """The applied migrations; none on a database never migrated."""

    @abc.abstractmethod
    async def record(self, entry: LedgerEntry) -> None:
        """Add ``entry`` to the ledger."""

    @abc.abstractmethod
    async def forget(self, migration_id: str) -> None:
        """Remove a migration from the ledger (it was undone)."""

    @abc.abstractmethod
    async def read_progress(self, migration_id: str, step: str) -> Progress | None:
        """The progress of one step, or ``None`` when it never started."""

    @abc.abstractmethod
    async def write_progress(self, progress: Progress) -> None:
        """Store the progress of one step."""

    @abc.abstractmethod
    async def clear_progress(self, migration_id: str) -> None:
        """Forget the progress of every step of one migration."""

    # The lock

    @abc.abstractmethod
    async def try_lock(self, holder: Holder) -> Holder | None:
        """Take the lock for ``holder``: ``None`` when taken, else who has it.

        A lock past its expiry is free to take.
        """

    @abc.abstractmethod
    async def renew_lock(self, holder: Holder) -> bool:
        """Push the expiry of a lock ``holder`` has; ``False`` if it lost it."""

    @abc.abstractmethod
    async def release_lock(self, owner: str) -> None:
        """Give the lock up, if ``owner`` still has it."""

    # Transactions

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        """Around one migration and its ledger row: all or nothing where the
        backend can (SQLite), a plain block elsewhere."""
        yield

    async def end_transaction(self) -> None:  # noqa: B027 (a hook for SQLite)
        """Commit the schema changes made so far, before rows are read or
        written through the ORM, which runs transactions of its own."""

    # Schema

    @abc.abstractmethod
    async def tables(self) -> dict[str, LiveTable]:
        """The live tables of the application (not the engine's own)."""

    @abc.abstractmethod
    def storage_type(self, kind: orm.ColumnKind) -> str | None:
        """The type a column of ``kind`` is stored as, as ``tables`` reports
        it; ``None`` when the backend keeps no types."""

    @abc.abstractmethod
    async def create_table(self, spec: TableSpec) -> None:
        """Create a table with its indexes, unless it exists."""

    @abc.abstractmethod
    async def add_column(self, table: str, column: orm.Column) -> None:
        """Add a column, unless the table has it."""

    @abc.abstractmethod
    async def drop_column(self, table: str, column: str) -> None:
        """Drop a column and its values, unless the table lacks it."""

    @abc.abstractmethod
    async def create_index(self, table: LiveTable, column: str) -> None:
        """Index one column of a table, unless it is indexed."""

    @abc.abstractmethod
    async def drop_index(self, table: str, column: str) -> None:
        """Drop the index on one column, unless there is none."""

    @abc.abstractmethod
    async def drop_table(self, table: str) -> None:
        """Drop a table and its rows, unless it does not exist."""


def backend_for(db: orm.Database) -> Backend:
    """The adapter for ``db``'s backend (its driver is already imported)."""
    module_name, class_name = _ADAPTERS[db.backend]
    adapter: Backend = getattr(importlib.import_module(module_name), class_name)(db)
    return adapter
