"""The migrator on every backend: status, plan, up, down, the ledger, the
lock, failures, and a data migration interrupted then resumed."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import attrs
import pytest

import migrations
import orm
from migrations.backend import Holder, LedgerEntry, backend_for
from migrations.lock import hold_lock
from server.chat import WORKSPACE, Channel
from tests.migrations.conftest import write_migration

TEXT, INT = orm.ColumnKind.TEXT, orm.ColumnKind.INT
AT = datetime(2026, 1, 2, 3, 4, 5, 6000, tzinfo=UTC)


@orm.entity("notes", partition_key=["owner"], clustering={"at": "desc"})
@attrs.define
class NoteBefore:
    owner: str
    at: datetime
    tag: str


@orm.entity(
    "notes", partition_key=["owner"], clustering={"at": "desc"}, indexes=["tag"]
)
@attrs.define
class Note:
    owner: str
    at: datetime
    tag: str
    body: str | None


ADD_INDEX = """
async def up(ctx):
    await ctx.create_index("messages", "author")


async def down(ctx):
    await ctx.drop_index("messages", "author")
"""


async def test_up_status_plan_down_and_up_again(migrator: migrations.Migrator) -> None:
    before = await migrator.status()
    applied = await migrator.up()
    after = await migrator.status()
    plan = await migrator.plan()
    again = await migrator.up()
    undone = await migrator.down()
    undone_status = await migrator.status()
    undone_plan = await migrator.plan()
    reapplied = await migrator.up()

    assert [(s.id, s.name, s.applied) for s in before] == [("0001", "initial", False)]
    assert [m.id for m in applied] == ["0001"]
    assert [(s.id, s.applied, s.changed) for s in after] == [("0001", True, False)]
    assert "applied" in after[0].line()
    assert plan.lines() == ["nothing to change"]
    assert again == []
    assert [m.id for m in undone] == ["0001"]
    assert [s.applied for s in undone_status] == [False]
    assert undone_plan.lines() == [
        "create table channels (key workspace_id, id)",
        "create table messages (key channel_id, id desc)",
    ]
    assert [m.id for m in reapplied] == ["0001"]


async def test_up_and_down_to_a_target(
    migrator: migrations.Migrator, versions: Path
) -> None:
    write_migration(versions, "0002_index_authors.py", ADD_INDEX)
    write_migration(
        versions,
        "0003_nothing.py",
        "async def up(ctx): pass\n\n\nasync def down(ctx): pass\n",
    )

    first = await migrator.up("2")
    indexed = (await backend_for(migrator.db).tables())["messages"].indexes
    rest = await migrator.up()
    back = await migrator.down("0001_initial")
    unindexed = (await backend_for(migrator.db).tables())["messages"].indexes
    everything = await migrator.down("0")

    assert [m.id for m in first] == ["0001", "0002"]
    assert indexed == {"author"}
    assert [m.id for m in rest] == ["0003"]
    assert [m.id for m in back] == ["0003", "0002"]
    assert unindexed == frozenset()
    assert [m.id for m in everything] == ["0001"]
    assert await backend_for(migrator.db).tables() == {}
    with pytest.raises(migrations.VersionsError, match="no migration '0009'"):
        await migrator.up("0009")


async def test_down_with_nothing_applied_does_nothing(
    migrator: migrations.Migrator,
) -> None:
    assert await migrator.down() == []


async def test_a_changed_applied_file_is_reported_not_run_again(
    migrator: migrations.Migrator, versions: Path, caplog: pytest.LogCaptureFixture
) -> None:
    await migrator.up()
    initial = versions / "0001_initial.py"
    initial.write_text(initial.read_text() + "\n# edited after it was applied\n")

    [state] = await migrator.status()
    applied = await migrator.up()

    assert (state.applied, state.changed) == (True, True)
    assert "file changed since it was applied" in state.line()
    assert applied == []
    assert "0001 initial changed after it was applied" in caplog.text


async def test_a_failing_migration_records_nothing(
    migrator: migrations.Migrator, versions: Path
) -> None:
    broken = write_migration(
        versions,
        "0002_extras.py",
        """
