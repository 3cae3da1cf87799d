"""The durable change feed on every backend: recorded with the write, replayed
in order, forgotten after the retention."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Collection
from typing import Any, ClassVar

import attrs
import pytest
import pytest_asyncio

import orm
from realtime import ChangeFeed, FeedRecord, FeedStore, ResourceEvent

pytestmark = pytest.mark.asyncio(loop_scope="module")


@orm.entity("feed_notes", partition_key=["board"], clustering={"id": "asc"})
@attrs.define
class Note:
    board: str
    id: orm.TimeUUID
    text: str


class Recording:
    """A transport that only remembers what reached each room."""

    def __init__(self) -> None:
        self.sent: list[ResourceEvent] = []

    async def send_to_room(
        self, room: str, event: ResourceEvent, skip: Collection[str] = ()
    ) -> None:
        self.sent.append(event)

    async def send_to_socket(self, sid: str, event: ResourceEvent) -> None:
        self.sent.append(event)

    async def enter_room(self, sid: str, room: str) -> None:
        return None

    async def leave_room(self, sid: str, room: str) -> None:
        return None


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def schema(backend_db: orm.Database) -> orm.Database:
    await backend_db.create_schema([Note, FeedRecord])
    return backend_db


@pytest_asyncio.fixture(loop_scope="module")
async def feed(schema: orm.Database) -> AsyncIterator[tuple[ChangeFeed, FeedStore]]:
    store = FeedStore(schema, retention=3600)
    feed = ChangeFeed(store=store)
    feed.watch(Note, type="note", room=lambda n: f"/boards/{n.board}", path="/n")
    feed.attach(schema)
    await feed.start(Recording())
    yield feed, store
    await feed.close()
    schema.set_recorder(None)
    schema._listeners.clear()


async def _notes(db: orm.Database, board: str, count: int) -> list[Note]:
    notes = db.repository(Note)
    return [
        await notes.save(Note(board, orm.time_uuid(), f"n{i}")) for i in range(count)
    ]


async def test_each_write_is_recorded_in_the_feed_with_its_event(
    schema: orm.Database, feed: tuple[ChangeFeed, FeedStore]
) -> None:
    board = uuid.uuid4().hex
    notes = await _notes(schema, board, 3)
    await feed[0].flush()

    page = await schema.repository(FeedRecord).find({"room": f"/boards/{board}"})

    assert [r.resource["text"] for r in page.items] == ["n0", "n1", "n2"]
    assert [r.action for r in page.items] == ["created"] * 3
    assert page.items[0].resource["id"] == str(notes[0].id)


async def test_replay_after_an_event_in_order(
    schema: orm.Database, feed: tuple[ChangeFeed, FeedStore]
) -> None:
    board = uuid.uuid4().hex
    room = f"/boards/{board}"
    await _notes(schema, board, 1)
    first = (await schema.repository(FeedRecord).find({"room": room})).items[0]
    await _notes(schema, board, 120)

    events, recovered = await feed[1].replay(room, first.event_id, feed[0].ids.next())

    assert recovered is True
    assert [e.resource["text"] for e in events] == [f"n{i}" for i in range(120)]
    ids = [e.event_id for e in events]
    assert ids == sorted(ids) and len(set(ids)) == 120


async def test_replay_after_an_unknown_event_is_not_recovered(
    schema: orm.Database, feed: tuple[ChangeFeed, FeedStore]
) -> None:
    board = uuid.uuid4().hex
    await _notes(schema, board, 2)

    events, recovered = await feed[1].replay(
        f"/boards/{board}", "000000000000-000000-00000000", feed[0].ids.next()
    )

    assert recovered is False
    assert len(events) == 2


async def test_a_failed_write_records_nothing(
    schema: orm.Database, feed: tuple[ChangeFeed, FeedStore]
) -> None:
    board = uuid.uuid4().hex

    class Broken:
        abandoned: ClassVar[list[orm.LifecycleEvent]] = []

        def record(self, event: orm.LifecycleEvent, meta: orm.EntityMeta) -> Any:
            raise RuntimeError("the recorder fails")

        def abandon(self, event: orm.LifecycleEvent) -> None:
            self.abandoned.append(event)

    previous = schema._recorder
    schema.set_recorder(Broken())
    try:
        with pytest.raises(RuntimeError):
            await _notes(schema, board, 1)
    finally:
        schema.set_recorder(previous)

    if schema.backend == "sqlite":
        # One transaction: the note itself is not there either.
        assert (await schema.repository(Note).find({"board": board})).items == []
    assert (
        await schema.repository(FeedRecord).find({"room": f"/boards/{board}"})
    ).items == []


async def test_old_records_are_forgotten(schema: orm.Database) -> None:
    store = FeedStore(schema, retention=1)
    room = f"/boards/{uuid.uuid4().hex}"
    event = ResourceEvent(
        "created", room, "note", "/n", {}, "0" * 12 + "-000000-" + "0" * 8
    )
    await schema.repository(Note).save(Note("x", orm.time_uuid(), "carrier"))
    companion = store.companion(event)
    await schema.connector.save(
        orm.entity_meta(Note),
        {"board": "x", "id": orm.time_uuid(), "text": "with a record"},
        lambda previous: [companion],
    )

    await asyncio.sleep(2.5)
    await store.prune()

    assert (await schema.repository(FeedRecord).find({"room": room})).items == []
