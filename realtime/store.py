"""The durable change feed: every published event, kept in the database.

A write that maps to a room is recorded in ``roomcast_feed`` with the write
itself (see ``orm.Database.set_recorder``), so a change that happened is
never missing from the feed, and one that did not is never in it. A client
that rejoins a room with ``since`` is replayed what the feed retains after
that event. Records expire after the retention: by TTL on Cassandra, by
periodic pruning elsewhere.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs

import orm

from .events import ResourceEvent

__all__ = ["FeedRecord", "FeedStore"]

log = logging.getLogger("roomcast.realtime")

REPLAY_PAGE = 500


@orm.entity("roomcast_feed", partition_key=["room"], clustering={"event_id": "asc"})
@attrs.define
class FeedRecord:
    """One event as the feed keeps it, in its room, in event id order."""

    room: str
    event_id: str
    action: str
    type: str
    path: str
    resource: dict[str, Any]
    created_at: datetime


class FeedStore:
    """Reads and writes the feed of one database."""

    def __init__(self, db: orm.Database, *, retention: int = 24 * 3600) -> None:
        if retention <= 0:
            raise ValueError("the feed's retention must be positive")
        self.db = db
        self.retention = retention
        self.records = db.repository(FeedRecord)
        self._meta = orm.entity_meta(FeedRecord)
        #: Whether writes are recorded as they are made: only once the feed's
        #: table is known to exist (``available``), so that a migration run
        #: before it exists is not made to fail by its own change feed.
        self.ready = False

    def companion(self, event: ResourceEvent) -> orm.Companion:
        """The row that records ``event``, to write with the change itself."""
        row = self._meta.to_row(_record_of(event))
        return orm.Companion(self._meta, row, ttl=self.retention)

    async def append(self, event: ResourceEvent) -> None:
        """Record an event that no single write stands for (e.g. one a
        decorated call derived from its result)."""
        await self.records.save(_record_of(event))

    async def replay(
        self, room: str, since: str, up_to: str
    ) -> tuple[list[ResourceEvent], bool]:
        """The retained events of ``room`` after ``since`` up to ``up_to``,
        and whether ``since`` itself is still retained (so none is missing)."""
        anchor = await self.records.find_one({"room": room, "event_id": since})
        events: list[ResourceEvent] = []
        token = None
        while True:
            page = await self.records.find(
                {"room": room, "event_id": orm.gt(since) & orm.le(up_to)},
                limit=REPLAY_PAGE,
                page_token=token,
            )
            events.extend(_event_of(record) for record in page.items)
            token = page.next_page_token
            if token is None:
                return events, anchor is not None

    async def available(self) -> bool:
        """Whether the feed's table exists yet (migration 0002 creates it)."""
        try:
            await self.records.find({"room": "/"}, limit=1)
        except orm.DatabaseUnavailable:
            self.ready = False
        else:
            self.ready = True
        return self.ready

    async def prune(self) -> None:
        """Forget the records older than the retention."""
        before = datetime.now(UTC) - timedelta(seconds=self.retention)
        await self.db.connector.expire(self._meta, "created_at", before)


def _record_of(event: ResourceEvent) -> FeedRecord:
    return FeedRecord(
        room=event.room,
        event_id=event.event_id,
        action=event.action,
        type=event.type,
        path=event.path,
        resource=event.resource,
        created_at=datetime.now(UTC),
    )


def _event_of(record: FeedRecord) -> ResourceEvent:
    action: Any = record.action
    return ResourceEvent(
        action, record.room, record.type, record.path, record.resource, record.event_id
    )
