# Tests state the expected value first, as a literal where it is one.
from __future__ import annotations

import asyncio
import math
import sqlite3
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import attrs
import pytest

import orm
from orm import Change, LifecycleEvent, ge, gt, le, lt
from orm.paging import encode_token


@orm.entity(
    "notes", partition_key=["owner"], clustering={"seq": "asc"}, indexes=["tag"]
)
@attrs.define
class Note:
    owner: str
    seq: int
    text: str
    tag: str | None = None
    data: dict[str, Any] | None = None
    at: datetime | None = None


@orm.entity("posts", partition_key=["channel"], clustering={"id": "desc"})
@attrs.define
class Post:
    channel: uuid.UUID
    id: orm.TimeUUID
    text: str


@orm.entity("members", partition_key=["room", "user"])
@attrs.define
class Member:
    room: str
    user: str


@orm.entity("long_keys", partition_key=["p"], clustering={"k": "asc"})
@attrs.define
class LongKey:
    p: str
    k: str


ENTITIES = [Note, Post, Member, LongKey]


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[orm.Database]:
    database = orm.Database.from_url(f"sqlite:///{tmp_path}/x.db")
    await database.connect()
    await database.create_schema(ENTITIES)
    yield database
    await database.close()


@pytest.fixture
def events(db: orm.Database) -> list[LifecycleEvent]:
    seen: list[LifecycleEvent] = []
    db.add_listener(seen.append)
    return seen


@pytest.fixture
def notes(db: orm.Database) -> orm.Repository[Note]:
    return db.repository(Note)


async def _save_notes(
    notes: orm.Repository[Note], owner: str, count: int, **fields: Any
) -> list[Note]:
    return [await notes.save(Note(owner, i, f"n{i}", **fields)) for i in range(count)]


async def _all_pages(
    repository: orm.Repository[Any], filters: dict[str, Any], limit: int, **options: Any
) -> list[orm.Page[Any]]:
    pages = [await repository.find(filters, limit=limit, **options)]
    while pages[-1].next_page_token is not None:
        token = pages[-1].next_page_token
        pages.append(
            await repository.find(filters, limit=limit, page_token=token, **options)
        )
        assert len(pages) <= 1000, "pagination does not end"
    return pages


# -- save, find_one, find, remove ----------------------------------------------


async def test_a_saved_entity_is_found_by_its_key(notes: orm.Repository[Note]) -> None:
    note = Note("ann", 1, "hello", tag="red", data={"k": [1, 2]})

    saved = await notes.save(note)

    assert note == saved
    assert note == await notes.find_one({"owner": "ann", "seq": 1})


async def test_find_one_of_a_missing_key_is_none(notes: orm.Repository[Note]) -> None:
    await notes.save(Note("ann", 1, "hello"))

    assert await notes.find_one({"owner": "ann", "seq": 2}) is None
    assert await notes.find_one({"owner": "bob", "seq": 1}) is None


async def test_find_one_by_partition_gives_the_first_in_order(
    notes: orm.Repository[Note],
) -> None:
    for seq in (5, 2, 9):
        await notes.save(Note("ann", seq, f"n{seq}"))

    found = await notes.find_one({"owner": "ann"})

    assert found is not None
    assert 2 == found.seq


async def test_find_one_by_index(notes: orm.Repository[Note]) -> None:
    await notes.save(Note("ann", 1, "plain"))
    await notes.save(Note("bob", 7, "tagged", tag="blue"))

    assert Note("bob", 7, "tagged", tag="blue") == await notes.find_one({"tag": "blue"})


async def test_find_one_with_a_range_on_a_key_column(
    notes: orm.Repository[Note],
) -> None:
    await _save_notes(notes, "ann", 5)

    found = await notes.find_one({"owner": "ann", "seq": gt(2)})

    assert found is not None
    assert 3 == found.seq


async def test_find_one_refuses_what_find_refuses(notes: orm.Repository[Note]) -> None:
    with pytest.raises(orm.QueryError, match=r"notes\.text is neither a key"):
        await notes.find_one({"owner": "ann", "text": "x"})


