"""Entities the connector suites share: every column kind, a clustered
partition with an index, time-ordered ids, a composite partition key."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import attrs

import orm


@orm.entity("conf_values", partition_key=["id"])
@attrs.define
class Values:
    id: uuid.UUID
    text: str | None = None
    number: int | None = None
    ratio: float | None = None
    flag: bool | None = None
    when: datetime | None = None
    ref: uuid.UUID | None = None
    stamp: orm.TimeUUID | None = None
    data: dict[str, Any] | None = None
    items: list[Any] | None = None


@orm.entity(
    "conf_events", partition_key=["stream"], clustering={"seq": "asc"}, indexes=["tag"]
)
@attrs.define
class Event:
    stream: str
    seq: int
    tag: str
    body: str = ""


@orm.entity("conf_messages", partition_key=["channel"], clustering={"id": "desc"})
@attrs.define
class Message:
    channel: uuid.UUID
    id: orm.TimeUUID
    text: str


@orm.entity(
    "conf_readings",
    partition_key=["site", "bucket"],
    clustering=[("at", "asc"), ("sensor", "desc")],
    indexes=["status"],
)
@attrs.define
class Reading:
    site: str
    bucket: int
    at: datetime
    sensor: uuid.UUID
    status: str
    value: float


@orm.entity("conf_stamps", partition_key=["owner"], clustering={"n": "asc"})
@attrs.define
class Stamp:
    owner: str
    n: int
    at: datetime
