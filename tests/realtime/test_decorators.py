# Tests state the expected value first, as a literal where it is one.
from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping
from typing import Any

import attrs
import pytest

import orm
from realtime import (
    ChangeFeed,
    CreateResult,
    DeleteResult,
    EventIds,
    PublishError,
    ResourceEvent,
    UpdateResult,
    realtime_created,
    realtime_deleted,
    realtime_saved,
    realtime_updated,
)
from tests.realtime.doubles import (
    Channel,
    Message,
    RecordingTransport,
    channel_path,
    message_path,
    message_room,
    watch_chat,
)


def _both_rooms(channel: Channel) -> list[str]:
    return ["/channels", channel_path(channel)]


class ChannelService:
    """A CRUD service of the shape the example application uses."""

    def __init__(self, feed: ChangeFeed, db: orm.Database) -> None:
        self.change_feed = feed
        self.channels = db.repository(Channel)
        self.messages = db.repository(Message)

    @realtime_created(room="/channels", path=channel_path)
    async def create(self, channel: Channel, context: Any = None) -> CreateResult[Any]:
        """Create a channel."""
        return CreateResult("channel", await self.channels.save(channel))

    @realtime_updated(room=_both_rooms, path=channel_path)
    async def rename(self, id: uuid.UUID, name: str) -> UpdateResult[Any]:
        channel = await self.channels.find_one({"id": id})
        assert channel is not None
        return UpdateResult(
            "channel", await self.channels.save(attrs.evolve(channel, name=name))
        )

    @realtime_deleted(room=_both_rooms, path=channel_path)
    async def delete(self, id: uuid.UUID) -> DeleteResult[Any]:
        channel = await self.channels.find_one({"id": id})
        if channel is None:
            return DeleteResult("channel", Channel(id, ""), deleted=False)
        return DeleteResult("channel", await self.channels.remove(channel))

    @realtime_saved(room="/channels", path=channel_path)
    async def put(self, channel: Channel) -> CreateResult[Any] | UpdateResult[Any]:
        existing = await self.channels.find_one({"id": channel.id})
        saved = await self.channels.save(channel)
        if existing is None:
            return CreateResult("channel", saved)
        return UpdateResult("channel", saved)

    @realtime_created(room="/channels", path=channel_path)
    async def create_then_fail(self, channel: Channel) -> CreateResult[Any]:
        await self.channels.save(channel)
        raise RuntimeError("failed after the write")

    @realtime_created(room="/channels", path=channel_path)
    async def create_with_welcome(self, channel: Channel) -> CreateResult[Any]:
        saved = await self.channels.save(channel)
        await self.messages.save(Message(channel.id, orm.time_uuid(), "welcome"))
        return CreateResult("channel", saved)

    @realtime_created(room=message_room, path=message_path)
    async def post(self, message: Message) -> CreateResult[Any]:
        return CreateResult("message", await self.messages.save(message))

    @realtime_created(room=lambda c: None if not c.public else "/channels", path="/x")
    async def create_quietly(self, channel: Channel) -> CreateResult[Any]:
        return CreateResult("channel", await self.channels.save(channel))

    @realtime_deleted(room="/channels", path=channel_path)
    async def delete_nothing(self, channel: Channel) -> DeleteResult[Any]:
        await self.channels.save(channel)
        return DeleteResult("channel", channel, deleted=False)


@pytest.fixture
def service(feed: ChangeFeed, db: orm.Database) -> ChannelService:
    return ChannelService(feed, db)


def _resource(channel: Channel) -> dict[str, Any]:
    return {"id": str(channel.id), "name": channel.name, "public": channel.public}


def _shape(event: ResourceEvent) -> tuple[str, str, str, str, dict[str, Any]]:
    return (event.action, event.room, event.type, event.path, event.resource)


# -- one event per room ----------------------------------------------------------


async def test_created_publishes_one_event_with_the_result(
    service: ChannelService, feed: ChangeFeed, transport: RecordingTransport
) -> None:
    channel = Channel(uuid.uuid4(), "general")

    result = await service.create(channel)

    assert CreateResult("channel", channel) == result
    [event] = await transport.settle(feed)
    assert (
        "created",
        "/channels",
        "channel",
        f"/channels/{channel.id}",
        _resource(channel),
    ) == _shape(event)
    assert event.event_id == EventIds.check(event.event_id)