async def test_save_returns_the_entity_as_stored(notes: orm.Repository[Note]) -> None:
    local = datetime(2024, 3, 1, 10, 0, 0, 456_789, tzinfo=timezone(timedelta(hours=3)))

    saved = await notes.save(Note("ann", 1, "t", data={"t": (1, 2)}, at=local))

    expected_at = datetime(2024, 3, 1, 7, 0, 0, 456_000, tzinfo=UTC)
    assert Note("ann", 1, "t", data={"t": [1, 2]}, at=expected_at) == saved
    assert saved == await notes.find_one({"owner": "ann", "seq": 1})


async def test_save_is_an_upsert(notes: orm.Repository[Note]) -> None:
    await notes.save(Note("ann", 1, "first", tag="a"))

    await notes.save(Note("ann", 1, "second", tag=None))

    page = await notes.find({"owner": "ann"})
    assert [Note("ann", 1, "second", tag=None)] == page.items


async def test_an_entity_made_only_of_key_columns_is_saved_once(
    db: orm.Database, events: list[LifecycleEvent]
) -> None:
    members = db.repository(Member)

    await members.save(Member("lobby", "ann"))
    await members.save(Member("lobby", "ann"))

    assert [Member("lobby", "ann")] == (
        await members.find({"room": "lobby", "user": "ann"})
    ).items
    assert ["created", "updated"] == [e.action for e in events]
    assert {} == events[1].changes


async def test_remove_deletes_and_returns_the_stored_entity(
    notes: orm.Repository[Note],
) -> None:
    await notes.save(Note("ann", 1, "stored text", tag="red"))

    removed = await notes.remove(Note("ann", 1, "other text"))

    assert Note("ann", 1, "stored text", tag="red") == removed
    assert await notes.find_one({"owner": "ann", "seq": 1}) is None


async def test_remove_of_a_missing_entity_is_not_found(
    notes: orm.Repository[Note], events: list[LifecycleEvent]
) -> None:
    await notes.save(Note("ann", 1, "x"))
    events.clear()

    with pytest.raises(orm.NotFound, match="notes: no row with key"):
        await notes.remove(Note("ann", 2, "x"))

    assert [] == events


async def test_not_found_is_a_lookup_error(notes: orm.Repository[Note]) -> None:
    with pytest.raises(LookupError):
        await notes.remove(Note("nobody", 1, "x"))


async def test_removing_twice_is_not_found_the_second_time(
    notes: orm.Repository[Note],
) -> None:
    await notes.save(Note("ann", 1, "x"))
    await notes.remove(Note("ann", 1, "x"))

    with pytest.raises(orm.NotFound):
        await notes.remove(Note("ann", 1, "x"))


async def test_repositories_are_kept_per_class(db: orm.Database) -> None:
    assert db.repository(Note) is db.repository(Note)
    assert db.repository(Note) is not db.repository(Post)


async def test_a_repository_of_an_undeclared_class_is_refused(db: orm.Database) -> None:
    with pytest.raises(orm.DeclarationError):
        db.repository(dict)


# -- lifecycle events ----------------------------------------------------------


async def test_a_new_key_announces_created(
    notes: orm.Repository[Note], events: list[LifecycleEvent]
) -> None:
    saved = await notes.save(Note("ann", 1, "hello"))

    assert [LifecycleEvent("created", saved, {})] == events
    assert Note is events[0].entity_type


async def test_an_update_announces_exactly_the_changed_fields(
    notes: orm.Repository[Note], events: list[LifecycleEvent]
) -> None:
    at = datetime(2024, 1, 1, tzinfo=UTC)
    await notes.save(Note("ann", 1, "hello", tag="red", data={"a": 1}, at=at))

    saved = await notes.save(Note("ann", 1, "bye", tag="red", data={"a": 2}, at=None))

    assert [
        LifecycleEvent(
            "updated",
            saved,
            {
                "text": Change("hello", "bye"),
                "data": Change({"a": 1}, {"a": 2}),
                "at": Change(at, None),
            },
        )
    ] == events[1:]


