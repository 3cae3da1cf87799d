"""The example application's entities as its first migration creates them."""

from __future__ import annotations

from server.chat import Channel, Message

ENTITIES = (Channel, Message)
