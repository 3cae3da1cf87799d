"""The CRUD service protocol and the results its methods return.

Results carry the resource type name (``"channel"``) and the entity, which
is all the realtime decorators need to build an event.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Generic, Protocol, TypeVar

import attrs

from orm import Change

__all__ = [
    "CRUDService",
    "CreateResult",
    "DeleteResult",
    "ListResult",
    "UpdateResult",
]

EntityT = TypeVar("EntityT")
IdT_contra = TypeVar("IdT_contra", contravariant=True)
ContextT_contra = TypeVar("ContextT_contra", contravariant=True)


@attrs.frozen
class CreateResult(Generic[EntityT]):
    """What ``create`` returns: the resource type and the stored entity."""

    type: str
    entity: EntityT


@attrs.frozen
class UpdateResult(Generic[EntityT]):
    """What ``update`` returns: the resource type, the entity, its changes."""

    type: str
    entity: EntityT
    changes: Mapping[str, Change] = attrs.field(factory=dict)


@attrs.frozen
class DeleteResult(Generic[EntityT]):
    """What ``delete`` returns; ``deleted=False`` publishes nothing."""

    type: str
    entity: EntityT
    deleted: bool = True


@attrs.frozen
class ListResult(Generic[EntityT]):
    """One page of entities and the token of the next page."""

    type: str
    entities: list[EntityT]
    next_page_token: str | None = None


class CRUDService(Protocol[EntityT, IdT_contra, ContextT_contra]):
    """What a realtime CRUD service implements; ``context`` says who asks."""

    async def create(
        self, item: EntityT, context: ContextT_contra
    ) -> CreateResult[EntityT]: ...

    async def get(self, id: IdT_contra, context: ContextT_contra) -> EntityT: ...

    async def update(
        self, id: IdT_contra, patch: Mapping[str, Any], context: ContextT_contra
    ) -> UpdateResult[EntityT]: ...

    async def delete(
        self, id: IdT_contra, context: ContextT_contra
    ) -> DeleteResult[EntityT]: ...

    async def list(
        self,
        context: ContextT_contra,
        *,
        limit: int = 20,
        page_token: str | None = None,
    ) -> ListResult[EntityT]: ...
