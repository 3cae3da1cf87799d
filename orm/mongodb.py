"""MongoDB through pymongo's native asyncio client; any MongoDB-wire server.

One collection per entity, one document per row. How rows are stored:

``_id``
    A string that encodes the whole primary key: the JSON array of the key
    columns' values in their cursor form (below), e.g. ``'["general",42]'``.
    A string keeps keyed reads and writes to one exact-match lookup on every
    server (FerretDB only pushes down an ``_id`` that is a string or an
    ObjectId) and makes uniqueness the server's own ``_id`` guarantee.
Columns
    Every column, key columns included, is also a top-level field of its own
    name, which is what filters, ranges and sorts use. ``create_schema`` adds
    a compound index ``key`` on the partition key then the clustering columns
    in their declared directions, and for each secondary index column ``c``
    an index ``by_c`` on ``c`` followed by the primary key, which serves an
    equality lookup in key order.
Values
    text, int (64-bit), float and bool as their BSON types; ``UUID`` as
    binary subtype 4 (``uuidRepresentation=standard``), whose order is the
    order of its bytes and of its text; ``TimeUUID`` as a 31-character hex
    string, its 60-bit timestamp first, so that string order is time order
    and ranges and sorts on it work like Cassandra's (the same encoding as
    the SQLite backend); datetimes as BSON dates (milliseconds), read back
    timezone-aware in UTC; JSON values as JSON text, because BSON cannot
    hold every JSON value (many servers refuse keys that begin with ``$``,
    and no BSON integer is wider than 64 bits) while text gives back
    exactly what was stored.

Filters carry values only under explicit operators (``{"f": {"$eq": v}}``),
so no user value is ever read as an operator; the one exception is the
``_id`` lookup, whose value is always the string built above (FerretDB
pushes down nothing else). Pages are keyset pages: sort
by the query's order, fetch ``limit + 1`` rows, and resume after the last
row's order values (``$or`` of the keyset clauses); there is never a skip.

``save`` and ``delete`` use ``findAndModify`` to return the row replaced or
removed. MongoDB runs it atomically; FerretDB v1 runs it as a read then a
write, so writes to one key are also serialised inside this process, and an
upsert that loses a race to insert the key is retried as a replacement.
Companion rows are written right after the write they belong to (there is
no transaction to share), and ``expire`` is one ``deleteMany``.

URL options: ``timeout_ms`` (server selection and connect timeout, default
5000), ``socket_timeout_ms`` (default 30000), ``replica_set``,
``auth_source`` and ``tls`` (``true``/``false``); a user and password in
the URL authenticate.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import re
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote, urlsplit

import attrs
from bson.errors import BSONError, InvalidDocument
from pymongo import ASCENDING, DESCENDING, AsyncMongoClient, IndexModel, ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import (
    CollectionInvalid,
    DocumentTooLarge,
    DuplicateKeyError,
    OperationFailure,
    PyMongoError,
)

from .connector import Companions, Connector, Row
from .entity import EntityMeta
from .exceptions import (
    ConfigurationError,
    DatabaseUnavailable,
    InvalidPageToken,
    ValidationError,
)
from .query import Query
from .types import INT64_MAX, INT64_MIN, ColumnKind
from .url import DatabaseURL

__all__ = ["MongoConnector"]

log = logging.getLogger("roomcast.orm")

Document = dict[str, Any]

DEFAULT_TIMEOUT_MS = 5000
DEFAULT_SOCKET_TIMEOUT_MS = 30_000
_OPTIONS = ("timeout_ms", "socket_timeout_ms", "replica_set", "auth_source", "tls")

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)
_MIN_MS = (datetime.min.replace(tzinfo=UTC) - _EPOCH) // _MS
_MAX_MS = (datetime.max.replace(tzinfo=UTC) - _EPOCH) // _MS

_TIMEUUID_TEXT = re.compile(r"[0-9a-f]{31}")
_NAMESPACE_EXISTS = 48
_UPSERT_ATTEMPTS = 3

_OPERATORS = {">": "$gt", ">=": "$gte", "<": "$lt", "<=": "$lte", "=": "$eq"}


# Value codecs. A row value is encoded to its stored (BSON-ready) form and
# decoded back; a stored value has a JSON "cursor" form, used in page tokens
# and in the _id string. Cursors arrive from clients, so each from_cursor
# checks its input, returns the stored form, and raises ValueError otherwise.


def _encode_timeuuid(value: uuid.UUID) -> str:
    # 15 hex digits of timestamp, then the clock sequence and node bytes.
    return f"{value.time:015x}{value.bytes[8:].hex()}"


def _decode_timeuuid(text: str) -> uuid.UUID:
    time = int(text[:15], 16)
    time_fields = (time & 0xFFFFFFFF, (time >> 32) & 0xFFFF, (time >> 48) | 0x1000)
    head = b"".join(
        field.to_bytes(size, "big")
        for field, size in zip(time_fields, (4, 2, 2), strict=True)
    )
    return uuid.UUID(bytes=head + bytes.fromhex(text[15:]))


def _decode_datetime(value: datetime) -> datetime:
    return value.astimezone(UTC)


def _json_text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _ms(value: datetime) -> int:
    return (value - _EPOCH) // _MS


def _text_from_cursor(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("not text")
    return value


def _int_from_cursor(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError("not an int")
    if not INT64_MIN <= value <= INT64_MAX:
        raise ValueError("not a 64-bit int")
    return value


def _float_from_cursor(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError("not a number")
    if not math.isfinite(value):
        raise ValueError("not a finite number")
    return float(value)


def _bool_from_cursor(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError("not a bool")
    return value


def _uuid_from_cursor(value: Any) -> uuid.UUID:
    if not isinstance(value, str) or len(value) != 36:
        raise ValueError("not a UUID")
    return uuid.UUID(value)


def _timeuuid_from_cursor(value: Any) -> str:
    if not isinstance(value, str) or not _TIMEUUID_TEXT.fullmatch(value):
        raise ValueError("not a TimeUUID")
    return value


def _datetime_from_cursor(value: Any) -> datetime:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError("not milliseconds")
    if not _MIN_MS <= value <= _MAX_MS:
        raise ValueError("milliseconds out of range")
    return _EPOCH + value * _MS


def _same(value: Any) -> Any:
    return value


@attrs.frozen
class _Codec:
    """How one column kind is stored, read back, and carried in a cursor."""

    encode: Callable[[Any], Any] = _same
    decode: Callable[[Any], Any] = _same
    to_cursor: Callable[[Any], Any] = _same
    from_cursor: Callable[[Any], Any] = _same


_CODECS = {
    ColumnKind.TEXT: _Codec(from_cursor=_text_from_cursor),
    # Ints beyond 32 bits come back as bson.Int64.
    ColumnKind.INT: _Codec(decode=int, from_cursor=_int_from_cursor),
    # -0.0 equals 0.0, so both must give one _id.
    ColumnKind.FLOAT: _Codec(
        decode=float,
        to_cursor=lambda v: float(v) + 0.0,
        from_cursor=_float_from_cursor,
    ),
    ColumnKind.BOOL: _Codec(decode=bool, from_cursor=_bool_from_cursor),
    ColumnKind.UUID: _Codec(to_cursor=str, from_cursor=_uuid_from_cursor),
    ColumnKind.TIMEUUID: _Codec(
        encode=_encode_timeuuid,
        decode=_decode_timeuuid,
        from_cursor=_timeuuid_from_cursor,
    ),
    ColumnKind.DATETIME: _Codec(
        decode=_decode_datetime, to_cursor=_ms, from_cursor=_datetime_from_cursor
    ),
    ColumnKind.JSON: _Codec(encode=_json_text, decode=json.loads),
}


class _Table:
    """One entity's codecs, key encoding and index declarations, built once."""

    def __init__(self, meta: EntityMeta) -> None:
        self.meta = meta
        self.codecs = {name: _CODECS[col.kind] for name, col in meta.columns.items()}

    def encode(self, name: str, value: Any) -> Any:
        return None if value is None else self.codecs[name].encode(value)

    def document_id(self, key: Mapping[str, Any]) -> str:
        parts = [
            self.codecs[name].to_cursor(self.encode(name, key[name]))
            for name in self.meta.primary_key
        ]
        return json.dumps(parts, separators=(",", ":"))

    def encode_row(self, row: Mapping[str, Any]) -> Document:
        document: Document = {"_id": self.document_id(row)}
        for name in self.meta.columns:
            document[name] = self.encode(name, row[name])
        return document

    def decode_row(self, document: Mapping[str, Any]) -> Row:
        row: Row = {}
        for name, codec in self.codecs.items():
            # A column added after the row was written reads as missing.
            value = document.get(name)
            row[name] = None if value is None else codec.decode(value)
        return row

    def cursor_of(self, document: Mapping[str, Any], names: Sequence[str]) -> list[Any]:
        return [self.codecs[name].to_cursor(document[name]) for name in names]

    def read_cursor(self, cursor: Any, names: Sequence[str]) -> dict[str, Any]:
        """The stored values of an untrusted cursor, or ``InvalidPageToken``."""
        if not isinstance(cursor, list) or len(cursor) != len(names):
            raise InvalidPageToken("page token does not fit this query")
        values = {}
        for name, value in zip(names, cursor, strict=True):
            try:
                values[name] = self.codecs[name].from_cursor(value)
            except (ValueError, TypeError):
                raise InvalidPageToken("page token does not fit this query") from None
        return values

    def indexes(self) -> list[IndexModel]:
        meta = self.meta
        key = [(name, ASCENDING) for name in meta.partition_key]
        key += [
            (name, ASCENDING if way == "asc" else DESCENDING)
            for name, way in meta.clustering
        ]
        models = [IndexModel(key, name="key")]
        for name in meta.indexes:
            models.append(IndexModel([(name, ASCENDING), *key], name=f"by_{name}"))
        return models