async def up(ctx):
    await ctx.create_table(
        "extras", columns={"id": "uuid", "note": "text"}, partition_key=["id"]
    )
    await ctx.add_column("channels", "topic", "text?")
    if os.environ.get("BREAK_EXTRAS"):
        raise RuntimeError("the disk is full")


async def down(ctx):
    await ctx.drop_column("channels", "topic")
    await ctx.drop_table("extras")
""",
    )
    backend = backend_for(migrator.db)
    await migrator.up("0001")

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("BREAK_EXTRAS", "1")
        with pytest.raises(migrations.MigrationFailed) as failed:
            await migrator.up()
    ledger = [e.id for e in await backend.ledger()]
    tables = await backend.tables()
    fixed = await migrator.up()

    assert str(failed.value) == (
        "migration 0002 failed (up): RuntimeError: the disk is full"
    )
    assert ledger == ["0001"]
    if migrator.db.backend == "sqlite":
        # One transaction: the table and the column went with the failure.
        assert "extras" not in tables
        assert "topic" not in tables["channels"].columns
    assert [m.id for m in fixed] == ["0002"]
    assert "topic" in (await backend.tables())["channels"].columns
    assert broken.exists()


async def test_schema_operations_repeat_safely_and_suit_the_orm(
    migrator: migrations.Migrator, versions: Path
) -> None:
    write_migration(
        versions,
        "0002_notes.py",
        """
from tests.migrations.test_runner import AT, Note, NoteBefore


async def up(ctx):
    for _ in range(2):
        await ctx.create_table(
            "notes",
            columns={"owner": "text", "at": "datetime", "tag": "text"},
            partition_key=["owner"],
            clustering={"at": "desc"},
        )
    await ctx.db.repository(NoteBefore).save(NoteBefore("ann", AT, "x"))
    for _ in range(2):
        await ctx.add_column("notes", "body", "text?")
        await ctx.create_index("notes", "tag")
        await ctx.add_column("notes", "gone", "int?")
        await ctx.drop_column("notes", "gone")
    await ctx.db.repository(Note).save(Note("bob", AT, "y", "hello"))


async def down(ctx):
    for _ in range(2):
        await ctx.drop_index("notes", "tag")
        await ctx.drop_table("notes")
""",
    )
    await migrator.up()
    notes = migrator.db.repository(Note)

    ann = await notes.find({"owner": "ann"})
    bob = await notes.find({"tag": "y"})
    plan = await migrations.Migrator(migrator.db, versions, entities=[Note]).plan()
    await migrator.down()

    assert ann.items == [Note("ann", AT, "x", None)]
    assert bob.items == [Note("bob", AT, "y", "hello")]
    assert plan.lines() == ["nothing to change"]
    assert "notes" not in await backend_for(migrator.db).tables()


async def test_a_data_migration_resumes_after_an_interruption(
    migrator: migrations.Migrator, versions: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write_migration(
        versions,
        "0002_visit_channels.py",
        """
from server.chat import Channel


async def up(ctx):
    channels = ctx.db.repository(Channel)
    fail_at = int(os.environ.get("FAIL_AT_PAGE", "0"))
    pages = ctx.pages(
        Channel, {"workspace_id": "default"}, step="visit", page_size=10, total=45
    )
    number = 0
    async for page in pages:
        number += 1
        for i, channel in enumerate(page):
            if number == fail_at and i == 5:
                raise KeyboardInterrupt
            channel.members = [*channel.members, "visited"]
            await channels.save(channel)


async def down(ctx):
    pass