async def test_updated_publishes_one_event_per_room(
    service: ChannelService, feed: ChangeFeed, transport: RecordingTransport
) -> None:
    channel = await service.channels.save(Channel(uuid.uuid4(), "old"))

    await service.rename(channel.id, "new")

    renamed = Channel(channel.id, "new")
    path = f"/channels/{channel.id}"
    events = await transport.settle(feed)
    assert [
        ("updated", "/channels", "channel", path, _resource(renamed)),
        ("updated", path, "channel", path, _resource(renamed)),
    ] == [_shape(e) for e in events]
    assert events[0].event_id < events[1].event_id


async def test_deleted_publishes_the_deleted_entity(
    service: ChannelService, feed: ChangeFeed, transport: RecordingTransport
) -> None:
    channel = await service.channels.save(Channel(uuid.uuid4(), "doomed", False))

    await service.delete(channel.id)

    path = f"/channels/{channel.id}"
    assert [
        ("deleted", "/channels", "channel", path, _resource(channel)),
        ("deleted", path, "channel", path, _resource(channel)),
    ] == [_shape(e) for e in await transport.settle(feed)]
    assert await service.channels.find_one({"id": channel.id}) is None


async def test_a_room_spec_giving_none_publishes_nothing(
    service: ChannelService, feed: ChangeFeed, transport: RecordingTransport
) -> None:
    await service.create_quietly(Channel(uuid.uuid4(), "secret", public=False))

    assert [] == await transport.settle(feed)


async def test_a_static_path_is_used_as_given(
    service: ChannelService, feed: ChangeFeed, transport: RecordingTransport
) -> None:
    await service.create_quietly(Channel(uuid.uuid4(), "open"))

    assert ["/x"] == [e.path for e in await transport.settle(feed)]


def test_the_decorated_method_keeps_its_name_and_doc() -> None:
    assert "create" == ChannelService.create.__name__
    assert "Create a channel." == ChannelService.create.__doc__


# -- nothing for calls that fail or delete nothing --------------------------------


async def test_a_call_that_raises_publishes_nothing(
    service: ChannelService, feed: ChangeFeed, transport: RecordingTransport
) -> None:
    channel = Channel(uuid.uuid4(), "half")

    with pytest.raises(RuntimeError, match="failed after the write"):
        await service.create_then_fail(channel)

    assert [] == await transport.settle(feed)
    assert channel == await service.channels.find_one({"id": channel.id})


async def test_a_call_that_raises_publishes_not_even_its_watched_writes(
    service: ChannelService, feed: ChangeFeed, transport: RecordingTransport
) -> None:
    watch_chat(feed)

    with pytest.raises(RuntimeError):
        await service.create_then_fail(Channel(uuid.uuid4(), "half"))

    assert [] == await transport.settle(feed)


async def test_a_delete_that_deleted_nothing_publishes_nothing(
    service: ChannelService, feed: ChangeFeed, transport: RecordingTransport
) -> None:
    result = await service.delete(uuid.uuid4())

    assert not result.deleted
    assert [] == await transport.settle(feed)


async def test_a_delete_result_not_deleted_drops_the_watched_writes_too(
    service: ChannelService, feed: ChangeFeed, transport: RecordingTransport
) -> None:
    watch_chat(feed)

    await service.delete_nothing(Channel(uuid.uuid4(), "kept"))

    assert [] == await transport.settle(feed)


# -- realtime_saved ------------------------------------------------------------


async def test_saved_publishes_created_then_updated_as_the_result_says(
    service: ChannelService, feed: ChangeFeed, transport: RecordingTransport
) -> None:
    channel = Channel(uuid.uuid4(), "first")

    await service.put(channel)
    await service.put(attrs.evolve(channel, name="second"))

    assert [
        ("created", {"name": "first"}),
        ("updated", {"name": "second"}),
    ] == [
        (e.action, {"name": e.resource["name"]}) for e in await transport.settle(feed)
    ]


@pytest.mark.parametrize(
    "decorator", [realtime_created, realtime_updated, realtime_deleted, realtime_saved]
)
async def test_a_method_returning_no_result_is_a_publish_error(
    feed: ChangeFeed, decorator: Any
) -> None:
    class Broken:
        change_feed = feed

        @decorator(room="/r", path="/r/1")
        async def call(self) -> Any:
            return {"id": 1}

    with pytest.raises(PublishError):
        await Broken().call()


# -- with the feed's watches -------------------------------------------------------


