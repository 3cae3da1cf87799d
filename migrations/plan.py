"""Planning: what separates the declared entities from the live schema.

``compare`` is pure: it takes the declared tables and the live ones and
returns a ``Plan`` of changes a migration can make in place, plus the
differences that no backend can take in place, each with the reason and the
usual way out. Every change also writes itself as migration code, which is
how ``roomcast migrate new`` prefills a file.
"""

from __future__ import annotations

import abc
import json
from collections.abc import Callable, Mapping, Sequence

import attrs

import orm

from .schema import Key, LiveTable, TableSpec, column_type

__all__ = [
    "AddColumn",
    "Blocker",
    "Change",
    "CreateIndex",
    "CreateTable",
    "DropColumn",
    "DropIndex",
    "Plan",
    "compare",
]

KEY_WAY_OUT = (
    "create a table with the new key under a new name, copy the rows over in "
    "a data migration (ctx.pages), point the entity at the new table, then "
    "drop the old one"
)
KEY_REASON = "the primary key decides where each row is stored"
TYPE_WAY_OUT = (
    "add a column of the new type, copy the values over in a data migration "
    "(ctx.pages), then drop the old column"
)


class Change(abc.ABC):
    """One schema change a migration can make in place."""

    #: Changes run in this order: tables first, columns dropped last.
    rank: int = 0

    @abc.abstractmethod
    def describe(self) -> str:
        """One line for ``plan``."""

    @abc.abstractmethod
    def forward(self) -> str:
        """The statement of ``up`` that makes the change."""

    @abc.abstractmethod
    def backward(self) -> str:
        """The statement of ``down`` that undoes it."""


@attrs.frozen
class CreateTable(Change):
    """A declared table the database lacks."""

    spec: TableSpec
    rank = 0

    def describe(self) -> str:
        return f"create table {self.spec.name} (key {render_key(self.spec.key)})"

    def forward(self) -> str:
        spec = self.spec
        columns = "".join(
            f"        {_q(name)}: {_q(column_type(c))},\n"
            for name, c in spec.columns.items()
        )
        clustering = "".join(f"{_q(n)}: {_q(way)}, " for n, way in spec.clustering)
        return (
            "await ctx.create_table(\n"
            f"    {_q(spec.name)},\n"
            f"    columns={{\n{columns}    }},\n"
            f"    partition_key={_list(spec.partition_key)},\n"
            f"    clustering={{{clustering.removesuffix(', ')}}},\n"
            f"    indexes={_list(spec.indexes)},\n"
            ")"
        )

    def backward(self) -> str:
        return f"await ctx.drop_table({_q(self.spec.name)})"


@attrs.frozen
class AddColumn(Change):
    """A declared column the table lacks; rows already stored read ``None``."""

    table: str
    column: orm.Column
    rank = 1

    def describe(self) -> str:
        text = (
            f"add column {self.table}.{self.column.name} ({column_type(self.column)})"
        )
        if not self.column.optional:
            text += "; rows already stored read None until a data migration fills it"
        return text

    def forward(self) -> str:
        column = self.column
        return (
            f"await ctx.add_column({_q(self.table)}, {_q(column.name)}, "
            f"{_q(column_type(column))})"
        )

    def backward(self) -> str:
        return f"await ctx.drop_column({_q(self.table)}, {_q(self.column.name)})"


@attrs.frozen
class DropIndex(Change):
    """An index the entity no longer declares."""

    table: str
    column: str
    rank = 2

    def describe(self) -> str:
        return f"drop index {self.table}.{self.column}"

    def forward(self) -> str:
        return f"await ctx.drop_index({_q(self.table)}, {_q(self.column)})"

    def backward(self) -> str:
        return f"await ctx.create_index({_q(self.table)}, {_q(self.column)})"


@attrs.frozen
class CreateIndex(Change):
    """A declared index the table lacks."""

    table: str
    column: str
    rank = 3

    def describe(self) -> str:
        return f"create index {self.table}.{self.column}"

    def forward(self) -> str:
        return f"await ctx.create_index({_q(self.table)}, {_q(self.column)})"

    def backward(self) -> str:
        return f"await ctx.drop_index({_q(self.table)}, {_q(self.column)})"


@attrs.frozen
class DropColumn(Change):
    """A stored column the entity no longer declares; its values are lost."""

    table: str
    column: str
    rank = 4

    def describe(self) -> str:
        return f"drop column {self.table}.{self.column} (its values are lost)"

    def forward(self) -> str:
        return f"await ctx.drop_column({_q(self.table)}, {_q(self.column)})"

    def backward(self) -> str:
        return (
            f"# {self.table}.{self.column} was dropped with its values: add it "
            "back with ctx.add_column if need be"
        )