async def test_saving_the_same_values_announces_updated_without_changes(
    notes: orm.Repository[Note], events: list[LifecycleEvent]
) -> None:
    note = Note("ann", 1, "same", at=datetime(2024, 1, 1, tzinfo=UTC))
    await notes.save(note)

    await notes.save(note)

    assert [("created", {}), ("updated", {})] == [(e.action, e.changes) for e in events]


async def test_a_datetime_equal_after_normalisation_is_no_change(
    notes: orm.Repository[Note], events: list[LifecycleEvent]
) -> None:
    utc = datetime(2024, 1, 1, 12, tzinfo=UTC)
    await notes.save(Note("ann", 1, "x", at=utc))

    shifted = utc.astimezone(timezone(timedelta(hours=5))) + timedelta(microseconds=7)
    await notes.save(Note("ann", 1, "x", at=shifted))

    assert {} == events[-1].changes


async def test_a_removal_announces_deleted_with_the_stored_entity(
    notes: orm.Repository[Note], events: list[LifecycleEvent]
) -> None:
    saved = await notes.save(Note("ann", 1, "hello", tag="red"))

    await notes.remove(Note("ann", 1, "ignored"))

    assert LifecycleEvent("deleted", saved, {}) == events[-1]


async def test_a_write_refused_by_validation_announces_nothing(
    notes: orm.Repository[Note], events: list[LifecycleEvent]
) -> None:
    await notes.save(Note("ann", 1, "kept"))
    events.clear()

    with pytest.raises(orm.ValidationError):
        await notes.save(Note("ann", 1, 42))  # type: ignore[arg-type]

    assert [] == events
    assert Note("ann", 1, "kept") == await notes.find_one({"owner": "ann", "seq": 1})


async def test_a_write_the_database_fails_announces_nothing(
    tmp_path: Path,
) -> None:
    database = orm.Database.from_url(f"sqlite:///{tmp_path}/empty.db")
    await database.connect()
    seen: list[LifecycleEvent] = []
    database.add_listener(seen.append)

    with pytest.raises(orm.DatabaseUnavailable):
        await database.repository(Note).save(Note("ann", 1, "no table"))
    await database.close()

    assert [] == seen


async def test_every_listener_hears_every_write_in_order(
    db: orm.Database, notes: orm.Repository[Note]
) -> None:
    first: list[str] = []
    second: list[str] = []
    db.add_listener(lambda e: first.append(e.action))
    db.add_listener(lambda e: second.append(e.action))

    await notes.save(Note("ann", 1, "a"))
    await notes.save(Note("ann", 1, "b"))
    await notes.remove(Note("ann", 1, "b"))

    assert ["created", "updated", "deleted"] == first
    assert first == second


async def test_a_removed_listener_hears_nothing_more(
    db: orm.Database, notes: orm.Repository[Note]
) -> None:
    heard: list[str] = []
    remove = db.add_listener(lambda e: heard.append(e.action))
    await notes.save(Note("ann", 1, "a"))

    remove()
    await notes.save(Note("ann", 2, "b"))

    assert ["created"] == heard


