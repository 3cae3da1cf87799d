"""Realtime decorators for CRUD service methods.

    class MessageService:
        def __init__(self, change_feed: ChangeFeed) -> None:
            self.change_feed = change_feed

        @realtime_created(room="/messages", path=lambda m: f"/messages/{m.id}")
        async def create(self, item, context) -> CreateResult[Message]: ...

A decorated call that returns publishes one event per room for the entity
of its result; a call that raises publishes nothing. Writes the call makes
are not published a second time by the feed's watches for the same room and
path. The service gives the feed as its ``change_feed`` attribute.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

from .crud import CreateResult, DeleteResult, UpdateResult
from .events import ResourceAction
from .exceptions import PublishError
from .feed import ChangeFeed, PathSpec, RoomSpec, capture, release

__all__ = [
    "HasChangeFeed",
    "realtime_created",
    "realtime_deleted",
    "realtime_saved",
    "realtime_updated",
]

Result = CreateResult[Any] | UpdateResult[Any] | DeleteResult[Any]
R = TypeVar("R", bound=Result)
Method = Callable[..., Awaitable[R]]


class HasChangeFeed(Protocol):
    """A service whose decorated methods publish through ``change_feed``."""

    change_feed: ChangeFeed


def realtime_created(
    *, room: RoomSpec, path: PathSpec
) -> Callable[[Method[R]], Method[R]]:
    """Publish ``created`` for the entity of the returned ``CreateResult``."""
    return _realtime("created", room, path)


def realtime_updated(
    *, room: RoomSpec, path: PathSpec
) -> Callable[[Method[R]], Method[R]]:
    """Publish ``updated`` for the entity of the returned ``UpdateResult``."""
    return _realtime("updated", room, path)


def realtime_deleted(
    *, room: RoomSpec, path: PathSpec
) -> Callable[[Method[R]], Method[R]]:
    """Publish ``deleted`` for the entity of the returned ``DeleteResult``."""
    return _realtime("deleted", room, path)


def realtime_saved(
    *, room: RoomSpec, path: PathSpec
) -> Callable[[Method[R]], Method[R]]:
    """Publish ``created`` or ``updated``, as the returned result says."""
    return _realtime(None, room, path)


def _action_of(result: Any) -> ResourceAction:
    if isinstance(result, CreateResult):
        return "created"
    if isinstance(result, UpdateResult):
        return "updated"
    if isinstance(result, DeleteResult):
        return "deleted"
    raise PublishError(
        f"a realtime method must return a Create/Update/DeleteResult, "
        f"got {type(result).__name__}"
    )


def _realtime(
    action: ResourceAction | None, room: RoomSpec, path: PathSpec
) -> Callable[[Method[R]], Method[R]]:
    def decorate(method: Method[R]) -> Method[R]:
        @functools.wraps(method)
        async def call(self: HasChangeFeed, *args: Any, **kwargs: Any) -> R:
            held, token = capture()
            try:
                result = await method(self, *args, **kwargs)
            except BaseException:
                self.change_feed.discard(held)
                raise
            finally:
                release(token)

            try:
                found = _action_of(result)
            except PublishError:
                self.change_feed.discard(held)
                raise
            if isinstance(result, DeleteResult) and not result.deleted:
                self.change_feed.discard(held)
                return result
            feed = self.change_feed
            feed.publish_result(
                action or found,
                result.type,
                result.entity,
                room,
                path,
                held,
            )
            await feed.flush()
            return result

        return call

    return decorate
