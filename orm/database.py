"""A database: one connector, its repositories, and the lifecycle listeners."""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from .connector import Connector
from .entity import entity_meta
from .events import LifecycleEvent, Listener, Recorder
from .exceptions import ConfigurationError
from .repository import Repository
from .sqlite import SQLiteConnector
from .url import DatabaseURL, parse_url

__all__ = ["Database", "connector_for"]

log = logging.getLogger("roomcast.orm")

T = TypeVar("T")

# Backends whose drivers are optional extras: module, class, extra to install.
_OPTIONAL_CONNECTORS = {
    "mongodb": ("orm.mongodb", "MongoConnector", "mongodb"),
    "cassandra": ("orm.cassandra", "CassandraConnector", "cassandra"),
}


def connector_for(url: DatabaseURL) -> Connector:
    """The connector for a parsed URL; ``ConfigurationError`` if unavailable."""
    if url.backend == "sqlite":
        return SQLiteConnector(url.name)
    module_name, class_name, extra = _OPTIONAL_CONNECTORS[url.backend]
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigurationError(
            f"the {url.backend} backend needs its driver: "
            f"pip install 'roomcast[{extra}]' ({exc})"
        ) from exc
    connector: Connector = getattr(module, class_name)(url)
    return connector


class Database:
    """Entry point of the ORM: ``Database.from_url(url)``, then
    ``await db.connect()`` and ``db.repository(MyEntity)``."""

    def __init__(self, connector: Connector, url: DatabaseURL | None = None) -> None:
        self.connector = connector
        self.url = url
        self._repositories: dict[type, Repository[Any]] = {}
        self._listeners: list[Listener] = []
        self._recorder: Recorder | None = None

    @classmethod
    def from_url(cls, url: str) -> Database:
        parsed = parse_url(url)
        return cls(connector_for(parsed), parsed)

    @property
    def backend(self) -> str:
        return self.connector.backend

    async def connect(self) -> None:
        await self.connector.connect()

    async def close(self) -> None:
        await self.connector.close()

    async def ping(self) -> None:
        await self.connector.ping()

    async def create_schema(self, entities: Iterable[type]) -> None:
        """Create the tables and indexes of ``entities`` that do not exist yet."""
        await self.connector.create_schema([entity_meta(e) for e in entities])

    def repository(self, cls: type[T]) -> Repository[T]:
        repository = self._repositories.get(cls)
        if repository is None:
            repository = Repository(
                entity_meta(cls), self.connector, self._announce, self._current_recorder
            )
            self._repositories[cls] = repository
        return repository

    def add_listener(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener`` after every committed write; returns its remover."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def with_connector(self, connector: Connector) -> Database:
        """This database through another connector (one that wraps this one's,
        say): its writes reach the same listeners and recorder."""
        other = Database(connector, self.url)
        other._listeners = self._listeners
        other._recorder = self._recorder
        return other

    def set_recorder(self, recorder: Recorder | None) -> None:
        """Have ``recorder`` add rows to every write, written with it (see
        ``Connector.save``): the change feed records its events this way."""
        self._recorder = recorder

    def _current_recorder(self) -> Recorder | None:
        return self._recorder

    def _announce(self, event: LifecycleEvent) -> None:
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:
                # The write is committed; a failing listener must not make the
                # caller believe otherwise, nor starve the other listeners.
                log.exception(
                    "lifecycle listener %r failed on %s", listener, event.action
                )
