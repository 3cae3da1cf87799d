"""Test doubles and entities shared by the realtime tests."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Collection
from typing import Any

import attrs

import orm
from realtime import ChangeFeed, ResourceEvent, Route

MARKER_ROOM = "/marker"


@orm.entity("channels", partition_key=["id"])
@attrs.define
class Channel:
    id: uuid.UUID
    name: str
    public: bool = True


@orm.entity("messages", partition_key=["channel_id"], clustering={"id": "desc"})
@attrs.define
class Message:
    channel_id: uuid.UUID
    id: orm.TimeUUID
    text: str


def channel_path(channel: Channel) -> str:
    return f"/channels/{channel.id}"


def message_room(message: Message) -> str:
    return f"/channels/{message.channel_id}"


def message_path(message: Message) -> str:
    return f"/channels/{message.channel_id}/messages/{message.id}"


def channel_routes(event: orm.LifecycleEvent) -> list[Route]:
    """Public channels go to /channels and their own room; private ones to
    their own room only."""
    channel: Channel = event.entity
    path = channel_path(channel)
    routes = [Route(event.action, path, path)]
    if channel.public:
        routes.insert(0, Route(event.action, "/channels", path))
    return routes


def watch_chat(feed: ChangeFeed) -> None:
    """The watches of a chat application: channels and their messages."""
    feed.watch(Channel, type="channel", routes=channel_routes)
    feed.watch(Message, type="message", room=message_room, path=message_path)


class RecordingTransport:
    """Stands in for the Socket.IO server: records every call in order and
    keeps room membership, so each socket's deliveries can be read back."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, Any]] = []
        self.members: dict[str, set[str]] = defaultdict(set)
        self.received: dict[str, list[ResourceEvent]] = defaultdict(list)
        self.to_rooms: list[ResourceEvent] = []

    async def send_to_room(
        self, room: str, event: ResourceEvent, skip: Collection[str] = ()
    ) -> None:
        self.calls.append(("send_to_room", room, event))
        self.to_rooms.append(event)
        for sid in sorted(self.members[room] - set(skip)):
            self.received[sid].append(event)

    async def send_to_socket(self, sid: str, event: ResourceEvent) -> None:
        self.calls.append(("send_to_socket", sid, event))
        self.received[sid].append(event)

    async def enter_room(self, sid: str, room: str) -> None:
        self.calls.append(("enter_room", sid, room))
        self.members[room].add(sid)

    async def leave_room(self, sid: str, room: str) -> None:
        self.calls.append(("leave_room", sid, room))
        self.members[room].discard(sid)

    def joined(self, sid: str) -> Callable[[bool | None], Awaitable[None]]:
        async def joined(recovered: bool | None) -> None:
            self.calls.append(("joined", sid, recovered))

        return joined

    def left(self, sid: str) -> Callable[[], Awaitable[None]]:
        async def left() -> None:
            self.calls.append(("left", sid, None))

        return left

    def events(self) -> list[ResourceEvent]:
        """What reached rooms, markers left out."""
        return [e for e in self.to_rooms if e.room != MARKER_ROOM]

    async def until(self, condition: Callable[[], bool], timeout: float = 5) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(f"not reached in {timeout}s: {self.calls}")
            await asyncio.sleep(0.002)

    async def settle(self, feed: ChangeFeed) -> list[ResourceEvent]:
        """Everything the feed queued so far, delivered: a marker event sent
        now arrives after all of it."""
        [marker] = feed.publish("created", "marker", {}, MARKER_ROOM, MARKER_ROOM)
        await self.until(lambda: marker in self.to_rooms)
        return self.events()
