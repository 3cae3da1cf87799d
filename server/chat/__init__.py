"""The example application: channels and messages as realtime CRUD services."""

from __future__ import annotations

from .entities import WORKSPACE, Channel, Message
from .services import Caller, ChannelService, MessageService, watch_entities

__all__ = [
    "WORKSPACE",
    "Caller",
    "Channel",
    "ChannelService",
    "Message",
    "MessageService",
    "watch_entities",
]