@pytest.mark.expect_error_logs
async def test_a_failing_listener_neither_fails_the_write_nor_starves_others(
    db: orm.Database,
    notes: orm.Repository[Note],
    events: list[LifecycleEvent],
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(event: LifecycleEvent) -> None:
        raise RuntimeError("listener bug")

    db.add_listener(broken)
    db.add_listener(events.append)

    saved = await notes.save(Note("ann", 1, "a"))

    assert saved == await notes.find_one({"owner": "ann", "seq": 1})
    assert [("created", saved), ("created", saved)] == [
        (e.action, e.entity) for e in events
    ]
    assert ["lifecycle listener"] == [
        r.getMessage()[:18] for r in caplog.records if r.name == "roomcast.orm"
    ]


# -- pagination ----------------------------------------------------------------


@pytest.mark.parametrize("limit", [1, 4, 6, 12, 24, 5, 7, 25, 100])
async def test_pages_cover_every_row_once(
    notes: orm.Repository[Note], limit: int
) -> None:
    saved = await _save_notes(notes, "ann", 24)
    await _save_notes(notes, "bob", 3)

    pages = await _all_pages(notes, {"owner": "ann"}, limit)

    assert saved == [note for page in pages for note in page.items]
    assert math.ceil(24 / limit) == len(pages)
    assert all(len(page.items) == limit for page in pages[:-1])
    assert pages[-1].next_page_token is None
    assert all(page.next_page_token is not None for page in pages[:-1])


async def test_an_empty_partition_is_one_empty_last_page(
    notes: orm.Repository[Note],
) -> None:
    page = await notes.find({"owner": "nobody"})

    assert orm.Page([], None) == page


async def test_a_page_token_works_with_another_page_size(
    notes: orm.Repository[Note],
) -> None:
    saved = await _save_notes(notes, "ann", 10)
    first = await notes.find({"owner": "ann"}, limit=3)

    rest = await notes.find(
        {"owner": "ann"}, limit=100, page_token=first.next_page_token
    )

    assert saved == first.items + rest.items


async def test_rows_added_behind_the_cursor_do_not_repeat_rows(
    notes: orm.Repository[Note],
) -> None:
    await _save_notes(notes, "ann", 6)
    first = await notes.find({"owner": "ann"}, limit=3)

    await notes.save(Note("ann", -1, "before"))
    rest = await notes.find(
        {"owner": "ann"}, limit=10, page_token=first.next_page_token
    )

    assert [0, 1, 2] == [n.seq for n in first.items]
    assert [3, 4, 5] == [n.seq for n in rest.items]


async def test_descending_clustering_lists_newest_first(db: orm.Database) -> None:
    posts = db.repository(Post)
    channel = uuid.uuid4()
    saved = [
        await posts.save(Post(channel, orm.time_uuid(), f"p{i}")) for i in range(9)
    ]

    pages = await _all_pages(posts, {"channel": channel}, 4)

    assert saved[::-1] == [post for page in pages for post in page.items]


async def test_order_asc_reverses_a_descending_clustering(db: orm.Database) -> None:
    posts = db.repository(Post)
    channel = uuid.uuid4()
    saved = [
        await posts.save(Post(channel, orm.time_uuid(), f"p{i}")) for i in range(9)
    ]

    pages = await _all_pages(posts, {"channel": channel}, 2, order="asc")

    assert saved == [post for page in pages for post in page.items]


@pytest.mark.parametrize("limit", [1, 3, 5, 20])
async def test_order_desc_pages_an_ascending_clustering_backwards(
    notes: orm.Repository[Note], limit: int
) -> None:
    saved = await _save_notes(notes, "ann", 15)

    pages = await _all_pages(notes, {"owner": "ann"}, limit, order="desc")

    assert saved[::-1] == [n for page in pages for n in page.items]


@pytest.mark.parametrize(
    ("bound", "expected"),
    [
        (gt(5), list(range(6, 20))),
        (ge(5), list(range(5, 20))),
        (lt(5), list(range(5))),
        (le(5), list(range(6))),
        (gt(5) & lt(10), list(range(6, 10))),
        (ge(5) & le(10), list(range(5, 11))),
        (gt(5) & le(10), list(range(6, 11))),
        (lt(10) & ge(5), list(range(5, 10))),
        (gt(19), []),
        (lt(0), []),
        (gt(7) & lt(8), []),
        (ge(7) & le(7), [7]),
    ],
)
async def test_ranges_on_a_clustering_column(
    notes: orm.Repository[Note], bound: orm.Range, expected: list[int]
) -> None:
    await _save_notes(notes, "ann", 20)

    page = await notes.find({"owner": "ann", "seq": bound})

    assert expected == [n.seq for n in page.items]


@pytest.mark.parametrize("order", ["asc", "desc"])
async def test_ranges_page_in_either_order(
    notes: orm.Repository[Note], order: Any
) -> None:
    await _save_notes(notes, "ann", 30)

    pages = await _all_pages(
        notes, {"owner": "ann", "seq": ge(4) & lt(25)}, 4, order=order
    )

    expected = list(range(4, 25))
    if order == "desc":
        expected.reverse()
    assert expected == [n.seq for page in pages for n in page.items]


async def test_ranges_on_time_ordered_ids(db: orm.Database) -> None:
    posts = db.repository(Post)
    channel = uuid.uuid4()
    saved = [
        await posts.save(Post(channel, orm.time_uuid(), f"p{i}")) for i in range(6)
    ]

    page = await posts.find({"channel": channel, "id": lt(saved[3].id)})

    assert [saved[2], saved[1], saved[0]] == page.items


@pytest.mark.parametrize("limit", [1, 2, 3, 50])
async def test_an_index_lookup_spans_partitions_and_pages(
    notes: orm.Repository[Note], limit: int
) -> None:
    expected = []
    for owner in ("cat", "ann", "bob"):
        for seq in range(4):
            note = await notes.save(
                Note(owner, seq, "x", tag="red" if seq % 2 else "blue")
            )
            if note.tag == "red":
                expected.append(note)
    expected.sort(key=lambda n: (n.owner, n.seq))

    pages = await _all_pages(notes, {"tag": "red"}, limit)

    assert expected == [n for page in pages for n in page.items]


async def test_an_index_with_the_partition_key_stays_in_the_partition(
    notes: orm.Repository[Note],
) -> None:
    await notes.save(Note("ann", 1, "x", tag="red"))
    await notes.save(Note("ann", 2, "x", tag="blue"))
    await notes.save(Note("bob", 1, "x", tag="red"))

    page = await notes.find({"owner": "ann", "tag": "red"})

    assert [Note("ann", 1, "x", tag="red")] == page.items


async def test_a_page_token_of_another_partition_is_refused(
    notes: orm.Repository[Note],
) -> None:
    await _save_notes(notes, "ann", 3)
    token = (await notes.find({"owner": "ann"}, limit=1)).next_page_token

    with pytest.raises(orm.InvalidPageToken, match="another query"):
        await notes.find({"owner": "bob"}, limit=1, page_token=token)


@pytest.mark.parametrize(
    ("filters", "options"),
    [
        ({"owner": "ann"}, {"order": "desc"}),
        ({"owner": "ann", "seq": gt(0)}, {}),
        ({"tag": "red"}, {}),
    ],
)
async def test_a_page_token_of_another_query_is_refused(
    notes: orm.Repository[Note], filters: dict[str, Any], options: dict[str, Any]
) -> None:
    await _save_notes(notes, "ann", 3, tag="red")
    token = (await notes.find({"owner": "ann"}, limit=1)).next_page_token

    with pytest.raises(orm.InvalidPageToken):
        await notes.find(filters, limit=1, page_token=token, **options)


async def test_a_page_token_of_another_table_is_refused(
    db: orm.Database, notes: orm.Repository[Note]
) -> None:
    await _save_notes(notes, "ann", 3)
    token = (await notes.find({"owner": "ann"}, limit=1)).next_page_token

    with pytest.raises(orm.InvalidPageToken):
        await db.repository(LongKey).find({"p": "ann"}, page_token=token)


@pytest.mark.parametrize("token", ["", "garbage", "x" * 10_000])
async def test_a_garbage_page_token_is_refused(
    notes: orm.Repository[Note], token: str
) -> None:
    with pytest.raises(orm.InvalidPageToken):
        await notes.find({"owner": "ann"}, page_token=token)


def _forged(filters: dict[str, Any], cursor: Any, **options: Any) -> str:
    """A token for this query carrying any cursor, as a client could forge it."""
    fingerprint = orm.plan(orm.entity_meta(Note), filters, **options).fingerprint()
    return encode_token(fingerprint, cursor)


@pytest.mark.parametrize(
    "cursor",
    [
        pytest.param("ann", id="not-a-list"),
        pytest.param(["ann"], id="too-short"),
        pytest.param(["ann", 1, 2], id="too-long"),
        pytest.param([["ann"], 1], id="nested-list"),
        pytest.param([{"$gt": ""}, 1], id="operator-object"),
        pytest.param(["ann", None], id="null"),
        pytest.param([2**70, 1], id="int-over-64-bits-first"),
        pytest.param(["ann", 2**64], id="int-over-64-bits-last"),
        pytest.param(["\ud800", 1], id="lone-surrogate-first"),
        pytest.param(["ann", "\udfff"], id="lone-surrogate-last"),
    ],
)
async def test_a_forged_cursor_is_an_invalid_page_token(
    notes: orm.Repository[Note], cursor: Any
) -> None:
    await _save_notes(notes, "ann", 3)

    with pytest.raises(orm.InvalidPageToken):
        await notes.find({"owner": "ann"}, page_token=_forged({"owner": "ann"}, cursor))


async def test_pages_over_long_keys_can_be_followed(db: orm.Database) -> None:
    long_keys = db.repository(LongKey)
    saved = [await long_keys.save(LongKey("p", f"{i}" + "k" * 7000)) for i in range(3)]

    pages = await _all_pages(long_keys, {"p": "p"}, 1)

    assert saved == [item for page in pages for item in page.items]


# -- concurrency and the event loop --------------------------------------------


async def test_concurrent_saves_of_one_key_leave_one_row(
    notes: orm.Repository[Note], events: list[LifecycleEvent]
) -> None:
    writes = [notes.save(Note("ann", 1, f"v{i}")) for i in range(20)]

    await asyncio.gather(*writes)

    page = await notes.find({"owner": "ann"})
    assert 1 == len(page.items)
    assert ["created"] + ["updated"] * 19 == [e.action for e in events]
    assert events[-1].entity == page.items[0]
    assert all(len(e.changes) == 1 for e in events[1:])


async def test_concurrent_saves_of_many_keys_keep_them_all(
    notes: orm.Repository[Note],
) -> None:
    await asyncio.gather(*(notes.save(Note("ann", i, "x")) for i in range(50)))

    page = await notes.find({"owner": "ann"})

    assert list(range(50)) == [n.seq for n in page.items]


async def _ticks_while(work: Any, interval: float = 0.001) -> tuple[Any, int]:
    """Run ``work`` while a ticker sleeps in a loop; how often it woke."""
    ticks = 0
    stop = asyncio.Event()

    async def ticker() -> None:
        nonlocal ticks
        while not stop.is_set():
            await asyncio.sleep(interval)
            ticks += 1

    task = asyncio.create_task(ticker())
    try:
        result = await work
    finally:
        stop.set()
        await task
    return result, ticks


async def test_the_event_loop_keeps_running_while_sqlite_waits(
    tmp_path: Path, db: orm.Database, notes: orm.Repository[Note]
) -> None:
    blocker = sqlite3.connect(f"{tmp_path}/x.db", isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    save = asyncio.create_task(notes.save(Note("ann", 1, "waits for the lock")))

    _, ticks = await _ticks_while(asyncio.sleep(0.3), interval=0.01)
    waited = not save.done()
    blocker.execute("COMMIT")
    blocker.close()
    await save

    assert waited
    assert ticks >= 10
    assert await notes.find_one({"owner": "ann", "seq": 1}) is not None


async def test_the_event_loop_keeps_running_during_a_large_fetch(
    db: orm.Database, notes: orm.Repository[Note]
) -> None:
    await asyncio.gather(
        *(notes.save(Note("big", i, "x" * 2000, data={"i": i})) for i in range(3000))
    )
    started = time.monotonic()

    page, ticks = await _ticks_while(notes.find({"owner": "big"}, limit=3000))

    assert 3000 == len(page.items)
    assert ticks >= 3, f"{ticks} ticks in {time.monotonic() - started:.3f}s"


# -- unavailable databases ------------------------------------------------------


async def test_a_closed_database_is_unavailable(tmp_path: Path) -> None:
    database = orm.Database.from_url(f"sqlite:///{tmp_path}/x.db")
    await database.connect()
    await database.create_schema([Note])
    notes = database.repository(Note)
    await notes.save(Note("ann", 1, "x"))
    await database.close()

    calls = [
        database.ping(),
        notes.save(Note("ann", 2, "x")),
        notes.find_one({"owner": "ann", "seq": 1}),
        notes.find({"owner": "ann"}),
        notes.remove(Note("ann", 1, "x")),
        database.create_schema([Post]),
    ]
    for call in calls:
        with pytest.raises(orm.DatabaseUnavailable, match="not connected"):
            await call


async def test_a_database_never_connected_is_unavailable(tmp_path: Path) -> None:
    database = orm.Database.from_url(f"sqlite:///{tmp_path}/x.db")

    with pytest.raises(orm.DatabaseUnavailable):
        await database.ping()


async def test_database_unavailable_is_a_connection_error(tmp_path: Path) -> None:
    database = orm.Database.from_url(f"sqlite:///{tmp_path}/x.db")

    with pytest.raises(ConnectionError):
        await database.repository(Note).find({"owner": "ann"})


async def test_closing_twice_is_harmless(tmp_path: Path) -> None:
    database = orm.Database.from_url(f"sqlite:///{tmp_path}/x.db")
    await database.connect()

    await database.close()
    await database.close()

    with pytest.raises(orm.DatabaseUnavailable):
        await database.ping()


async def test_a_database_can_be_reopened_after_close(tmp_path: Path) -> None:
    database = orm.Database.from_url(f"sqlite:///{tmp_path}/x.db")
    await database.connect()
    await database.create_schema([Note])
    await database.repository(Note).save(Note("ann", 1, "kept"))
    await database.close()

    await database.connect()
    found = await database.repository(Note).find_one({"owner": "ann", "seq": 1})
    await database.close()

    assert Note("ann", 1, "kept") == found


async def test_a_missing_table_is_unavailable_with_the_sqlite_error_as_cause(
    tmp_path: Path,
) -> None:
    database = orm.Database.from_url(f"sqlite:///{tmp_path}/x.db")
    await database.connect()
    try:
        with pytest.raises(orm.DatabaseUnavailable) as raised:
            await database.repository(Note).find({"owner": "ann"})
    finally:
        await database.close()

    assert isinstance(raised.value.__cause__, sqlite3.Error)


async def test_a_file_that_is_no_database_is_unavailable(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    path.write_bytes(b"this is not a database" * 500)
    database = orm.Database.from_url(f"sqlite:///{path}")

    with pytest.raises(orm.DatabaseUnavailable) as raised:
        await database.connect()
    await database.close()

    assert isinstance(raised.value.__cause__, sqlite3.Error)


async def test_a_directory_as_database_file_is_unavailable(tmp_path: Path) -> None:
    (tmp_path / "dir.db").mkdir()
    database = orm.Database.from_url(f"sqlite:///{tmp_path}/dir.db")

    with pytest.raises(orm.DatabaseUnavailable):
        await database.connect()
    await database.close()


async def test_a_path_under_a_file_is_unavailable(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    database = orm.Database.from_url(f"sqlite:///{tmp_path}/file/sub/x.db")

    try:
        with pytest.raises(orm.DatabaseUnavailable):
            await database.connect()
    finally:
        await database.close()


async def test_connect_can_be_retried_after_a_failure(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    path.write_bytes(b"this is not a database" * 500)
    database = orm.Database.from_url(f"sqlite:///{path}")
    with pytest.raises(orm.DatabaseUnavailable):
        await database.connect()

    path.unlink()
    try:
        await database.connect()
        await database.ping()
    finally:
        await database.close()


async def test_the_health_of_a_database_is_pinged(db: orm.Database) -> None:
    assert await db.ping() is None
    assert "sqlite" == db.backend