class _KeyLocks:
    """Serialises writes to one key within the process; entries are dropped
    as soon as nobody holds or waits for them."""

    def __init__(self) -> None:
        self._entries: dict[tuple[str, str], _LockEntry] = {}

    @contextlib.asynccontextmanager
    async def hold(self, key: tuple[str, str]) -> AsyncIterator[None]:
        entry = self._entries.get(key)
        if entry is None:
            entry = self._entries[key] = _LockEntry()
        entry.users += 1
        try:
            async with entry.lock:
                yield
        finally:
            entry.users -= 1
            if entry.users == 0:
                del self._entries[key]


@attrs.define
class _LockEntry:
    lock: asyncio.Lock = attrs.field(factory=asyncio.Lock)
    users: int = 0


@attrs.frozen
class _Settings:
    """Client settings taken from the URL, checked before any connection."""

    hosts: list[str]
    database: str
    timeout_ms: int
    socket_timeout_ms: int
    extra: Mapping[str, Any]

    @classmethod
    def from_url(cls, url: DatabaseURL) -> _Settings:
        unknown = sorted(set(url.options) - set(_OPTIONS))
        if unknown:
            raise ConfigurationError(
                f"unknown MongoDB URL options {unknown}; known: {list(_OPTIONS)}"
            )
        _check_database_name(url.name)
        options = url.options
        extra: dict[str, Any] = {}
        if "replica_set" in options:
            extra["replicaSet"] = options["replica_set"]
        if "auth_source" in options:
            extra["authSource"] = options["auth_source"]
        if "tls" in options:
            extra["tls"] = _flag(options["tls"], "tls")
        parts = urlsplit(url.raw)
        if parts.username is not None:
            extra["username"] = unquote(parts.username)
            extra["password"] = unquote(parts.password or "")
        return cls(
            hosts=[_host_port(host, url.port) for host in url.hosts],
            database=url.name,
            timeout_ms=_milliseconds(options, "timeout_ms", DEFAULT_TIMEOUT_MS),
            socket_timeout_ms=_milliseconds(
                options, "socket_timeout_ms", DEFAULT_SOCKET_TIMEOUT_MS
            ),
            extra=extra,
        )


