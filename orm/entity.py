"""Entity declarations: an attrs class plus the table and key it lives under."""

from __future__ import annotations

import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Literal, TypeVar

import attrs

from .exceptions import DeclarationError, ValidationError
from .types import ColumnKind, resolve_kind

__all__ = ["Column", "EntityMeta", "entity", "entity_meta"]

T = TypeVar("T")
Order = Literal["asc", "desc"]

_REGISTRY: dict[type, EntityMeta] = {}


@attrs.frozen
class Column:
    """One field of an entity: its name, kind, and whether it may be None."""

    name: str
    kind: ColumnKind
    optional: bool


@attrs.frozen
class EntityMeta:
    """What the ORM knows about one entity class."""

    cls: type
    table: str
    columns: Mapping[str, Column]
    partition_key: tuple[str, ...]
    clustering: tuple[tuple[str, Order], ...]
    indexes: tuple[str, ...]

    @property
    def clustering_columns(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.clustering)

    @property
    def primary_key(self) -> tuple[str, ...]:
        return self.partition_key + self.clustering_columns

    def to_row(self, obj: Any) -> dict[str, Any]:
        """The entity's values, checked and in their stored form."""
        row: dict[str, Any] = {}
        for name, column in self.columns.items():
            value = getattr(obj, name)
            if value is None:
                if not column.optional:
                    raise ValidationError(f"{name}: a value is required")
                row[name] = None
            else:
                row[name] = column.kind.check(name, value)
        return row

    def from_row(self, row: Mapping[str, Any]) -> Any:
        return self.cls(**row)

    def key_of(self, row: Mapping[str, Any]) -> tuple[Any, ...]:
        return tuple(row[name] for name in self.primary_key)


def entity(
    table: str,
    *,
    partition_key: Sequence[str],
    clustering: Iterable[tuple[str, str]] | Mapping[str, str] = (),
    indexes: Sequence[str] = (),
) -> Callable[[type[T]], type[T]]:
    """Declare an attrs class as an entity stored in ``table``.

    ``partition_key`` names the columns that pick a partition (every query
    must give them all, or an indexed column); ``clustering`` orders the rows
    inside a partition, each column ``"asc"`` or ``"desc"``; ``indexes`` are
    secondary indexes, each allowing equality lookups on one column.
    """
    if isinstance(clustering, Mapping):
        clustering = clustering.items()
    clustering = tuple(clustering)

    def declare(cls: type[T]) -> type[T]:
        if not _is_attrs_class(cls):
            raise DeclarationError(f"{cls.__name__} must be an attrs class")
        columns = _columns_of(cls)
        meta = EntityMeta(
            cls=cls,
            table=_identifier(table, "table"),
            columns=columns,
            partition_key=tuple(partition_key),
            clustering=tuple((name, _order(name, way)) for name, way in clustering),
            indexes=tuple(indexes),
        )
        _check_keys(meta)
        _REGISTRY[cls] = meta
        return cls

    return declare


def entity_meta(cls: type) -> EntityMeta:
    """The declaration of an entity class, or ``DeclarationError``."""
    try:
        return _REGISTRY[cls]
    except KeyError:
        raise DeclarationError(
            f"{cls.__name__} is not an entity; decorate it with @orm.entity"
        ) from None


def _order(name: str, way: str) -> Order:
    if way == "asc":
        return "asc"
    if way == "desc":
        return "desc"
    raise DeclarationError(f"clustering column {name!r}: order must be asc or desc")


def _is_attrs_class(cls: type) -> bool:
    # A plain bool, unlike attrs.has, which would narrow the declared type.
    return attrs.has(cls)


def _columns_of(cls: type) -> dict[str, Column]:
    hints = typing.get_type_hints(cls)
    columns = {}
    for field in attrs.fields(cls):
        _identifier(field.name, "column")
        kind, optional = resolve_kind(hints[field.name])
        columns[field.name] = Column(field.name, kind, optional)
    return columns


def _check_keys(meta: EntityMeta) -> None:
    if not meta.partition_key:
        raise DeclarationError(f"{meta.table}: a partition key is required")

    seen: set[str] = set()
    for name in meta.primary_key:
        column = meta.columns.get(name)
        if column is None:
            raise DeclarationError(f"{meta.table}: key column {name!r} is not a field")
        if name in seen:
            raise DeclarationError(f"{meta.table}: {name!r} is in the key twice")
        if column.optional or not column.kind.orderable:
            raise DeclarationError(
                f"{meta.table}: key column {name!r} must be a required "
                "text, number, bool, UUID or datetime"
            )
        seen.add(name)

    for name in meta.indexes:
        column = meta.columns.get(name)
        if column is None or not column.kind.orderable:
            raise DeclarationError(
                f"{meta.table}: index on {name!r} needs a text, number, bool, "
                "UUID or datetime field"
            )
        if name in meta.primary_key:
            raise DeclarationError(
                f"{meta.table}: {name!r} is a key column and needs no index"
            )


def _identifier(name: str, what: str) -> str:
    # Names end up in SQL, CQL and Mongo field paths: keep them plain.
    if not (name.isascii() and name.isidentifier() and not name.startswith("_")):
        raise DeclarationError(f"{what} name {name!r} must be a plain identifier")
    return name
