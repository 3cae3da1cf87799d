"""Table shapes: as a migration declares them, and as a live database has them.

A migration freezes the shape of what it creates in its own text, so that
changing an entity later never changes what an old migration does::

    await ctx.create_table(
        "channels",
        columns={"workspace_id": "text", "id": "timeuuid", "topic": "text?"},
        partition_key=["workspace_id"],
        clustering={"id": "asc"},
    )

A column type is the name of an ``orm.ColumnKind`` (``text``, ``int``,
``float``, ``bool``, ``uuid``, ``timeuuid``, ``datetime``, ``json``), with
``?`` when the column may hold ``None``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import attrs

import orm
from orm.entity import Order

from .exceptions import SchemaError

__all__ = [
    "Key",
    "LiveTable",
    "TableSpec",
    "column_type",
    "identifier",
    "parse_column_type",
]

#: A primary key: its columns in order, each with the order rows sort by.
Key = tuple[tuple[str, Order], ...]

_ANNOTATIONS: dict[orm.ColumnKind, Any] = {
    orm.ColumnKind.TEXT: str,
    orm.ColumnKind.INT: int,
    orm.ColumnKind.FLOAT: float,
    orm.ColumnKind.BOOL: bool,
    orm.ColumnKind.UUID: uuid.UUID,
    orm.ColumnKind.TIMEUUID: orm.TimeUUID,
    orm.ColumnKind.DATETIME: datetime,
    orm.ColumnKind.JSON: dict,
}


def column_type(column: orm.Column) -> str:
    """The text a migration writes for ``column``'s type: ``"text?"`` etc."""
    return column.kind.value + ("?" if column.optional else "")


def parse_column_type(name: str, text: str) -> orm.Column:
    """The column ``name`` of type ``text`` (``"int"``, ``"datetime?"``...)."""
    optional = text.endswith("?")
    try:
        kind = orm.ColumnKind(text.removesuffix("?"))
    except ValueError:
        kinds = ", ".join(k.value for k in orm.ColumnKind)
        raise SchemaError(
            f"column {name!r}: unknown type {text!r}; use one of {kinds}, "
            "with ? for an optional column"
        ) from None
    return orm.Column(name, kind, optional)


def identifier(name: str, what: str) -> str:
    """``name``, checked to be a plain identifier fit for SQL, CQL and Mongo."""
    if not (name.isascii() and name.isidentifier() and not name.startswith("_")):
        raise SchemaError(f"{what} name {name!r} must be a plain identifier")
    return name


@attrs.frozen
class TableSpec:
    """The shape of one table: what ``ctx.create_table`` creates."""

    name: str
    columns: Mapping[str, orm.Column]
    partition_key: tuple[str, ...]
    clustering: tuple[tuple[str, Order], ...] = ()
    indexes: tuple[str, ...] = ()

    @classmethod
    def declare(
        cls,
        name: str,
        *,
        columns: Mapping[str, str],
        partition_key: Sequence[str],
        clustering: Mapping[str, str] | Iterable[tuple[str, str]] = (),
        indexes: Sequence[str] = (),
    ) -> TableSpec:
        """A spec from a migration's text, checked as ``@orm.entity`` checks."""
        parsed = {
            n: parse_column_type(identifier(n, "column"), t) for n, t in columns.items()
        }
        pairs = clustering.items() if isinstance(clustering, Mapping) else clustering
        try:
            meta = _declare(
                identifier(name, "table"), parsed, partition_key, tuple(pairs), indexes
            )
        except orm.DeclarationError as exc:
            raise SchemaError(str(exc)) from exc
        return cls.of(meta)

    @classmethod
    def of(cls, meta: orm.EntityMeta) -> TableSpec:
        """The spec of a declared entity."""
        return cls(
            meta.table,
            dict(meta.columns),
            meta.partition_key,
            meta.clustering,
            meta.indexes,
        )

    @property
    def key(self) -> Key:
        return tuple((n, "asc") for n in self.partition_key) + self.clustering

    def to_meta(self) -> orm.EntityMeta:
        """An ``orm.EntityMeta`` of this shape, for the connectors' own DDL."""
        return _declare(
            self.name,
            self.columns,
            self.partition_key,
            self.clustering,
            self.indexes,
        )


def _declare(
    table: str,
    columns: Mapping[str, orm.Column],
    partition_key: Sequence[str],
    clustering: Sequence[tuple[str, str]],
    indexes: Sequence[str],
) -> orm.EntityMeta:
    # A throwaway attrs class through @orm.entity: the ORM's own checks and
    # its own idea of each column, with nothing of this module's invention.
    annotations = {
        name: _ANNOTATIONS[c.kind] | None if c.optional else _ANNOTATIONS[c.kind]
        for name, c in columns.items()
    }
    shape = attrs.define(type(f"{table}_shape", (), {"__annotations__": annotations}))
    declared: type = orm.entity(
        table,
        partition_key=partition_key,
        clustering=clustering,
        indexes=indexes,
    )(shape)
    return orm.entity_meta(declared)


@attrs.frozen
class LiveTable:
    """One table as the database has it.

    ``columns`` maps each column to its storage type as the backend names it
    (``None`` where the backend keeps none). ``partition_key`` is ``None``
    where the backend does not tell partition from clustering columns.
    """

    name: str
    columns: Mapping[str, str | None]
    key: Key
    partition_key: tuple[str, ...] | None
    indexes: frozenset[str]
