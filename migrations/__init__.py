"""Schema migrations for every backend: the ``roomcast migrate`` verbs.

An application keeps its migrations in a versions folder, one Python file
each (``0001_initial.py``, ``0002_add_topic_to_channels.py``), with an
``id``, a ``description``, and ``async def up(ctx)`` / ``down(ctx)``.
``ctx`` (a ``Context``) offers schema operations that work on SQLite,
MongoDB and Cassandra alike, ``ctx.db`` for data migrations, and
``ctx.pages`` to stream many rows in resumable pages::

    migrator = migrations.Migrator(db, Path("app/migrations"), entities=ENTITIES)
    plan = await migrator.plan()     # the declared entities vs the live schema
    print("\n".join(plan.lines()))
    await migrator.up()              # apply what is pending, under a lock

Every database keeps a ledger (``roomcast_migrations``: id, checksum,
applied_at) of what was applied; one process at a time migrates it, under a
lock that expires if its holder dies. Progress and waiting are logged to
``roomcast.migrations``.
"""

from __future__ import annotations

from .context import Context
from .exceptions import (
    LockTimeout,
    MigrationError,
    MigrationFailed,
    PendingMigrations,
    SchemaError,
    VersionsError,
)
from .plan import Blocker, Change, Plan
from .runner import Migrator, State, prepare_for_serving
from .schema import TableSpec
from .versions import Migration, load_versions, versions_folder

__all__ = [
    "Blocker",
    "Change",
    "Context",
    "LockTimeout",
    "Migration",
    "MigrationError",
    "MigrationFailed",
    "Migrator",
    "PendingMigrations",
    "Plan",
    "SchemaError",
    "State",
    "TableSpec",
    "VersionsError",
    "load_versions",
    "prepare_for_serving",
    "versions_folder",
]
