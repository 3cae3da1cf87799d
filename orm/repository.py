"""Repositories: the typed face of one entity's table."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Generic, Literal, TypeVar

import attrs

from .connector import Connector, Row
from .entity import EntityMeta
from .events import Change, LifecycleEvent
from .exceptions import NotFound, QueryError
from .paging import decode_token, encode_token
from .query import Range, plan

__all__ = ["Page", "Repository"]

T = TypeVar("T")


@attrs.frozen
class Page(Generic[T]):
    """One page of results; ``next_page_token`` is ``None`` on the last."""

    items: list[T]
    next_page_token: str | None


class Repository(Generic[T]):
    """Save, find and remove entities of one class; every write is announced.

    Obtain one from ``Database.repository(EntityClass)``.
    """

    def __init__(
        self,
        meta: EntityMeta,
        connector: Connector,
        announce: Callable[[LifecycleEvent], None],
    ) -> None:
        self.meta = meta
        self._connector = connector
        self._announce = announce

    async def save(self, entity: T) -> T:
        """Insert or replace ``entity`` by its primary key.

        Returns the entity as stored (datetimes in UTC at millisecond
        precision), and announces ``created`` or ``updated`` with the changes.
        """
        row = self.meta.to_row(entity)
        previous = await self._connector.save(self.meta, row)
        stored: T = self.meta.from_row(row)
        if previous is None:
            self._announce(LifecycleEvent("created", stored))
        else:
            changes = {
                name: Change(previous[name], value)
                for name, value in row.items()
                if previous[name] != value
            }
            self._announce(LifecycleEvent("updated", stored, changes))
        return stored

    async def find_one(self, filters: Mapping[str, Any]) -> T | None:
        """The first entity matching ``filters``, or ``None``."""
        if self._is_full_key(filters):
            query = plan(self.meta, filters, limit=1)
            row = await self._connector.get(self.meta, query.equals)
            return None if row is None else self._entity(row)
        page = await self.find(filters, limit=1)
        return page.items[0] if page.items else None

    async def find(
        self,
        filters: Mapping[str, Any],
        *,
        limit: int = 100,
        page_token: str | None = None,
        order: Literal["asc", "desc"] | None = None,
    ) -> Page[T]:
        """One page of the entities matching ``filters``.

        ``filters`` map columns to values (equality) or to ``orm.gt``/``ge``/
        ``lt``/``le`` ranges on clustering columns. ``order`` reverses the
        clustering order when it differs from the declared one. Pass the
        returned ``next_page_token`` to get the following page.
        """
        query = plan(self.meta, filters, limit=limit, order=order)
        fingerprint = query.fingerprint()
        cursor = None if page_token is None else decode_token(page_token, fingerprint)

        rows, next_cursor = await self._connector.fetch(query, cursor)
        token = None if next_cursor is None else encode_token(fingerprint, next_cursor)
        return Page([self._entity(row) for row in rows], token)

    async def remove(self, entity: T) -> T:
        """Delete ``entity`` by its primary key and announce ``deleted``.

        Raises ``NotFound`` when no row has that key.
        """
        key = {name: getattr(entity, name) for name in self.meta.primary_key}
        query = plan(self.meta, key, limit=1)
        previous = await self._connector.delete(self.meta, query.equals)
        if previous is None:
            raise NotFound(f"{self.meta.table}: no row with key {key}")
        removed: T = self._entity(previous)
        self._announce(LifecycleEvent("deleted", removed))
        return removed

    def _is_full_key(self, filters: Mapping[str, Any]) -> bool:
        try:
            keys_only = set(filters) == set(self.meta.primary_key)
        except TypeError:
            raise QueryError("filters must map column names to values") from None
        return keys_only and not any(isinstance(v, Range) for v in filters.values())

    def _entity(self, row: Row) -> T:
        entity: T = self.meta.from_row(row)
        return entity
