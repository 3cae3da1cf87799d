"""roomcast's ORM: attrs entities over SQLite, MongoDB and Cassandra/ScyllaDB.

Declare an entity, open a database, and use its repository::

    @orm.entity("messages", partition_key=["channel_id"], clustering={"id": "desc"})
    @attrs.define
    class Message:
        channel_id: uuid.UUID
        id: orm.TimeUUID
        text: str

    db = orm.Database.from_url("sqlite:///var/app.db")
    await db.connect()
    await db.create_schema([Message])
    messages = db.repository(Message)
    await messages.save(Message(channel_id, orm.time_uuid(), "hello"))
    page = await messages.find({"channel_id": channel_id}, limit=20)
"""

from __future__ import annotations

from .connector import Companion, Companions, Connector, Row
from .database import Database, connector_for
from .entity import Column, EntityMeta, entity, entity_meta
from .events import Action, Change, LifecycleEvent, Listener, Recorder
from .exceptions import (
    ConfigurationError,
    DatabaseUnavailable,
    DeclarationError,
    InvalidPageToken,
    NotFound,
    OrmError,
    QueryError,
    ValidationError,
)
from .query import MAX_LIMIT, Query, Range, ge, gt, le, lt, plan
from .repository import Page, Repository
from .serialize import as_json, as_json_values, format_datetime
from .sqlite import SQLiteConnector
from .types import ColumnKind, TimeUUID, time_uuid
from .url import DatabaseURL, parse_url

__all__ = [
    "MAX_LIMIT",
    "Action",
    "Change",
    "Column",
    "ColumnKind",
    "Companion",
    "Companions",
    "ConfigurationError",
    "Connector",
    "Database",
    "DatabaseURL",
    "DatabaseUnavailable",
    "DeclarationError",
    "EntityMeta",
    "InvalidPageToken",
    "LifecycleEvent",
    "Listener",
    "NotFound",
    "OrmError",
    "Page",
    "Query",
    "QueryError",
    "Range",
    "Recorder",
    "Repository",
    "Row",
    "SQLiteConnector",
    "TimeUUID",
    "ValidationError",
    "as_json",
    "as_json_values",
    "connector_for",
    "entity",
    "entity_meta",
    "format_datetime",
    "ge",
    "gt",
    "le",
    "lt",
    "parse_url",
    "plan",
    "time_uuid",
]
