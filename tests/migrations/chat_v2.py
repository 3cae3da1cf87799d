"""The example application's entities, one change later: channels have a topic."""

from __future__ import annotations

from datetime import datetime

import attrs

import orm
from server.chat import Message


@orm.entity("channels", partition_key=["workspace_id"], clustering={"id": "asc"})
@attrs.define
class Channel:
    workspace_id: str
    id: orm.TimeUUID
    name: str
    visibility: str
    owner: str
    members: list[str]
    created_at: datetime
    updated_at: datetime
    topic: str | None = None


ENTITIES = (Channel, Message)
