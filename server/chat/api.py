"""REST endpoints of the example application (see SPEC's table)."""

from __future__ import annotations

import uuid
from typing import Any

import orm

from ..errors import BadRequest, NotFound
from ..http import ApiHandler
from .rooms import CHANNELS_ROOM, channel_room
from .services import Caller, ChannelService, MessageService

__all__ = ["routes"]

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
UUID_PATTERN = r"([^/]+)"


def _uuid(text: str, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(text)
    except ValueError:
        raise NotFound(f"{what} not found") from None


class _ChatHandler(ApiHandler):
    @property
    def channels(self) -> ChannelService:
        service: ChannelService = self.context["channels"]
        return service

    @property
    def messages(self) -> MessageService:
        service: MessageService = self.context["messages"]
        return service

    def caller(self, channel_id: str | None = None) -> Caller:
        if channel_id is None:
            return Caller(self.user_id)
        return Caller(self.user_id, _uuid(channel_id, "channel"))

    def paging(self) -> tuple[int, str | None]:
        text = self.get_query_argument("limit", None)
        limit = DEFAULT_LIMIT
        if text is not None:
            digits = text.isascii() and text.isdigit()
            if not digits or not 1 <= int(text) <= MAX_LIMIT:
                raise BadRequest(f"limit must be a whole number from 1 to {MAX_LIMIT}")
            limit = int(text)
        token = self.get_query_argument("page_token", None) or None
        return limit, token

    def websocket(self, room: str) -> dict[str, str]:
        return {"room": room, "token": self.tokens.room_token(self.user_id, room)}


class ChannelsHandler(_ChatHandler):
    async def get(self) -> None:
        limit, token = self.paging()
        result = await self.channels.list(self.caller(), limit=limit, page_token=token)
        self.reply(
            {
                "resources": [orm.as_json(c) for c in result.entities],
                "next_page_token": result.next_page_token,
                "websockets": [self.websocket(CHANNELS_ROOM)],
            }
        )

    async def post(self) -> None:
        caller = self.caller()
        item = self.channels.new(self.json(), caller)
        result = await self.channels.create(item, caller)
        reply: dict[str, Any] = {
            "resource": orm.as_json(result.entity),
            "websocket": self.websocket(channel_room(result.entity)),
        }
        self.reply(reply, 201)


class ChannelHandler(_ChatHandler):
    async def get(self, channel_id: str) -> None:
        channel = await self.channels.get(_uuid(channel_id, "channel"), self.caller())
        self.reply(
            {
                "resource": orm.as_json(channel),
                "websocket": self.websocket(channel_room(channel)),
            }
        )

    async def patch(self, channel_id: str) -> None:
        id = _uuid(channel_id, "channel")
        result = await self.channels.update(id, self.json(), self.caller())
        self.reply({"resource": orm.as_json(result.entity)})

    async def delete(self, channel_id: str) -> None:
        id = _uuid(channel_id, "channel")
        result = await self.channels.delete(id, self.caller())
        self.reply({"resource": orm.as_json(result.entity)})


class MessagesHandler(_ChatHandler):
    async def get(self, channel_id: str) -> None:
        limit, token = self.paging()
        caller = self.caller(channel_id)
        result = await self.messages.list(caller, limit=limit, page_token=token)
        self.reply(
            {
                "resources": [orm.as_json(m) for m in result.entities],
                "next_page_token": result.next_page_token,
            }
        )

    async def post(self, channel_id: str) -> None:
        caller = self.caller(channel_id)
        item = await self.messages.new(self.json(), caller)
        result = await self.messages.create(item, caller)
        self.reply({"resource": orm.as_json(result.entity)}, 201)


class MessageHandler(_ChatHandler):
    async def get(self, channel_id: str, message_id: str) -> None:
        caller = self.caller(channel_id)
        message = await self.messages.get(_uuid(message_id, "message"), caller)
        self.reply({"resource": orm.as_json(message)})

    async def patch(self, channel_id: str, message_id: str) -> None:
        caller = self.caller(channel_id)
        id = _uuid(message_id, "message")
        result = await self.messages.update(id, self.json(), caller)
        self.reply({"resource": orm.as_json(result.entity)})

    async def delete(self, channel_id: str, message_id: str) -> None:
        caller = self.caller(channel_id)
        result = await self.messages.delete(_uuid(message_id, "message"), caller)
        self.reply({"resource": orm.as_json(result.entity)})


def routes() -> list[tuple[str, type[ApiHandler]]]:
    return [
        (r"/api/channels/?", ChannelsHandler),
        (rf"/api/channels/{UUID_PATTERN}/?", ChannelHandler),
        (rf"/api/channels/{UUID_PATTERN}/messages/?", MessagesHandler),
        (rf"/api/channels/{UUID_PATTERN}/messages/{UUID_PATTERN}/?", MessageHandler),
    ]
