"""The change feed with its durable store (SQLite): what is published is what
was recorded, and a write that fails holds nothing back."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

import orm
from realtime import (
    ChangeFeed,
    CreateResult,
    FeedRecord,
    FeedStore,
    LocalBus,
    realtime_created,
)
from tests.realtime.doubles import (
    Message,
    RecordingTransport,
    message_path,
    message_room,
    watch_chat,
)


class Messages:
    def __init__(self, db: orm.Database, change_feed: ChangeFeed) -> None:
        self.messages = db.repository(Message)
        self.change_feed = change_feed

    @realtime_created(room=message_room, path=message_path)
    async def create(self, item: Message, fail_after: bool) -> CreateResult[Message]:
        saved = await self.messages.save(item)
        if fail_after:
            raise RuntimeError("the call fails after writing")
        return CreateResult("message", saved)


@pytest.fixture
async def durable(
    tmp_path: Path,
) -> AsyncIterator[tuple[orm.Database, ChangeFeed, RecordingTransport]]:
    db = orm.Database.from_url(f"sqlite:///{tmp_path}/durable.db")
    await db.connect()
    await db.create_schema([Message, FeedRecord])
    feed = ChangeFeed(LocalBus(), store=FeedStore(db))
    watch_chat(feed)
    feed.attach(db)
    transport = RecordingTransport()
    await feed.start(transport)
    yield db, feed, transport
    await feed.close()
    await db.close()


async def _recorded(db: orm.Database, room: str) -> list[str]:
    page = await db.repository(FeedRecord).find({"room": room})
    return [r.event_id for r in page.items]


async def test_a_decorated_call_publishes_the_event_recorded_with_its_write(
    durable: tuple[orm.Database, ChangeFeed, RecordingTransport],
) -> None:
    db, feed, transport = durable
    channel = uuid.uuid4()

    await Messages(db, feed).create(Message(channel, orm.time_uuid(), "hi"), False)
    await feed.flush()

    room = f"/channels/{channel}"
    assert [e.event_id for e in transport.to_rooms] == await _recorded(db, room)
    assert len(transport.to_rooms) == 1


async def test_a_failed_call_publishes_nothing_and_holds_nothing_back(
    durable: tuple[orm.Database, ChangeFeed, RecordingTransport],
) -> None:
    db, feed, transport = durable
    channel = uuid.uuid4()
    service = Messages(db, feed)

    with pytest.raises(RuntimeError):
        await service.create(Message(channel, orm.time_uuid(), "written"), True)
    await service.create(Message(channel, orm.time_uuid(), "next"), False)
    await feed.flush()

    assert [e.resource["text"] for e in transport.to_rooms] == ["next"]
    # The failed call's write happened, so the durable feed keeps it.
    assert len(await _recorded(db, f"/channels/{channel}")) == 2


async def test_a_failed_write_holds_nothing_back(
    durable: tuple[orm.Database, ChangeFeed, RecordingTransport],
) -> None:
    db, feed, transport = durable
    channel = uuid.uuid4()
    messages = db.repository(Message)
    await db.connector.close()

    with pytest.raises(orm.DatabaseUnavailable):
        await messages.save(Message(channel, orm.time_uuid(), "lost"))
    await db.connect()
    await messages.save(Message(channel, orm.time_uuid(), "kept"))
    await feed.flush()

    assert [e.resource["text"] for e in transport.to_rooms] == ["kept"]


async def test_events_go_out_in_id_order(
    durable: tuple[orm.Database, ChangeFeed, RecordingTransport],
) -> None:
    db, feed, transport = durable
    channel = uuid.uuid4()
    messages = db.repository(Message)

    for i in range(30):
        await messages.save(Message(channel, orm.time_uuid(), f"m{i}"))
    await feed.flush()

    ids = [e.event_id for e in transport.to_rooms]
    assert ids == sorted(ids) == await _recorded(db, f"/channels/{channel}")
