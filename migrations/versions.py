"""The versions folder: one Python file per migration, ``NNNN_name.py``.

Each file defines::

    id = "0002"                       # the number its name starts with
    description = "add topic to channels"

    async def up(ctx: migrations.Context) -> None: ...
    async def down(ctx: migrations.Context) -> None: ...

Migrations run in the order of their ids. A file's checksum (SHA-256 of its
bytes) goes to the ledger with it, so that a file changed after it was
applied is noticed.
"""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import os
import re
import sys
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import attrs

from .exceptions import VersionsError

if TYPE_CHECKING:
    from .context import Context

__all__ = ["Migration", "load_versions", "next_id", "versions_folder"]

FILE_NAME = re.compile(r"(?P<id>\d{4})_(?P<name>[a-z0-9_]+)\.py")
NAME = re.compile(r"[a-z][a-z0-9_]*")

Step = Callable[["Context"], Awaitable[None]]


@attrs.frozen
class Migration:
    """One file of the versions folder, loaded."""

    id: str
    name: str
    description: str
    path: Path
    checksum: str
    up: Step = attrs.field(repr=False)
    down: Step = attrs.field(repr=False)

    @property
    def label(self) -> str:
        return f"{self.id} {self.name}"


def versions_folder(default: Path, environ: Mapping[str, str] | None = None) -> Path:
    """``ROOMCAST_MIGRATIONS`` when set, else the application's ``default``."""
    environ = os.environ if environ is None else environ
    configured = environ.get("ROOMCAST_MIGRATIONS")
    return Path(configured) if configured else default


def load_versions(folder: Path) -> list[Migration]:
    """Every migration in ``folder``, in order; ``VersionsError`` says what is
    wrong with a file that cannot be used."""
    if not folder.is_dir():
        raise VersionsError(f"migrations folder {folder} does not exist")
    found: dict[str, Migration] = {}
    for path in sorted(folder.glob("*.py")):
        match = FILE_NAME.fullmatch(path.name)
        if match is None:
            if not path.name.startswith("_"):
                raise VersionsError(
                    f"{path}: a migration file is named NNNN_name.py "
                    "(four digits, then lower-case letters, digits and _)"
                )
            continue
        migration = _load(path, match["id"], match["name"])
        if migration.id in found:
            raise VersionsError(
                f"{path} and {found[migration.id].path} share the id {migration.id}"
            )
        found[migration.id] = migration
    return [found[i] for i in sorted(found, key=int)]


def next_id(migrations: Sequence[Migration]) -> str:
    """The id a new migration takes: one past the highest."""
    highest = max((int(m.id) for m in migrations), default=0)
    return f"{highest + 1:04d}"


def _load(path: Path, migration_id: str, name: str) -> Migration:
    content = path.read_bytes()
    module = _execute(path, f"roomcast_migration_{migration_id}_{name}")
    declared = getattr(module, "id", None)
    if declared != migration_id:
        raise VersionsError(
            f"{path}: declares id = {declared!r}, but its name says {migration_id!r}"
        )
    description = getattr(module, "description", "")
    if not isinstance(description, str):
        raise VersionsError(f"{path}: description must be a string")
    return Migration(
        id=migration_id,
        name=name,
        description=description,
        path=path,
        checksum=hashlib.sha256(content).hexdigest(),
        up=_step(module, "up", path),
        down=_step(module, "down", path),
    )


def _execute(path: Path, module_name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise VersionsError(f"{path}: cannot be loaded as Python")
    module = importlib.util.module_from_spec(spec)
    # Registered, so that classes a migration declares resolve their hints.
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[module_name]
        raise VersionsError(f"{path}: {type(exc).__name__}: {exc}") from exc
    return module


def _step(module: ModuleType, name: str, path: Path) -> Step:
    step: Any = getattr(module, name, None)
    if not inspect.iscoroutinefunction(step):
        raise VersionsError(f"{path}: needs `async def {name}(ctx)`")
    checked: Step = step
    return checked