async def test_a_watched_write_inside_the_call_is_not_published_twice(
    service: ChannelService, feed: ChangeFeed, transport: RecordingTransport
) -> None:
    watch_chat(feed)
    channel = Channel(uuid.uuid4(), "general")

    await service.create(channel)

    path = f"/channels/{channel.id}"
    assert [
        ("created", "/channels", "channel", path, _resource(channel)),
        ("created", path, "channel", path, _resource(channel)),
    ] == [_shape(e) for e in await transport.settle(feed)]


async def test_a_watched_write_covered_in_every_room_is_published_once(
    service: ChannelService, feed: ChangeFeed, transport: RecordingTransport
) -> None:
    watch_chat(feed)
    channel_id = uuid.uuid4()
    message = Message(channel_id, orm.time_uuid(), "hi")

    await service.post(message)

    events = await transport.settle(feed)
    assert [
        ("created", f"/channels/{channel_id}", "message", message_path(message))
    ] == [(e.action, e.room, e.type, e.path) for e in events]
    assert {
        "channel_id": str(channel_id),
        "id": str(message.id),
        "text": "hi",
    } == events[0].resource


async def test_other_entities_written_inside_the_call_are_published_by_their_watch(
    service: ChannelService, feed: ChangeFeed, transport: RecordingTransport
) -> None:
    watch_chat(feed)
    channel = Channel(uuid.uuid4(), "general")

    await service.create_with_welcome(channel)

    room = f"/channels/{channel.id}"
    assert [
        ("created", "/channels", "channel"),
        ("created", room, "channel"),
        ("created", room, "message"),
    ] == [(e.action, e.room, e.type) for e in await transport.settle(feed)]


async def test_an_update_inside_the_call_uses_the_watch_for_uncovered_rooms(
    service: ChannelService, feed: ChangeFeed, transport: RecordingTransport
) -> None:
    watch_chat(feed)
    channel = await service.channels.save(Channel(uuid.uuid4(), "old"))
    await transport.settle(feed)
    transport.to_rooms.clear()

    await service.rename(channel.id, "new")

    path = f"/channels/{channel.id}"
    assert [("updated", "/channels"), ("updated", path)] == [
        (e.action, e.room) for e in await transport.settle(feed)
    ]


async def test_concurrent_calls_do_not_share_their_captured_writes(
    service: ChannelService, feed: ChangeFeed, transport: RecordingTransport
) -> None:
    watch_chat(feed)
    channels = [Channel(uuid.uuid4(), f"c{i}") for i in range(10)]
    outside = Message(channels[0].id, orm.time_uuid(), "outside")

    await asyncio.gather(
        *(service.create(c) for c in channels), service.messages.save(outside)
    )

    events = await transport.settle(feed)
    for channel in channels:
        path = f"/channels/{channel.id}"
        assert [("/channels", path), (path, path)] == [
            (e.room, e.path) for e in events if e.resource.get("id") == str(channel.id)
        ]
    assert 1 == sum(e.type == "message" for e in events)
    assert 21 == len(events)


async def test_nested_decorated_calls_each_publish_their_own(
    service: ChannelService, feed: ChangeFeed, transport: RecordingTransport
) -> None:
    watch_chat(feed)

    class Outer:
        change_feed = feed

        @realtime_created(room="/outer", path="/outer/1")
        async def make(self, channel: Channel) -> CreateResult[Any]:
            await service.create(channel)
            return CreateResult("outer", {"made": str(channel.id)})

    channel = Channel(uuid.uuid4(), "inner")
    await Outer().make(channel)

    path = f"/channels/{channel.id}"
    assert [
        ("/channels", "channel"),
        (path, "channel"),
        ("/outer", "outer"),
    ] == [(e.room, e.type) for e in await transport.settle(feed)]


# -- resources that are not ORM entities ---------------------------------------


@attrs.define
class Plain:
    id: uuid.UUID
    tags: list[str]


@pytest.mark.parametrize(
    "entity",
    [Plain(uuid.UUID(int=1), ["a"]), {"id": uuid.UUID(int=1), "tags": ["a"]}],
)
async def test_attrs_objects_and_mappings_are_published_as_json_values(
    feed: ChangeFeed, transport: RecordingTransport, entity: Plain | Mapping[str, Any]
) -> None:
    class Service:
        change_feed = feed

        @realtime_created(room="/things", path="/things/1")
        async def create(self) -> CreateResult[Any]:
            return CreateResult("thing", entity)

    await Service().create()

    [event] = await transport.settle(feed)
    assert {"id": str(uuid.UUID(int=1)), "tags": ["a"]} == event.resource
