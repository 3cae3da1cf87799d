"""The migrator: status, plan, up, down and new, on one database."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

import attrs

import orm

from . import writer
from .backend import Backend, LedgerEntry, backend_for
from .context import Context
from .exceptions import (
    MigrationError,
    MigrationFailed,
    PendingMigrations,
    VersionsError,
)
from .lock import LOCK_TTL, LOCK_WAIT, hold_lock
from .plan import Plan, compare
from .versions import Migration, load_versions

__all__ = ["Migrator", "State", "prepare_for_serving"]

log = logging.getLogger("roomcast.migrations")

#: The target of ``down`` that undoes every migration.
BASE = "0"


@attrs.frozen
class State:
    """One line of ``status``: a migration and whether the ledger has it."""

    id: str
    name: str
    applied_at: datetime | None
    #: The file changed after it was applied (its checksum differs).
    changed: bool = False
    #: The ledger has it, the versions folder no longer does.
    missing: bool = False

    @property
    def applied(self) -> bool:
        return self.applied_at is not None

    def line(self) -> str:
        """The line ``roomcast migrate status`` prints."""
        if self.applied_at is None:
            return f"{self.id}  {self.name:<32} pending"
        at = f"{self.applied_at:%Y-%m-%d %H:%M:%S} UTC"
        text = f"{self.id}  {self.name:<32} applied  {at}"
        if self.changed:
            text += "  (file changed since it was applied: not run again)"
        if self.missing:
            text += "  (file missing)"
        return text


class Migrator:
    """Runs the migrations of ``folder`` on a connected ``db``.

    ``entities`` are the application's declared entities, which ``plan`` and
    ``new`` compare with the live schema.
    """

    def __init__(
        self,
        db: orm.Database,
        folder: Path,
        *,
        entities: Sequence[type] = (),
        lock_ttl: float = LOCK_TTL,
        lock_wait: float = LOCK_WAIT,
        stream: TextIO | None = None,
    ) -> None:
        self.db = db
        self.folder = folder
        self.entities = tuple(entities)
        self.lock_ttl = lock_ttl
        self.lock_wait = lock_wait
        self._stream = stream
        self._backend: Backend = backend_for(db)

    @property
    def where(self) -> str:
        return self._backend.where

    def versions(self) -> list[Migration]:
        return load_versions(self.folder)

    async def status(self) -> list[State]:
        """Every migration, applied or pending, plus ledger rows whose file
        is gone, in id order."""
        ledger = {e.id: e for e in await self._backend.ledger()}
        states = []
        for migration in self.versions():
            entry = ledger.pop(migration.id, None)
            if entry is None:
                states.append(State(migration.id, migration.name, None))
            else:
                changed = entry.checksum != migration.checksum
                states.append(
                    State(migration.id, migration.name, entry.applied_at, changed)
                )
        for entry in ledger.values():
            states.append(State(entry.id, "?", entry.applied_at, missing=True))
        return sorted(states, key=lambda s: int(s.id))

    async def pending(self) -> list[Migration]:
        applied = {e.id for e in await self._backend.ledger()}
        return [m for m in self.versions() if m.id not in applied]

    async def plan(self) -> Plan:
        """How the live schema differs from the declared entities."""
        backend = self._backend
        return compare(
            [orm.entity_meta(e) for e in self.entities],
            await backend.tables(),
            storage_type=backend.storage_type,
            type_change_reason=backend.type_change_reason,
        )

    async def up(self, target: str | None = None) -> list[Migration]:
        """Apply the pending migrations up to ``target`` (all by default);
        returns those applied. Creates the database or keyspace if need be."""
        versions = self.versions()
        target = _target(versions, target)
        await self._backend.prepare()
        async with hold_lock(self._backend, ttl=self.lock_ttl, wait=self.lock_wait):
            # Read under the lock: a migrator that waited sees the work done.
            ledger = {e.id: e for e in await self._backend.ledger()}
            _warn_changed(versions, ledger)
            todo = [
                m
                for m in versions
                if m.id not in ledger and (target is None or int(m.id) <= int(target))
            ]
            for migration in todo:
                await self._run(migration, "up")
        return todo

    async def down(self, target: str | None = None) -> list[Migration]:
        """Undo the last applied migration, or every one after ``target``
        (``"0"`` undoes them all); returns those undone, last first."""
        found = self.versions()
        versions = {m.id: m for m in found}
        target = _target(found, target)
        await self._backend.prepare()
        async with hold_lock(self._backend, ttl=self.lock_ttl, wait=self.lock_wait):
            ledger = {e.id: e for e in await self._backend.ledger()}
            applied = sorted(ledger, key=int, reverse=True)
            if target is None:
                chosen = applied[:1]
            else:
                chosen = [i for i in applied if int(i) > int(target)]
            missing = [i for i in chosen if i not in versions]
            if missing:
                raise VersionsError(
                    f"cannot undo {', '.join(missing)}: no such file in {self.folder}"
                )
            _warn_changed(versions.values(), ledger)
            undone = [versions[i] for i in chosen]
            for migration in undone:
                await self._run(migration, "down")
        return undone

    async def new(self, name: str) -> tuple[Path, Plan]:
        """Write the next migration, prefilled with what ``plan`` finds."""
        plan = await self.plan()
        path = writer.write(self.folder, name, plan, self.versions())
        return path, plan

    async def _run(self, migration: Migration, direction: str) -> None:
        backend = self._backend
        ctx = Context(backend, migration.id, stream=self._stream)
        step = migration.up if direction == "up" else migration.down
        started = time.monotonic()
        log.info("%s %s: %s", direction, migration.label, migration.description)
        try:
            async with backend.transaction():
                await step(ctx)
                if direction == "up":
                    now = datetime.now(UTC)
                    await backend.record(
                        LedgerEntry(migration.id, migration.checksum, now)
                    )
                else:
                    await backend.forget(migration.id)
                await backend.clear_progress(migration.id)
        except MigrationError as exc:
            raise MigrationFailed(migration.id, direction, str(exc)) from exc
        except Exception as exc:
            raise MigrationFailed(
                migration.id, direction, f"{type(exc).__name__}: {exc}"
            ) from exc
        log.info(
            "%s %s: done in %.2f s",
            direction,
            migration.label,
            time.monotonic() - started,
        )


def _target(versions: Sequence[Migration], text: str | None) -> str | None:
    """The id a target names: ``0002``, ``2`` or ``0002_add_topic`` alike."""
    if text is None:
        return None
    digits = text.split("_", 1)[0]
    if digits.isdigit() and int(digits) == 0:
        return BASE
    if digits.isdigit() and any(int(m.id) == int(digits) for m in versions):
        return f"{int(digits):04d}"
    known = ", ".join(m.id for m in versions) or "none"
    raise VersionsError(f"no migration {text!r} (known: {known})")


def _warn_changed(
    versions: Iterable[Migration], ledger: dict[str, LedgerEntry]
) -> None:
    for migration in versions:
        entry = ledger.get(migration.id)
        if entry is not None and entry.checksum != migration.checksum:
            log.warning(
                "%s changed after it was applied (checksum differs); it is not "
                "run again: put further changes in a new migration",
                migration.label,
            )


async def prepare_for_serving(
    db: orm.Database, folder: Path, *, apply: bool, command: str
) -> list[Migration]:
    """At server start: apply the pending migrations when ``apply``, else
    raise ``PendingMigrations`` naming them and ``command``."""
    migrator = Migrator(db, folder)
    if apply:
        return await migrator.up()
    pending = await migrator.pending()
    if pending:
        raise PendingMigrations([m.label for m in pending], command)
    return []