def _check_database_name(name: str) -> None:
    if len(name) >= 64 or any(c in name for c in '/\\. "$*<>:|?\x00'):
        raise ConfigurationError(
            f"MongoDB database name {name!r} must be shorter than 64 characters "
            'and contain none of /\\. "$*<>:|?'
        )


def _host_port(host: str, port: int | None) -> str:
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return host if port is None else f"{host}:{port}"


def _milliseconds(options: Mapping[str, str], name: str, default: int) -> int:
    text = options.get(name)
    if text is None:
        return default
    if not text.isdigit() or int(text) == 0:
        raise ConfigurationError(f"{name} must be a positive number of milliseconds")
    return int(text)


def _flag(text: str, name: str) -> bool:
    if text.lower() not in ("true", "false"):
        raise ConfigurationError(f"{name} must be true or false, got {text!r}")
    return text.lower() == "true"


class MongoConnector(Connector):
    """The MongoDB backend; see the module documentation for the storage."""

    backend = "mongodb"

    def __init__(self, url: DatabaseURL) -> None:
        self.url = url
        self._settings = _Settings.from_url(url)
        self._client: AsyncMongoClient[Document] | None = None
        self._db: AsyncDatabase[Document] | None = None
        self._tables: dict[type, _Table] = {}
        self._locks = _KeyLocks()
        self._connecting = asyncio.Lock()

    # Connection

    async def connect(self) -> None:
        async with self._connecting:
            if self._client is None:
                self._client, self._db = await self._open()
                log.info("connected to MongoDB at %s", self.url.redacted())

    async def _open(
        self,
    ) -> tuple[AsyncMongoClient[Document], AsyncDatabase[Document]]:
        settings = self._settings
        try:
            client: AsyncMongoClient[Document] = AsyncMongoClient(
                settings.hosts,
                serverSelectionTimeoutMS=settings.timeout_ms,
                connectTimeoutMS=settings.timeout_ms,
                socketTimeoutMS=settings.socket_timeout_ms,
                uuidRepresentation="standard",
                tz_aware=True,
                tzinfo=UTC,
                appname="roomcast",
                **settings.extra,
            )
        except PyMongoError as exc:
            raise ConfigurationError(f"MongoDB client settings: {exc}") from exc

        database = client.get_database(settings.database)
        try:
            with self._translated("connect"):
                await database.command("ping")
        except DatabaseUnavailable:
            await client.close()
            raise
        return client, database

    async def close(self) -> None:
        client, self._client, self._db = self._client, None, None
        if client is not None:
            await client.close()

    async def ping(self) -> None:
        database = self._database()
        with self._translated("ping"):
            await database.command("ping")

    def _database(self) -> AsyncDatabase[Document]:
        if self._db is None:
            raise DatabaseUnavailable("MongoDB connector is not connected")
        return self._db

    def _collection(self, meta: EntityMeta) -> AsyncCollection[Document]:
        return self._database()[meta.table]

    def _table(self, meta: EntityMeta) -> _Table:
        table = self._tables.get(meta.cls)
        if table is None or table.meta is not meta:
            table = self._tables[meta.cls] = _Table(meta)
        return table

    @contextlib.contextmanager
    def _translated(self, action: str) -> Iterator[None]:
        """The one place where driver errors become ``orm`` errors."""
        try:
            yield
        except DocumentTooLarge as exc:
            raise ValidationError(
                "the row is larger than a MongoDB document may be (16 MiB)"
            ) from exc
        except InvalidDocument as exc:
            raise ValidationError(
                f"MongoDB cannot store the row ({type(exc).__name__})"
            ) from exc
        except OperationFailure as exc:
            raise DatabaseUnavailable(
                f"MongoDB {action} failed: {type(exc).__name__} (code {exc.code})"
            ) from exc
        except (PyMongoError, BSONError) as exc:
            raise DatabaseUnavailable(
                f"MongoDB {action} failed: {type(exc).__name__}"
            ) from exc

    # Schema

    async def create_schema(self, metas: Sequence[EntityMeta]) -> None:
        database = self._database()
        with self._translated("create_schema"):
            existing = set(await database.list_collection_names())
            for meta in metas:
                if meta.table not in existing:
                    await self._create_collection(database, meta.table)
                await self._create_indexes(database[meta.table], self._table(meta))

    async def _create_collection(
        self, database: AsyncDatabase[Document], name: str
    ) -> None:
        try:
            await database.create_collection(name)
        except CollectionInvalid:
            pass  # created meanwhile by another process
        except OperationFailure as exc:
            if exc.code != _NAMESPACE_EXISTS:
                raise

    async def _create_indexes(
        self, collection: AsyncCollection[Document], table: _Table
    ) -> None:
        # Indexes are matched by name: one that exists is left as it is.
        present = {index["name"] async for index in await collection.list_indexes()}
        missing = [m for m in table.indexes() if m.document["name"] not in present]
        if missing:
            await collection.create_indexes(missing)

    # Keyed reads and writes

    async def save(
        self, meta: EntityMeta, row: Row, companions: Companions | None = None
    ) -> Row | None:
        table = self._table(meta)
        document = table.encode_row(row)
        collection = self._collection(meta)
        async with self._locks.hold((meta.table, document["_id"])):
            with self._translated("save"):
                found = await self._replace(collection, document)
                previous = None if found is None else table.decode_row(found)
                await self._write_companions(companions, previous)
        return previous

    async def _write_companions(
        self, companions: Companions | None, previous: Row | None
    ) -> None:
        # No transactions here (FerretDB has none): companions follow the
        # write they belong to, so they never stand for one that failed.
        for companion in companions(previous) if companions else ():
            extra = self._table(companion.meta)
            await self._replace(
                self._collection(companion.meta), extra.encode_row(companion.row)
            )

    async def _replace(
        self, collection: AsyncCollection[Document], document: Document
    ) -> Document | None:
        # Two upserts of a new key may both try to insert it; the loser finds
        # the key taken and, tried again, replaces the winner's row.
        for attempt in range(1, _UPSERT_ATTEMPTS + 1):
            try:
                return await collection.find_one_and_replace(
                    {"_id": document["_id"]},
                    document,
                    upsert=True,
                    return_document=ReturnDocument.BEFORE,
                )
            except DuplicateKeyError:
                if attempt == _UPSERT_ATTEMPTS:
                    raise
        raise AssertionError("unreachable")

    async def get(self, meta: EntityMeta, key: Mapping[str, Any]) -> Row | None:
        table = self._table(meta)
        collection = self._collection(meta)
        with self._translated("get"):
            found = await collection.find_one({"_id": table.document_id(key)})
        return None if found is None else table.decode_row(found)

    async def delete(
        self,
        meta: EntityMeta,
        key: Mapping[str, Any],
        companions: Companions | None = None,
    ) -> Row | None:
        table = self._table(meta)
        document_id = table.document_id(key)
        collection = self._collection(meta)
        async with self._locks.hold((meta.table, document_id)):
            with self._translated("delete"):
                found = await collection.find_one_and_delete({"_id": document_id})
                if found is None:
                    return None
                previous = table.decode_row(found)
                await self._write_companions(companions, previous)
        return previous

    async def expire(self, meta: EntityMeta, column: str, before: datetime) -> None:
        table = self._table(meta)
        limit = table.encode(column, before)
        with self._translated("expire"):
            await self._collection(meta).delete_many({column: {"$lt": limit}})

    # Paged reads

    async def fetch(self, query: Query, cursor: Any | None) -> tuple[list[Row], Any]:
        table = self._table(query.meta)
        where = _where(table, query)
        if cursor is not None:
            after = _after(table, query, cursor)
            if after is None:
                return [], None
            where.append(after)

        collection = self._collection(query.meta)
        sort = [
            (n, ASCENDING if way == "asc" else DESCENDING) for n, way in query.order_by
        ]
        log.debug("find in %s: %r sorted by %r", query.meta.table, where, sort)
        with self._translated("find"):
            found = await collection.find(
                _all_of(where),
                sort=sort,
                limit=query.limit + 1,
            ).to_list()

        rows = [table.decode_row(document) for document in found[: query.limit]]
        if len(found) <= query.limit:
            return rows, None
        names = [name for name, _ in query.order_by]
        return rows, table.cursor_of(found[query.limit - 1], names)


def _where(table: _Table, query: Query) -> list[Document]:
    conditions: list[Document] = [
        {name: {"$eq": table.encode(name, value)}}
        for name, value in query.equals.items()
    ]
    if query.range is not None:
        name, bounds = query.range
        conditions.append(
            {
                name: {
                    _OPERATORS[op]: table.encode(name, value)
                    for op, value in bounds.bounds()
                }
            }
        )
    return conditions


def _after(table: _Table, query: Query, cursor: Any) -> Document | None:
    """The rows after ``cursor``, or ``None`` when there can be none."""
    names = [name for name, _ in query.order_by]
    values = table.read_cursor(cursor, names)
    clauses = [
        {name: {_OPERATORS[op]: values[name]} for name, op in clause}
        for clause in query.keyset_after()
    ]
    if not clauses:
        return None
    return clauses[0] if len(clauses) == 1 else {"$or": clauses}


def _all_of(conditions: list[Document]) -> Document:
    if not conditions:
        return {}
    return conditions[0] if len(conditions) == 1 else {"$and": conditions}