""",
    )
    await migrator.up("0001")
    for number in range(45):
        await migrator.db.repository(Channel).save(channel(number))
    caplog.set_level(logging.INFO, "roomcast.migrations")

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FAIL_AT_PAGE", "4")
        with pytest.raises(KeyboardInterrupt):
            await migrator.up()
    interrupted = await visits(migrator.db)
    progress = await backend_for(migrator.db).read_progress("0002", "visit")
    resumed = await migrator.up()
    finished = await visits(migrator.db)

    assert interrupted == [1] * 35 + [0] * 10
    assert progress is not None
    assert (progress.done, progress.finished) == (30, False)
    assert [m.id for m in resumed] == ["0002"]
    assert "visit: resuming after 30 rows" in caplog.messages
    assert "visit: done, 45 rows" in caplog.messages
    # The page interrupted half way is handed over again, and only it.
    assert finished == [1] * 30 + [2] * 5 + [1] * 10
    assert await backend_for(migrator.db).read_progress("0002", "visit") is None


def channel(number: int) -> Channel:
    now = datetime.now(UTC)
    return Channel(
        WORKSPACE, orm.time_uuid(), f"c{number}", "public", "u", [], now, now
    )


async def visits(db: orm.Database) -> list[int]:
    counts: list[int] = []
    token = None
    while True:
        page = await db.repository(Channel).find(
            {"workspace_id": WORKSPACE}, limit=100, page_token=token
        )
        counts += [c.members.count("visited") for c in page.items]
        token = page.next_page_token
        if token is None:
            return counts


async def test_one_holder_at_a_time(database: orm.Database) -> None:
    backend = backend_for(database)
    await backend.prepare()
    soon = datetime.now(UTC) + timedelta(seconds=30)

    first = await backend.try_lock(Holder("first", soon))
    second = await backend.try_lock(Holder("second", soon))
    renewed = await backend.renew_lock(Holder("first", soon + timedelta(seconds=5)))
    stolen = await backend.renew_lock(Holder("second", soon))
    await backend.release_lock("second")
    still = await backend.try_lock(Holder("third", soon))
    await backend.release_lock("first")
    third = await backend.try_lock(Holder("third", soon))
    await backend.release_lock("third")

    assert first is None
    assert second is not None and second.owner == "first"
    assert (renewed, stolen) == (True, False)
    assert still is not None and still.owner == "first"
    assert third is None


async def test_an_expired_lock_is_taken_over(database: orm.Database) -> None:
    backend = backend_for(database)
    await backend.prepare()
    crashed = Holder("crashed", datetime.now(UTC) + timedelta(seconds=2))
    assert await backend.try_lock(crashed) is None
    loop = asyncio.get_running_loop()

    started = loop.time()
    async with hold_lock(backend, wait=10) as owner:
        waited = loop.time() - started
        holder = await backend.try_lock(Holder("other", crashed.expires_at))

    # Cassandra counts TTLs in whole seconds: at least one of the two.
    assert 0.9 < waited < 10
    assert holder is not None
    assert holder.owner == owner


async def test_a_waiter_gives_up_with_a_clear_message(
    database: orm.Database, caplog: pytest.LogCaptureFixture
) -> None:
    backend = backend_for(database)
    await backend.prepare()
    caplog.set_level(logging.INFO, "roomcast.migrations")

    async with hold_lock(backend) as owner:
        with pytest.raises(migrations.LockTimeout) as timeout:
            async with hold_lock(backend, wait=0.6):
                pass

    assert f"is being migrated by {owner}, who still held the lock after 1 s" in str(
        timeout.value
    )
    assert f"waiting for the migration lock on {backend.where}, held by {owner}" in (
        caplog.text
    )
    # Released on the way out: the next one gets it at once.
    async with hold_lock(backend, wait=0):
        pass


async def test_driver_errors_do_not_escape(migrator: migrations.Migrator) -> None:
    await migrator.up()
    backend = backend_for(migrator.db)
    entry = LedgerEntry("0001", "x", datetime.now(UTC))
    expected: type[Exception] = orm.DatabaseUnavailable

    with pytest.raises((orm.OrmError, migrations.MigrationError)) as raised:
        if migrator.db.backend == "cassandra":
            # Ledger rows are upserts there; Cassandra refuses instead to
            # bring a dropped column back with another type.
            expected = migrations.SchemaError
            await backend.add_column("channels", orm.Column("x", TEXT, True))
            await backend.drop_column("channels", "x")
            await backend.add_column("channels", orm.Column("x", INT, True))
        else:
            await backend.record(entry)

    assert type(raised.value) is expected
    assert raised.value.__cause__ is not None
