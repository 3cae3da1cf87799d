"""Planning and writing migrations: pure logic, no database."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import attrs
import pytest

import migrations
import orm
from migrations.plan import AddColumn, CreateIndex, CreateTable, DropColumn, compare
from migrations.schema import LiveTable, TableSpec
from migrations.versions import load_versions
from migrations.writer import render, slug, write


@orm.entity(
    "notes",
    partition_key=["owner"],
    clustering={"id": "desc"},
    indexes=["tag"],
)
@attrs.define
class Note:
    owner: str
    id: orm.TimeUUID
    tag: str
    body: str
    extra: dict[str, Any] | None = None


NOTE = orm.entity_meta(Note)

SQL_TYPES = {
    orm.ColumnKind.TEXT: "TEXT",
    orm.ColumnKind.TIMEUUID: "TEXT",
    orm.ColumnKind.JSON: "TEXT",
    orm.ColumnKind.INT: "INTEGER",
}


def live(**changes: Any) -> LiveTable:
    """The live table that matches ``Note``, with ``changes``."""
    fields: dict[str, Any] = {
        "name": "notes",
        "columns": {"owner": "TEXT", "id": "TEXT", "tag": "TEXT", "body": "TEXT"}
        | {"extra": "TEXT"},
        "key": (("owner", "asc"), ("id", "desc")),
        "partition_key": None,
        "indexes": frozenset({"tag"}),
    }
    return LiveTable(**(fields | changes))


def plan_for(*tables: LiveTable, reason: str = "types are fixed") -> migrations.Plan:
    return compare(
        [NOTE],
        {t.name: t for t in tables},
        storage_type=SQL_TYPES.get,
        type_change_reason=reason,
    )


def test_agreeing_schemas_need_nothing() -> None:
    plan = plan_for(live())

    assert plan.empty
    assert plan.lines() == ["nothing to change"]


def test_a_missing_table_is_created_with_its_shape() -> None:
    plan = plan_for()

    assert plan.changes == (CreateTable(TableSpec.of(NOTE)),)
    assert plan.lines() == ["create table notes (key owner, id desc)"]


def test_added_and_removed_columns() -> None:
    columns = {"owner": "TEXT", "id": "TEXT", "tag": "TEXT", "old": "TEXT"}

    plan = plan_for(live(columns=columns))

    assert plan.changes == (
        AddColumn("notes", NOTE.columns["body"]),
        AddColumn("notes", NOTE.columns["extra"]),
        DropColumn("notes", "old"),
    )
    assert plan.lines()[0] == (
        "add column notes.body (text); rows already stored read None until a "
        "data migration fills it"
    )
    assert plan.lines()[1] == "add column notes.extra (json?)"


def test_new_and_dropped_indexes() -> None:
    plan = plan_for(live(indexes=frozenset({"body"})))

    assert [c.describe() for c in plan.changes] == [
        "drop index notes.body",
        "create index notes.tag",
    ]


def test_a_changed_key_cannot_be_done_in_place() -> None:
    plan = plan_for(live(key=(("owner", "asc"), ("id", "asc"))))

    assert plan.changes == ()
    [blocker] = plan.blockers
    assert blocker.problem == "primary key (owner, id) becomes (owner, id desc)"
    assert "cannot be done in place: notes" in blocker.describe()
    assert "copy the rows over in a data migration" in blocker.way_out


def test_a_changed_partition_key_cannot_be_done_in_place() -> None:
    table = live(partition_key=("owner", "id"))

    [blocker] = plan_for(table).blockers

    assert blocker.problem == (
        "primary key (partition (owner, id) of owner, id desc) becomes "
        "(partition (owner) of owner, id desc)"
    )


def test_a_changed_type_cannot_be_done_in_place() -> None:
    columns = dict(live().columns) | {"tag": "INTEGER"}

    [blocker] = plan_for(live(columns=columns), reason="Cassandra cannot").blockers

    assert (
        blocker.problem
        == "column tag is stored as INTEGER, declared text (stored as TEXT)"
    )
    assert blocker.reason == "Cassandra cannot"
    assert "add a column of the new type" in blocker.way_out


def test_types_unknown_to_the_backend_are_not_compared() -> None:
    columns = dict.fromkeys(live().columns)

    assert plan_for(live(columns=columns)).empty


def test_create_table_spec_round_trips_through_the_orm() -> None:
    spec = TableSpec.declare(
        "notes",
        columns={
            "owner": "text",
            "id": "timeuuid",
            "tag": "text",
            "body": "text",
            "extra": "json?",
        },
        partition_key=["owner"],
        clustering={"id": "desc"},
        indexes=["tag"],
    )

    assert spec == TableSpec.of(NOTE)
    assert spec.to_meta().columns == NOTE.columns


@pytest.mark.parametrize(
    ("columns", "message"),
    [
        ({"owner": "text", "tag": "text"}, "key column 'id' is not a field"),
        ({"owner": "text", "id": "timeuuid", "tag": "texte"}, "unknown type 'texte'"),
        ({"owner": "text?", "id": "timeuuid", "tag": "text"}, "must be a required"),
        ({"owner": "text", "id": "json", "tag": "text"}, "must be a required"),
    ],
)
def test_a_table_spec_is_checked(columns: dict[str, str], message: str) -> None:
    with pytest.raises(migrations.SchemaError, match=message):
        TableSpec.declare(
            "notes",
            columns=columns,
            partition_key=["owner"],
            clustering={"id": "desc"},
        )


@pytest.mark.parametrize(
    ("name", "expected"),
    [("add_topic", "add_topic"), ("Add topic to Channels", "add_topic_to_channels")],
)
def test_names_become_file_names(name: str, expected: str) -> None:
    assert slug(name) == expected


@pytest.mark.parametrize("name", ["", "2fast", "___"])
def test_unusable_names_are_refused(name: str) -> None:
    with pytest.raises(migrations.VersionsError):
        slug(name)


class Recorder:
    """Stands in for ``ctx``: records the calls a migration makes."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []

    def __getattr__(self, name: str) -> Any:
        async def call(*args: Any, **kwargs: Any) -> None:
            self.calls.append((name, args, kwargs))

        return call


