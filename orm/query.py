"""Queries: what may be asked of a table, checked the same way on every backend.

The rules are Cassandra's, because it is the strictest backend: a query names
its whole partition key by equality (then may narrow the clustering columns,
equality first and one range last), or it looks up one indexed column by
equality. Anything else would be a full scan on Cassandra, so it is refused
everywhere, with a message that says what to declare instead.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Mapping
from typing import Any, Literal

import attrs

from .entity import EntityMeta, Order
from .exceptions import QueryError, ValidationError

__all__ = ["MAX_LIMIT", "Query", "Range", "ge", "gt", "le", "lt", "plan"]

MAX_LIMIT = 10_000

_UNSET: Any = object()


@attrs.frozen
class Range:
    """Bounds on one clustering column; build with ``gt``, ``ge``, ``lt``, ``le``
    and combine two with ``&``: ``orm.gt(a) & orm.lt(b)``."""

    lower: Any = _UNSET
    lower_inclusive: bool = False
    upper: Any = _UNSET
    upper_inclusive: bool = False

    @property
    def has_lower(self) -> bool:
        return self.lower is not _UNSET

    @property
    def has_upper(self) -> bool:
        return self.upper is not _UNSET

    def __and__(self, other: Range) -> Range:
        if (self.has_lower and other.has_lower) or (self.has_upper and other.has_upper):
            raise QueryError("a range takes at most one lower and one upper bound")
        lower = self if self.has_lower else other
        upper = self if self.has_upper else other
        return Range(
            lower.lower, lower.lower_inclusive, upper.upper, upper.upper_inclusive
        )

    def bounds(self) -> list[tuple[str, Any]]:
        """The bounds as ``(operator, value)`` pairs, operators ``> >= < <=``."""
        out = []
        if self.has_lower:
            out.append((">=" if self.lower_inclusive else ">", self.lower))
        if self.has_upper:
            out.append(("<=" if self.upper_inclusive else "<", self.upper))
        return out

    def map(self, convert: Any) -> Range:
        return Range(
            convert(self.lower) if self.has_lower else _UNSET,
            self.lower_inclusive,
            convert(self.upper) if self.has_upper else _UNSET,
            self.upper_inclusive,
        )


def gt(value: Any) -> Range:
    """A range on a clustering column: strictly greater than ``value``."""
    return Range(lower=value)


def ge(value: Any) -> Range:
    """A range on a clustering column: greater than or equal to ``value``."""
    return Range(lower=value, lower_inclusive=True)


def lt(value: Any) -> Range:
    """A range on a clustering column: strictly less than ``value``."""
    return Range(upper=value)


def le(value: Any) -> Range:
    """A range on a clustering column: less than or equal to ``value``."""
    return Range(upper=value, upper_inclusive=True)


@attrs.frozen
class Query:
    """A checked query; ``equals`` and ``range`` hold values in stored form."""

    meta: EntityMeta
    equals: Mapping[str, Any]
    range: tuple[str, Range] | None
    index: str | None
    order_by: tuple[tuple[str, Order], ...]
    limit: int

    @property
    def by_partition(self) -> bool:
        return all(name in self.equals for name in self.meta.partition_key)

    def fingerprint(self) -> str:
        """Identifies the question asked, so a page token fits only its query."""
        shape = {
            "t": self.meta.table,
            "e": sorted((k, repr(v)) for k, v in self.equals.items()),
            "r": self.range and (self.range[0], repr(self.range[1].bounds())),
            "o": self.order_by,
        }
        text = json.dumps(shape, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def keyset_after(self) -> list[list[tuple[str, str]]]:
        """How to resume after a row: a disjunction of conjunctions.

        For order ``(a asc, b desc)`` the rows after ``(x, y)`` are those with
        ``a > x`` or ``a = x and b < y``. Each inner list pairs a column with
        ``=``, ``>`` or ``<``; the value to compare is the row's own.

        Columns the query fixes by equality have one value in every row: they
        are left out, so that the clauses stay a range scan of one index.
        """
        moving = [(n, way) for n, way in self.order_by if n not in self.equals]
        clauses = []
        for i, (name, direction) in enumerate(moving):
            clause = [(prev, "=") for prev, _ in moving[:i]]
            clause.append((name, ">" if direction == "asc" else "<"))
            clauses.append(clause)
        return clauses


def plan(
    meta: EntityMeta,
    filters: Mapping[str, Any],
    *,
    limit: int = 100,
    order: Literal["asc", "desc"] | None = None,
) -> Query:
    """Check a query against the table's keys and indexes; see the module doc."""
    _check_limit(limit)
    equals, ranges = _split_filters(meta, filters)
    index = _check_shape(meta, equals, ranges)
    order_by = _order_for(meta, index, order)
    range_ = next(iter(ranges.items()), None)
    return Query(meta, equals, range_, index, order_by, limit)


