"""The interface every backend implements: SQLite, MongoDB, Cassandra.

Rows cross this boundary as dicts of checked Python values (``str``,
``int``, ``float``, ``bool``, ``UUID``, UTC ``datetime`` at millisecond
precision, JSON ``dict``/``list``, ``None``); each connector converts them to
and from its own storage. A connector raises only ``orm`` exceptions: driver
errors are translated where they happen.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

import attrs

from .entity import EntityMeta
from .query import Query

__all__ = ["Companion", "Companions", "Connector", "Row"]

Row = dict[str, Any]


@attrs.frozen
class Companion:
    """A row written with a save or delete: in the same atomic unit where the
    backend has one (a transaction on SQLite, a logged batch on Cassandra),
    right after it otherwise (MongoDB), never without it."""

    meta: EntityMeta
    row: Row
    #: Seconds the backend keeps the row, where it expires rows itself
    #: (Cassandra's TTL); elsewhere ``Connector.expire`` removes old rows.
    ttl: int | None = None


Companions = Callable[[Row | None], Sequence[Companion]]
"""Given the row a write replaces (or deletes), the rows to write with it."""


class Connector(abc.ABC):
    """One database: schema, keyed writes, and paged reads."""

    #: The backend's name as the health check and the logs show it.
    backend: str = ""

    @abc.abstractmethod
    async def connect(self) -> None:
        """Open connections; raises ``DatabaseUnavailable`` when unreachable."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Release every connection; the connector is unusable afterwards."""

    @abc.abstractmethod
    async def ping(self) -> None:
        """A cheap round trip; raises ``DatabaseUnavailable`` when it fails."""

    @abc.abstractmethod
    async def create_schema(self, metas: Sequence[EntityMeta]) -> None:
        """Create missing tables and indexes; existing ones are left as they are."""

    @abc.abstractmethod
    async def save(
        self, meta: EntityMeta, row: Row, companions: Companions | None = None
    ) -> Row | None:
        """Insert or replace ``row`` by its primary key; return the row it
        replaced, or ``None`` when the key was new. ``companions``, called
        with that replaced row, gives rows to write with this one."""

    @abc.abstractmethod
    async def get(self, meta: EntityMeta, key: Mapping[str, Any]) -> Row | None:
        """The row with this full primary key, or ``None``."""

    @abc.abstractmethod
    async def delete(
        self,
        meta: EntityMeta,
        key: Mapping[str, Any],
        companions: Companions | None = None,
    ) -> Row | None:
        """Remove the row with this full primary key; return it, or ``None``
        when there was none. ``companions``, called with the removed row,
        gives rows to write with the removal (not called when none)."""

    @abc.abstractmethod
    async def expire(self, meta: EntityMeta, column: str, before: datetime) -> None:
        """Remove the rows whose ``column`` (a datetime) is before ``before``,
        across partitions; a backend that expires rows by TTL may do nothing."""

    @abc.abstractmethod
    async def fetch(self, query: Query, cursor: Any | None) -> tuple[list[Row], Any]:
        """Up to ``query.limit`` rows in ``query.order_by`` order, resuming
        after ``cursor``; return them with the cursor of the next page, or
        ``None`` when there is none. A cursor is a JSON value the connector
        alone interprets, and must be checked as untrusted input.

        Lookups by index (``query.index`` without the partition key) keep
        each partition's rows in clustering order, but the order of the
        partitions is the backend's own (token order on Cassandra)."""
