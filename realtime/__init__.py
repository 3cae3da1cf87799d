"""roomcast's realtime layer: CRUD services whose writes reach rooms.

Decorate CRUD service methods with ``realtime_created``/``updated``/
``deleted``/``saved``; the ``ChangeFeed`` numbers the events, carries them
over an ``EventBus`` to every node, and delivers them through a
``Transport`` (the server's Socket.IO endpoint). This package knows nothing
of the web server.
"""

from __future__ import annotations

from .bus import EventBus, LocalBus, Receiver, Resumed
from .crud import CreateResult, CRUDService, DeleteResult, ListResult, UpdateResult
from .decorators import (
    HasChangeFeed,
    realtime_created,
    realtime_deleted,
    realtime_saved,
    realtime_updated,
)
from .events import EventIds, ResourceAction, ResourceEvent
from .exceptions import BusUnavailable, InvalidEventId, PublishError, RealtimeError
from .feed import ChangeFeed, PathSpec, RoomSpec, Route, Transport
from .redis_bus import RedisBus
from .serialize import resource_of
from .store import FeedRecord, FeedStore

__all__ = [
    "BusUnavailable",
    "CRUDService",
    "ChangeFeed",
    "CreateResult",
    "DeleteResult",
    "EventBus",
    "EventIds",
    "FeedRecord",
    "FeedStore",
    "HasChangeFeed",
    "InvalidEventId",
    "ListResult",
    "LocalBus",
    "PathSpec",
    "PublishError",
    "RealtimeError",
    "Receiver",
    "RedisBus",
    "ResourceAction",
    "ResourceEvent",
    "Resumed",
    "RoomSpec",
    "Route",
    "Transport",
    "UpdateResult",
    "realtime_created",
    "realtime_deleted",
    "realtime_saved",
    "realtime_updated",
    "resource_of",
]