@attrs.frozen
class Blocker:
    """A difference no migration can make in place."""

    table: str
    problem: str
    reason: str
    way_out: str

    def describe(self) -> str:
        return (
            f"cannot be done in place: {self.table}: {self.problem}\n"
            f"  why: {self.reason}\n"
            f"  way out: {self.way_out}"
        )


@attrs.frozen
class Plan:
    """What ``compare`` found: changes to make, and those it cannot make."""

    changes: tuple[Change, ...] = ()
    blockers: tuple[Blocker, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.changes and not self.blockers

    def lines(self) -> list[str]:
        """The plan as ``roomcast migrate plan`` prints it."""
        if self.empty:
            return ["nothing to change"]
        return [c.describe() for c in self.changes] + [
            b.describe() for b in self.blockers
        ]


def _q(text: str) -> str:
    # A Python string literal in ruff's (and black's) double quotes.
    return json.dumps(text)


def _list(names: Sequence[str]) -> str:
    return "[" + ", ".join(map(_q, names)) + "]"


def render_key(key: Key) -> str:
    return ", ".join(f"{n} desc" if way == "desc" else n for n, way in key)


def compare(
    declared: Sequence[orm.EntityMeta],
    live: Mapping[str, LiveTable],
    *,
    storage_type: Callable[[orm.ColumnKind], str | None],
    type_change_reason: str,
) -> Plan:
    """The plan that takes the ``live`` tables to the ``declared`` ones.

    ``storage_type`` gives the type name the backend stores a kind under, to
    compare with the live one (``None`` where it keeps no type).
    """
    changes: list[Change] = []
    blockers: list[Blocker] = []
    for meta in declared:
        spec = TableSpec.of(meta)
        table = live.get(spec.name)
        if table is None:
            changes.append(CreateTable(spec))
            continue
        blockers += _key_blockers(spec, table)
        changes += _column_changes(spec, table)
        blockers += _type_blockers(spec, table, storage_type, type_change_reason)
        changes += _index_changes(spec, table)
    changes.sort(key=lambda c: c.rank)
    return Plan(tuple(changes), tuple(blockers))


def _key_blockers(spec: TableSpec, table: LiveTable) -> list[Blocker]:
    same_partition = table.partition_key in (None, spec.partition_key)
    if table.key == spec.key and same_partition:
        return []
    was, now = render_key(table.key), render_key(spec.key)
    if table.key == spec.key:
        assert table.partition_key is not None
        was = f"partition ({', '.join(table.partition_key)}) of {was}"
        now = f"partition ({', '.join(spec.partition_key)}) of {now}"
    return [
        Blocker(
            spec.name, f"primary key ({was}) becomes ({now})", KEY_REASON, KEY_WAY_OUT
        )
    ]


def _column_changes(spec: TableSpec, table: LiveTable) -> list[Change]:
    key = {name for name, _ in spec.key} | {name for name, _ in table.key}
    added: list[Change] = [
        AddColumn(spec.name, column)
        for name, column in spec.columns.items()
        if name not in table.columns and name not in key
    ]
    dropped: list[Change] = [
        DropColumn(spec.name, name)
        for name in table.columns
        if name not in spec.columns and name not in key
    ]
    return added + dropped


def _type_blockers(
    spec: TableSpec,
    table: LiveTable,
    storage_type: Callable[[orm.ColumnKind], str | None],
    reason: str,
) -> list[Blocker]:
    blockers = []
    for name, column in spec.columns.items():
        stored = table.columns.get(name)
        wanted = storage_type(column.kind)
        if stored is None or wanted is None or stored.lower() == wanted.lower():
            continue
        blockers.append(
            Blocker(
                spec.name,
                f"column {name} is stored as {stored}, declared {column.kind.value} "
                f"(stored as {wanted})",
                reason,
                TYPE_WAY_OUT,
            )
        )
    return blockers


def _index_changes(spec: TableSpec, table: LiveTable) -> list[Change]:
    created: list[Change] = [
        CreateIndex(spec.name, name)
        for name in spec.indexes
        if name not in table.indexes
    ]
    dropped: list[Change] = [
        DropIndex(spec.name, name)
        for name in sorted(table.indexes)
        if name not in spec.indexes
    ]
    return created + dropped