def _check_limit(limit: Any) -> None:
    if isinstance(limit, bool) or not isinstance(limit, int):
        raise QueryError(f"limit must be an int, got {type(limit).__name__}")
    if not 1 <= limit <= MAX_LIMIT:
        raise QueryError(f"limit must be between 1 and {MAX_LIMIT}, got {limit}")


def _split_filters(
    meta: EntityMeta, filters: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, Range]]:
    equals: dict[str, Any] = {}
    ranges: dict[str, Range] = {}
    for name, value in filters.items():
        column = meta.columns.get(name) if isinstance(name, str) else None
        if column is None:
            raise QueryError(f"{meta.table} has no column {name!r}")
        if not column.kind.orderable:
            raise QueryError(
                f"{meta.table}.{name} holds JSON and cannot be filtered on; "
                "filter in your code, or store the value in a column of its own"
            )
        check = column.kind.check
        try:
            if isinstance(value, Range):
                ranges[name] = value.map(functools.partial(check, name))
            elif value is None:
                raise QueryError(
                    f"{meta.table}.{name}: cannot filter on a missing value"
                )
            else:
                equals[name] = check(name, value)
        except ValidationError as exc:
            raise QueryError(
                f"{meta.table}.{name}: {exc}; a filter value is compared for "
                "equality, ranges are given with orm.gt/ge/lt/le"
            ) from None
    return equals, ranges


def _check_shape(
    meta: EntityMeta, equals: Mapping[str, Any], ranges: Mapping[str, Range]
) -> str | None:
    """Refuse what Cassandra could not serve; return the index used, if any."""
    keyed = set(meta.primary_key)
    for name in [*equals, *ranges]:
        if name not in keyed and name not in meta.indexes:
            raise QueryError(
                f"{meta.table}.{name} is neither a key nor an indexed column: "
                f"add it to indexes=[...] in @entity({meta.table!r}, ...), "
                "or filter the results in your code"
            )
    for name in ranges:
        if name not in meta.clustering_columns:
            raise QueryError(
                f"{meta.table}.{name}: ranges are allowed only on clustering "
                f"columns {list(meta.clustering_columns)}; compare {name} by "
                "equality or make it a clustering column"
            )

    indexed = [name for name in equals if name in meta.indexes]
    if len(indexed) > 1:
        raise QueryError(
            f"{meta.table}: one indexed column per query, got {indexed}; "
            "filter the others in your code"
        )
    missing = [name for name in meta.partition_key if name not in equals]
    if not missing:
        _check_clustering(meta, equals, ranges)
        return indexed[0] if indexed else None

    if indexed and len(equals) == 1 and not ranges:
        return indexed[0]
    given = [name for name in meta.partition_key if name in equals]
    if given:
        raise QueryError(
            f"{meta.table}: the partition key {list(meta.partition_key)} must be "
            f"given whole; missing {missing}"
        )
    raise QueryError(
        f"{meta.table}: no partition key; give {list(meta.partition_key)} by "
        f"equality, or look up one indexed column (indexes: {list(meta.indexes)})"
    )


def _check_clustering(
    meta: EntityMeta, equals: Mapping[str, Any], ranges: Mapping[str, Range]
) -> None:
    # Clustering columns narrow left to right: equalities, then one range.
    open_from = None
    for name in meta.clustering_columns:
        restricted = name in equals or name in ranges
        if open_from is not None and restricted:
            raise QueryError(
                f"{meta.table}.{name} is filtered but {open_from!r} before it "
                f"is not compared by equality; clustering columns "
                f"{list(meta.clustering_columns)} narrow in order"
            )
        if name not in equals:
            open_from = name


def _order_for(
    meta: EntityMeta, index: str | None, order: Literal["asc", "desc"] | None
) -> tuple[tuple[str, Order], ...]:
    if order not in (None, "asc", "desc"):
        raise QueryError(f"order must be 'asc' or 'desc', got {order!r}")
    if index is not None and order is not None:
        raise QueryError(
            f"{meta.table}: lookups by the index on {index!r} come in key "
            "order; order applies to queries by partition key"
        )
    if order is not None and not meta.clustering:
        raise QueryError(f"{meta.table} has no clustering column to order by")

    clustering = meta.clustering
    if order is not None and clustering[0][1] != order:
        clustering = tuple(
            (name, "desc" if way == "asc" else "asc") for name, way in clustering
        )
    partition: tuple[tuple[str, Order], ...] = tuple(
        (name, "asc") for name in meta.partition_key
    )
    return partition + clustering
