"""Which rooms the example application's changes go to, and who may be there.

``/channels`` carries public channels; ``/channels/{id}`` carries one
channel and its messages, and only its members when it is private.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

import attrs

import orm
from realtime import ResourceEvent, Route

from .entities import WORKSPACE, Channel, Message

__all__ = [
    "CHANNELS_ROOM",
    "channel_path",
    "channel_room",
    "channel_rooms",
    "channel_routes",
    "message_path",
    "message_room",
    "room_audience",
]

CHANNELS_ROOM = "/channels"


def channel_room(channel: Channel) -> str:
    return f"/channels/{channel.id}"


def channel_path(channel: Channel) -> str:
    return f"/channels/{channel.id}"


def channel_rooms(channel: Channel) -> list[str]:
    rooms = [channel_room(channel)]
    if channel.public:
        rooms.append(CHANNELS_ROOM)
    return rooms


def message_room(message: Message) -> str:
    return f"/channels/{message.channel_id}"


def message_path(message: Message) -> str:
    return f"/channels/{message.channel_id}/messages/{message.id}"


def channel_routes(event: orm.LifecycleEvent) -> Iterable[Route]:
    """A channel change in its own room, and in ``/channels`` as the public
    list sees it: turning private removes it there, turning public adds it."""
    channel: Channel = event.entity
    path = channel_path(channel)
    yield Route(event.action, channel_room(channel), path)

    visibility = event.changes.get("visibility")
    if visibility is None:
        if channel.public:
            yield Route(event.action, CHANNELS_ROOM, path)
    elif channel.public:
        yield Route("created", CHANNELS_ROOM, path)
    elif visibility.old == "public":
        # The public list learns only that the channel left it, as it was
        # when public: nothing of what it became.
        before = {name: change.old for name, change in event.changes.items()}
        yield Route("deleted", CHANNELS_ROOM, path, attrs.evolve(channel, **before))


def channel_id_of_room(room: str) -> uuid.UUID | None:
    prefix, _, rest = room.partition("/channels/")
    if prefix or not rest:
        return None
    try:
        return uuid.UUID(rest)
    except ValueError:
        return None


def room_audience(event: ResourceEvent) -> Iterable[str] | None:
    """Who may stay in a private channel's room once this change is made."""
    if event.type != "channel" or event.room == CHANNELS_ROOM:
        return None
    if event.action == "deleted" or event.resource.get("visibility") == "public":
        return None
    members = event.resource.get("members")
    return members if isinstance(members, list) else []


async def may_join(db: orm.Database, user_id: str, room: str) -> bool:
    """Public list for everyone; a channel's room for those who may see it."""
    if room == CHANNELS_ROOM:
        return True
    channel_id = channel_id_of_room(room)
    if channel_id is None or channel_id.version != 1:
        return False
    channels = db.repository(Channel)
    channel = await channels.find_one({"workspace_id": WORKSPACE, "id": channel_id})
    return channel is not None and channel.visible_to(user_id)
