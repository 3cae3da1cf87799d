"""The example application's CRUD services, with their realtime decorators.

Channels: anyone sees and posts in a public channel; only members see a
private one. The creator owns a channel and is always a member; only the
owner changes or deletes it. Only a message's author changes or deletes it.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import attrs

import orm
from realtime import (
    ChangeFeed,
    CreateResult,
    DeleteResult,
    ListResult,
    UpdateResult,
    realtime_created,
    realtime_deleted,
    realtime_updated,
)

from ..errors import Forbidden, NotFound
from .entities import WORKSPACE, Channel, Message
from .rooms import (
    channel_path,
    channel_room,
    channel_rooms,
    channel_routes,
    message_path,
    message_room,
)
from .validation import channel_fields, message_fields

__all__ = ["Caller", "ChannelService", "MessageService", "watch_entities"]


@attrs.frozen
class Caller:
    """Who makes a call; for messages, also in which channel."""

    user_id: str
    channel_id: uuid.UUID | None = None


def _now() -> datetime:
    return datetime.now(UTC)


def watch_entities(feed: ChangeFeed) -> None:
    """Writes made outside the services (scripts, migrations) reach rooms too."""
    feed.watch(Channel, type="channel", routes=channel_routes)
    feed.watch(Message, type="message", room=message_room, path=message_path)


class ChannelService:
    type = "channel"

    def __init__(self, db: orm.Database, change_feed: ChangeFeed) -> None:
        self.channels = db.repository(Channel)
        self.change_feed = change_feed

    def new(self, data: Mapping[str, Any], caller: Caller) -> Channel:
        """A channel made from a client's fields, owned by the caller."""
        fields = channel_fields(data, partial=False)
        now = _now()
        members = [caller.user_id] + [
            m for m in fields.pop("members") if m != caller.user_id
        ]
        return Channel(
            workspace_id=WORKSPACE,
            id=orm.time_uuid(),
            owner=caller.user_id,
            members=members,
            created_at=now,
            updated_at=now,
            **fields,
        )

    @realtime_created(room=channel_rooms, path=channel_path)
    async def create(self, item: Channel, context: Caller) -> CreateResult[Channel]:
        if item.owner != context.user_id:
            raise Forbidden("a channel is created by its owner")
        return CreateResult(self.type, await self.channels.save(item))

    async def get(self, id: uuid.UUID, context: Caller) -> Channel:
        channel = None
        if id.version == 1:
            channel = await self.channels.find_one(
                {"workspace_id": WORKSPACE, "id": id}
            )
        if channel is None or not channel.visible_to(context.user_id):
            raise NotFound("channel not found")
        return channel

    @realtime_updated(room=channel_room, path=channel_path)
    async def update(
        self, id: uuid.UUID, patch: Mapping[str, Any], context: Caller
    ) -> UpdateResult[Channel]:
        channel = await self._owned(id, context)
        fields = channel_fields(patch, partial=True)
        if "members" in fields and channel.owner not in fields["members"]:
            fields["members"].insert(0, channel.owner)
        changed = attrs.evolve(channel, updated_at=_now(), **fields)
        saved = await self.channels.save(changed)
        return UpdateResult(self.type, saved)

    @realtime_deleted(room=channel_rooms, path=channel_path)
    async def delete(self, id: uuid.UUID, context: Caller) -> DeleteResult[Channel]:
        channel = await self._owned(id, context)
        return DeleteResult(self.type, await self.channels.remove(channel))

    async def list(
        self, context: Caller, *, limit: int = 20, page_token: str | None = None
    ) -> ListResult[Channel]:
        """One page of the workspace's channels, keeping those the caller may
        see; a page may hold fewer than ``limit`` and still have a next one."""
        page = await self.channels.find(
            {"workspace_id": WORKSPACE}, limit=limit, page_token=page_token
        )
        visible = [c for c in page.items if c.visible_to(context.user_id)]
        return ListResult(self.type, visible, page.next_page_token)

    async def _owned(self, id: uuid.UUID, context: Caller) -> Channel:
        channel = await self.get(id, context)
        if channel.owner != context.user_id:
            raise Forbidden("only the channel's owner may change it")
        return channel


class MessageService:
    type = "message"

    def __init__(
        self, db: orm.Database, channels: ChannelService, change_feed: ChangeFeed
    ) -> None:
        self.messages = db.repository(Message)
        self.channels = channels
        self.change_feed = change_feed

    async def new(self, data: Mapping[str, Any], caller: Caller) -> Message:
        channel = await self._channel(caller)
        return Message(
            channel_id=channel.id,
            id=orm.time_uuid(),
            author=caller.user_id,
            created_at=_now(),
            **message_fields(data),
        )

    @realtime_created(room=message_room, path=message_path)
    async def create(self, item: Message, context: Caller) -> CreateResult[Message]:
        channel = await self._channel(context)
        if item.author != context.user_id or item.channel_id != channel.id:
            raise Forbidden("a message is posted by its author in its channel")
        return CreateResult(self.type, await self.messages.save(item))

    async def get(self, id: uuid.UUID, context: Caller) -> Message:
        channel = await self._channel(context)
        message = None
        if id.version == 1:
            message = await self.messages.find_one({"channel_id": channel.id, "id": id})
        if message is None:
            raise NotFound("message not found")
        return message

    @realtime_updated(room=message_room, path=message_path)
    async def update(
        self, id: uuid.UUID, patch: Mapping[str, Any], context: Caller
    ) -> UpdateResult[Message]:
        message = await self._authored(id, context)
        changed = attrs.evolve(message, updated_at=_now(), **message_fields(patch))
        return UpdateResult(self.type, await self.messages.save(changed))

    @realtime_deleted(room=message_room, path=message_path)
    async def delete(self, id: uuid.UUID, context: Caller) -> DeleteResult[Message]:
        message = await self._authored(id, context)
        return DeleteResult(self.type, await self.messages.remove(message))

    async def list(
        self, context: Caller, *, limit: int = 20, page_token: str | None = None
    ) -> ListResult[Message]:
        """Newest first, by the messages' time-ordered ids."""
        channel = await self._channel(context)
        page = await self.messages.find(
            {"channel_id": channel.id}, limit=limit, page_token=page_token
        )
        return ListResult(self.type, page.items, page.next_page_token)

    async def _channel(self, context: Caller) -> Channel:
        if context.channel_id is None:
            raise NotFound("channel not found")
        return await self.channels.get(context.channel_id, context)

    async def _authored(self, id: uuid.UUID, context: Caller) -> Message:
        message = await self.get(id, context)
        if message.author != context.user_id:
            raise Forbidden("only the message's author may change it")
        return message