def test_written_migration_makes_the_planned_changes(tmp_path: Path) -> None:
    columns = {"owner": "TEXT", "id": "TEXT", "tag": "TEXT", "old": "TEXT"}
    plan = plan_for(live(columns=columns, indexes=frozenset()), live(name="other"))

    path = write(tmp_path, "Tidy notes", plan, [])
    [migration] = load_versions(tmp_path)
    up, down = Recorder(), Recorder()
    asyncio.run(migration.up(up))  # type: ignore[arg-type]
    asyncio.run(migration.down(down))  # type: ignore[arg-type]

    assert path.name == "0001_tidy_notes.py"
    assert (migration.id, migration.description) == ("0001", "tidy notes")
    assert up.calls == [
        ("add_column", ("notes", "body", "text"), {}),
        ("add_column", ("notes", "extra", "json?"), {}),
        ("create_index", ("notes", "tag"), {}),
        ("drop_column", ("notes", "old"), {}),
    ]
    assert down.calls == [
        ("drop_index", ("notes", "tag"), {}),
        ("drop_column", ("notes", "extra"), {}),
        ("drop_column", ("notes", "body"), {}),
    ]


def test_written_create_table_declares_the_same_table(tmp_path: Path) -> None:
    write(tmp_path, "notes", plan_for(), [])
    [migration] = load_versions(tmp_path)
    ctx = Recorder()
    asyncio.run(migration.up(ctx))  # type: ignore[arg-type]

    [(name, args, kwargs)] = ctx.calls
    assert name == "create_table"
    assert TableSpec.declare(*args, **kwargs) == TableSpec.of(NOTE)


def test_blockers_are_written_as_comments(tmp_path: Path) -> None:
    plan = plan_for(live(key=(("owner", "asc"), ("id", "asc"))))

    text = render("0007", "rekey", plan)

    assert "    # cannot be done in place: notes: primary key (owner, id)" in text
    assert "    #   way out: create a table with the new key" in text
    assert "\n    pass\n" in text


def test_an_empty_plan_writes_an_empty_migration(tmp_path: Path) -> None:
    write(tmp_path, "backfill", migrations.Plan(), [])
    [migration] = load_versions(tmp_path)

    assert asyncio.run(migration.up(Recorder())) is None  # type: ignore[arg-type]


def test_kinds_match_the_annotations_an_entity_uses() -> None:
    @orm.entity("every_kind", partition_key=["a"])
    @attrs.define
    class EveryKind:
        a: str
        b: int
        c: float
        d: bool
        e: uuid.UUID
        f: orm.TimeUUID
        g: datetime
        h: list[str] | None

    spec = TableSpec.of(orm.entity_meta(EveryKind))

    assert spec.to_meta().columns == spec.columns
    assert [CreateIndex("t", "a").forward()] == ['await ctx.create_index("t", "a")']
