"""Errors raised by the migration engine.

    MigrationError
     ├── VersionsError (ValueError)       a versions folder or file that cannot
     │                                    be loaded, or a target it does not hold
     ├── SchemaError (ValueError)         a schema operation the live database
     │                                    cannot take (a missing table, a key
     │                                    column to drop)
     ├── MigrationFailed (RuntimeError)   a migration's ``up`` or ``down`` raised;
     │                                    nothing of it is recorded
     ├── LockTimeout (TimeoutError)       another migrator held the lock for
     │                                    longer than this one would wait
     └── PendingMigrations (RuntimeError) the server refuses to start on a
                                          schema that is behind its versions

Driver errors (sqlite3, pymongo, cassandra) are translated where they happen
into ``orm.DatabaseUnavailable``, as the ORM's connectors do.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "LockTimeout",
    "MigrationError",
    "MigrationFailed",
    "PendingMigrations",
    "SchemaError",
    "VersionsError",
]


class MigrationError(Exception):
    """Base of every error the migration engine raises."""


class VersionsError(MigrationError, ValueError):
    """A versions folder, migration file or target that cannot be used."""


class SchemaError(MigrationError, ValueError):
    """A schema operation that the live database cannot take as asked."""


class MigrationFailed(MigrationError, RuntimeError):
    """A migration raised; the ledger does not record it."""

    def __init__(self, migration_id: str, direction: str, reason: str) -> None:
        super().__init__(f"migration {migration_id} failed ({direction}): {reason}")
        self.migration_id = migration_id
        self.direction = direction


class LockTimeout(MigrationError, TimeoutError):
    """Another process kept the migration lock longer than this one waits."""


class PendingMigrations(MigrationError, RuntimeError):
    """The database is behind the application's migrations."""

    def __init__(self, ids: Sequence[str], command: str) -> None:
        names = ", ".join(ids)
        super().__init__(
            f"{len(ids)} migration(s) pending: {names}; apply them with "
            f"`{command}`, or start with --migrate"
        )
        self.ids = tuple(ids)
        self.command = command
