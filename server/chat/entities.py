"""The example application's data: channels and their messages."""

from __future__ import annotations

import uuid
from datetime import datetime

import attrs

import orm

__all__ = ["WORKSPACE", "Channel", "Message"]

# Every channel lives in one workspace partition; a multi-tenant application
# would put its tenant id here, so each tenant's channels list in one query.
WORKSPACE = "default"


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

    @property
    def public(self) -> bool:
        return self.visibility == "public"

    def visible_to(self, user_id: str) -> bool:
        return self.public or user_id in self.members


@orm.entity("messages", partition_key=["channel_id"], clustering={"id": "desc"})
@attrs.define
class Message:
    channel_id: uuid.UUID
    id: orm.TimeUUID
    author: str
    text: str
    created_at: datetime
    updated_at: datetime | None = None
