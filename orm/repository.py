"""Repositories: the typed face of one entity's table."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, Generic, Literal, TypeVar

import attrs

from .connector import Companion, Connector, Row
from .entity import EntityMeta
from .events import Change, LifecycleEvent, Recorder
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
        recorder: Callable[[], Recorder | None] = lambda: None,
    ) -> None:
        self.meta = meta
        self._connector = connector
        self._announce = announce
        self._recorder = recorder

    async def save(self, entity: T) -> T:
        """Insert or replace ``entity`` by its primary key.

        Returns the entity as stored (datetimes in UTC at millisecond
        precision), and announces ``created`` or ``updated`` with the changes.
        """
        row = self.meta.to_row(entity)
        stored: T = self.meta.from_row(row)

        def saved(previous: Row | None) -> LifecycleEvent:
            if previous is None:
                return LifecycleEvent("created", stored)
            changes = {
                name: Change(previous[name], value)
                for name, value in row.items()
                if previous[name] != value
            }
            return LifecycleEvent("updated", stored, changes)

        recorded = _Recorded(saved, self.meta, self._recorder())
        with recorded.abandoned_on_failure():
            previous = await self._connector.save(self.meta, row, recorded.companions)
        self._announce(recorded.event or saved(previous))
        return stored

    async def save_many(self, entities: Iterable[T]) -> list[T]:
        """Save each entity in turn (each its own write, announced on its own)."""
        return [await self.save(entity) for entity in entities]

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

        def removed(previous: Row | None) -> LifecycleEvent:
            assert previous is not None
            return LifecycleEvent("deleted", self._entity(previous))

        recorded = _Recorded(removed, self.meta, self._recorder())
        with recorded.abandoned_on_failure():
            previous = await self._connector.delete(
                self.meta, query.equals, recorded.companions
            )
        if previous is None:
            raise NotFound(f"{self.meta.table}: no row with key {key}")
        event = recorded.event or removed(previous)
        self._announce(event)
        gone: T = event.entity
        return gone

    def _is_full_key(self, filters: Mapping[str, Any]) -> bool:
        try:
            keys_only = set(filters) == set(self.meta.primary_key)
        except TypeError:
            raise QueryError("filters must map column names to values") from None
        return keys_only and not any(isinstance(v, Range) for v in filters.values())

    def _entity(self, row: Row) -> T:
        entity: T = self.meta.from_row(row)
        return entity


class _Recorded:
    """Lets a recorder add rows to a write once its outcome is known.

    The connector calls ``companions`` with the row the write replaces; the
    lifecycle event made then is the one announced after the commit, with
    whatever the recorder noted on it.
    """

    def __init__(
        self,
        make: Callable[[Row | None], LifecycleEvent],
        meta: EntityMeta,
        recorder: Recorder | None,
    ) -> None:
        self.event: LifecycleEvent | None = None
        self._make = make
        self._meta = meta
        self.companions = None if recorder is None else self._companions
        self._recorder = recorder

    def _companions(self, previous: Row | None) -> Sequence[Companion]:
        assert self._recorder is not None
        self.event = self._make(previous)
        return self._recorder.record(self.event, self._meta)

    @contextlib.contextmanager
    def abandoned_on_failure(self) -> Iterator[None]:
        try:
            yield
        except BaseException:
            if self._recorder is not None and self.event is not None:
                self._recorder.abandon(self.event)
            raise
