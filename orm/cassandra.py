"""Apache Cassandra and ScyllaDB through the ``cassandra`` module.

Either driver provides it: cassandra-driver, or scylla-driver (which adds
shard awareness on ScyllaDB). One URL configures the connector::

    cassandra://h1,h2:9042/keyspace?replication_factor=1&local_dc=datacenter1

``scylla://`` takes the same form. Options, all optional:

``replication_factor``
    Replicas per data center when ``create_schema`` creates the keyspace
    (default 1). With ``local_dc`` the keyspace uses NetworkTopologyStrategy
    with that many replicas in the local data center, otherwise
    SimpleStrategy. An existing keyspace is left as it is.
``local_dc``
    The data center whose nodes coordinate requests (token-aware routing over
    DCAwareRoundRobinPolicy); the driver infers it from the contact points
    when it is not given.
``consistency``, ``serial_consistency``
    Consistency of every read and write (default ``LOCAL_QUORUM``) and of
    lightweight transactions (default ``LOCAL_SERIAL``).
``connect_timeout``, ``request_timeout``
    Seconds allowed to open a connection (default 5) and for one request
    (default 10).
``protocol_version``
    The native protocol version to speak; by default the driver negotiates
    the highest one the servers accept.

A user name and password in the URL are sent with the plain-text
authenticator.

Every statement is prepared once and run with bound values through the
driver's asynchronous API, so the event loop never waits on the network;
only connecting, preparing and shutting down, which the driver does
synchronously, run on a small thread pool.

Pages resume from the driver's paging state, which the page token carries
sealed with an HMAC (see ``CassandraConnector``): the server never sees a
paging state that this connector did not hand out. A full page peeks one
row further, so the last page has no next token. Lookups by a secondary
index that span partitions return the partitions in token order, as
Cassandra stores them, each partition's rows in clustering order.

``save`` and ``delete`` read the row before writing, so that they can
return it: the pair is not atomic, and a concurrent writer of the same key
may slip between the two statements. ``None`` is written as null, so a
saved ``None`` reads back as ``None``. ``create_schema`` waits for schema
agreement and for new indexes to be built over existing rows.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import json
import logging
import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import unquote, urlsplit

import attrs
from cassandra import ConsistencyLevel, CoordinationFailure, DriverException
from cassandra.auth import PlainTextAuthProvider
from cassandra.cluster import (
    EXEC_PROFILE_DEFAULT,
    Cluster,
    ExecutionProfile,
    NoHostAvailable,
)
from cassandra.connection import ConnectionBusy, ConnectionException, ProtocolError
from cassandra.policies import DCAwareRoundRobinPolicy, TokenAwarePolicy
from cassandra.pool import NoConnectionsAvailable
from cassandra.protocol import ErrorMessage
from cassandra.query import BatchStatement, BatchType, SimpleStatement, tuple_factory

from .connector import Companion, Companions, Connector, Row
from .entity import EntityMeta
from .exceptions import (
    ConfigurationError,
    DatabaseUnavailable,
    InvalidPageToken,
    OrmError,
)
from .query import Query
from .types import ColumnKind
from .url import DatabaseURL

__all__ = ["CassandraConnector", "CassandraOptions"]

log = logging.getLogger("roomcast.orm")

T = TypeVar("T")

# Everything the driver raises; a connector lets none of it escape.
_DRIVER_ERRORS = (
    DriverException,
    NoHostAvailable,
    ConnectionException,
    ConnectionBusy,
    ProtocolError,
    NoConnectionsAvailable,
    ErrorMessage,
    OSError,
)

_CQL_TYPES = {
    ColumnKind.TEXT: "text",
    ColumnKind.INT: "bigint",
    ColumnKind.FLOAT: "double",
    ColumnKind.BOOL: "boolean",
    ColumnKind.UUID: "uuid",
    ColumnKind.TIMEUUID: "timeuuid",
    ColumnKind.DATETIME: "timestamp",
    ColumnKind.JSON: "text",
}

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NAIVE_EPOCH = datetime(1970, 1, 1)
_MILLISECOND = timedelta(milliseconds=1)

_KEYSPACE_NAME = re.compile(r"[A-Za-z0-9_]{1,48}")
_OPTIONS = (
    "replication_factor",
    "local_dc",
    "consistency",
    "serial_consistency",
    "connect_timeout",
    "request_timeout",
    "protocol_version",
)
_SERIAL_LEVELS = ("SERIAL", "LOCAL_SERIAL")
# ANY only applies to writes, and reads are made at the same level.
_PLAIN_LEVELS = tuple(
    name
    for name in ConsistencyLevel.name_to_value
    if name not in (*_SERIAL_LEVELS, "ANY")
)

# DDL waits for the schema to settle on every node: allow it more time.
_SCHEMA_TIMEOUT = 60.0
_SCHEMA_AGREEMENT_WAIT = 30

# A paging state is a few dozen bytes; a cursor much longer is not ours.
_MAX_CURSOR_LENGTH = 4096
_MAC_LENGTH = 16
# Requests one page may take when the server answers short or empty pages.
_MAX_PAGE_REQUESTS = 16


def _encode_datetime(value: datetime) -> int:
    return (value - _EPOCH) // _MILLISECOND


def _decode_datetime(value: datetime) -> datetime:
    # The driver returns naive UTC computed through a float, a few
    # microseconds off for distant dates: round back to the stored millisecond.
    millis = round((value.replace(tzinfo=None) - _NAIVE_EPOCH) / _MILLISECOND)
    return _EPOCH + millis * _MILLISECOND


def _json_text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


_ENCODERS: dict[ColumnKind, Callable[[Any], Any]] = {
    ColumnKind.DATETIME: _encode_datetime,
    ColumnKind.JSON: _json_text,
}

_DECODERS: dict[ColumnKind, Callable[[Any], Any]] = {
    ColumnKind.DATETIME: _decode_datetime,
    ColumnKind.JSON: json.loads,
}


# A value of each indexable kind, in stored form, to probe an index with.
_PROBES: dict[ColumnKind, Any] = {
    ColumnKind.TEXT: "",
    ColumnKind.INT: 0,
    ColumnKind.FLOAT: 0.0,
    ColumnKind.BOOL: False,
    ColumnKind.UUID: uuid.UUID(int=0),
    ColumnKind.TIMEUUID: uuid.UUID("00000000-0000-1000-8000-000000000000"),
    ColumnKind.DATETIME: 0,
}


def _quote(name: str) -> str:
    # Quoted identifiers keep their case and may be CQL keywords.
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    # Only for DDL, where CQL takes no bound values (the data center name).
    return "'" + text.replace("'", "''") + "'"


@attrs.frozen
class CassandraOptions:
    """What a ``cassandra://`` or ``scylla://`` URL asks for, checked."""

    hosts: tuple[str, ...]
    port: int
    keyspace: str
    replication_factor: int = 1
    local_dc: str | None = None
    consistency: int = ConsistencyLevel.LOCAL_QUORUM
    serial_consistency: int = ConsistencyLevel.LOCAL_SERIAL
    connect_timeout: float = 5.0
    request_timeout: float = 10.0
    protocol_version: int | None = None
    username: str | None = attrs.field(default=None, repr=False)
    password: str | None = attrs.field(default=None, repr=False)

    @classmethod
    def from_url(cls, url: DatabaseURL) -> CassandraOptions:
        """Check the URL's keyspace and options; ``ConfigurationError`` if wrong."""
        if url.backend != "cassandra":
            raise ConfigurationError(f"not a Cassandra URL: {url.redacted()}")
        if not _KEYSPACE_NAME.fullmatch(url.name):
            raise ConfigurationError(
                f"keyspace name {url.name!r} must be 1 to 48 letters, digits "
                "or underscores"
            )
        options = dict(url.options)
        unknown = sorted(set(options) - set(_OPTIONS))
        if unknown:
            raise ConfigurationError(
                f"unknown {url.scheme} URL options {unknown}; known: {list(_OPTIONS)}"
            )
        parts = urlsplit(url.raw)
        return cls(
            # The driver takes IPv6 addresses bare, without URL brackets.
            hosts=tuple(host.removeprefix("[").removesuffix("]") for host in url.hosts),
            port=url.port or 9042,
            keyspace=url.name,
            replication_factor=_positive_int(options, "replication_factor", 1),
            local_dc=options.get("local_dc") or None,
            consistency=_consistency(options, "consistency", "LOCAL_QUORUM"),
            serial_consistency=_consistency(
                options, "serial_consistency", "LOCAL_SERIAL"
            ),
            connect_timeout=_seconds(options, "connect_timeout", 5.0),
            request_timeout=_seconds(options, "request_timeout", 10.0),
            protocol_version=_protocol_version(options),
            username=None if parts.username is None else unquote(parts.username),
            password=None if parts.password is None else unquote(parts.password),
        )

    @property
    def where(self) -> str:
        """Hosts, port and keyspace, for messages and logs."""
        return f"{','.join(self.hosts)}:{self.port}/{self.keyspace}"


def _positive_int(options: Mapping[str, str], name: str, default: int) -> int:
    text = options.get(name)
    if text is None:
        return default
    if not text.isascii() or not text.isdigit() or int(text) < 1:
        raise ConfigurationError(f"{name} must be a positive integer, got {text!r}")
    return int(text)


def _protocol_version(options: Mapping[str, str]) -> int | None:
    if "protocol_version" not in options:
        return None
    version = _positive_int(options, "protocol_version", 0)
    if not 3 <= version <= 5:
        raise ConfigurationError(f"protocol_version must be 3, 4 or 5, got {version}")
    return version


def _seconds(options: Mapping[str, str], name: str, default: float) -> float:
    text = options.get(name)
    if text is None:
        return default
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 0 < value < 3600:
        raise ConfigurationError(f"{name} must be a number of seconds, got {text!r}")
    return value


def _consistency(options: Mapping[str, str], name: str, default: str) -> int:
    allowed = _SERIAL_LEVELS if name == "serial_consistency" else _PLAIN_LEVELS
    text = options.get(name, default)
    if text.upper() not in allowed:
        raise ConfigurationError(
            f"{name} must be one of {', '.join(allowed)}; got {text!r}"
        )
    level: int = ConsistencyLevel.name_to_value[text.upper()]
    return level


# The shape of a paged SELECT: columns compared by equality, the range
# column with its operators, and the ORDER BY (column, direction), if any.
_Shape = tuple[
    tuple[str, ...], tuple[str, tuple[str, ...]] | None, tuple[str, str] | None
]


class _Table:
    """The CQL text and value codecs for one entity, built once."""

    def __init__(self, meta: EntityMeta, keyspace: str) -> None:
        self.meta = meta
        self.names = list(meta.columns)
        self.encoders = [_ENCODERS.get(col.kind) for col in meta.columns.values()]
        self.decoders = [_DECODERS.get(col.kind) for col in meta.columns.values()]
        self.qualified = f"{_quote(keyspace)}.{_quote(meta.table)}"

        columns = ", ".join(_quote(n) for n in self.names)
        key_match = " AND ".join(f"{_quote(n)} = ?" for n in meta.primary_key)
        self.select = self.select_of(columns)
        self.select_key = f"{self.select} WHERE {key_match}"
        self.delete_key = f"DELETE FROM {self.qualified} WHERE {key_match}"
        self.insert = (
            f"INSERT INTO {self.qualified} ({columns}) "
            f"VALUES ({', '.join('?' for _ in self.names)})"
        )
        self.insert_with_ttl = f"{self.insert} USING TTL ?"
        self._fetch_cql: dict[_Shape, str] = {}

    def select_of(self, columns: str) -> str:
        return f"SELECT {columns} FROM {self.qualified}"

    def encode(self, name: str, value: Any) -> Any:
        encoder = _ENCODERS.get(self.meta.columns[name].kind)
        return value if value is None or encoder is None else encoder(value)

    def encode_row(self, row: Mapping[str, Any]) -> list[Any]:
        # None is written as null, never left unset: a replaced row must not
        # keep the previous value of a column that is now empty.
        return [
            row[name] if row[name] is None or enc is None else enc(row[name])
            for name, enc in zip(self.names, self.encoders, strict=True)
        ]

    def decode_row(self, values: Sequence[Any]) -> Row:
        return {
            name: value if value is None or dec is None else dec(value)
            for name, dec, value in zip(self.names, self.decoders, values, strict=True)
        }

    def key_values(self, key: Mapping[str, Any]) -> list[Any]:
        return [self.encode(name, key[name]) for name in self.meta.primary_key]

    def fetch(self, query: Query) -> tuple[str, list[Any]]:
        """The SELECT for ``query`` (one text per shape) and its values."""
        equals = tuple(name for name in self.names if name in query.equals)
        bounds = [] if query.range is None else query.range[1].bounds()
        range_shape = None
        if query.range is not None:
            range_shape = (query.range[0], tuple(op for op, _ in bounds))
        ordering = self._reordering(query)

        shape: _Shape = (equals, range_shape, ordering)
        cql = self._fetch_cql.get(shape)
        if cql is None:
            cql = self._fetch_cql[shape] = self._fetch_text(shape)

        values = [self.encode(name, query.equals[name]) for name in equals]
        if query.range is not None:
            values.extend(self.encode(query.range[0], value) for _, value in bounds)
        return cql, values

    def _reordering(self, query: Query) -> tuple[str, str] | None:
        """The ORDER BY a query needs: only where it reverses the declared order."""
        if query.index is not None or not self.meta.clustering:
            return None
        clustering = query.order_by[len(self.meta.partition_key) :]
        if clustering == self.meta.clustering:
            return None
        return clustering[0]

    def _fetch_text(self, shape: _Shape) -> str:
        equals, range_shape, ordering = shape
        where = [f"{_quote(name)} = ?" for name in equals]
        if range_shape is not None:
            name, operators = range_shape
            where.extend(f"{_quote(name)} {op} ?" for op in operators)
        cql = self.select
        if where:
            cql += " WHERE " + " AND ".join(where)
        if ordering is not None:
            cql += f" ORDER BY {_quote(ordering[0])} {ordering[1].upper()}"
        return cql

    def create_table(self) -> str:
        meta = self.meta
        columns = [f"{_quote(n)} {_CQL_TYPES[c.kind]}" for n, c in meta.columns.items()]
        partition = ", ".join(_quote(n) for n in meta.partition_key)
        key = ", ".join([f"({partition})", *map(_quote, meta.clustering_columns)])
        cql = (
            f"CREATE TABLE IF NOT EXISTS {self.qualified} "
            f"({', '.join(columns)}, PRIMARY KEY ({key}))"
        )
        if meta.clustering:
            order = ", ".join(
                f"{_quote(n)} {way.upper()}" for n, way in meta.clustering
            )
            cql += f" WITH CLUSTERING ORDER BY ({order})"
        return cql

    def probe(self, column: str) -> tuple[str, list[Any]]:
        """A lookup by the index on ``column``, to see whether it is usable."""
        key = _quote(self.meta.partition_key[0])
        cql = f"{self.select_of(key)} WHERE {_quote(column)} = ? LIMIT 1"
        return cql, [_PROBES[self.meta.columns[column].kind]]

    def create_index(self, column: str) -> str:
        # Unnamed: Cassandra names it (table_column_idx, shortened if need be).
        return f"CREATE INDEX IF NOT EXISTS ON {self.qualified} ({_quote(column)})"


class CassandraConnector(Connector):
    """Cassandra or ScyllaDB, configured by a ``cassandra://`` or ``scylla://`` URL.

    ``page_token_key`` authenticates page tokens; give every node of an
    application the same secret. Without it, tokens are authenticated with
    the table's id alone, which clients never see but which is not a secret
    in the cryptographic sense.
    """

    backend = "cassandra"

    def __init__(
        self, url: DatabaseURL, *, page_token_key: bytes | None = None
    ) -> None:
        self.options = CassandraOptions.from_url(url)
        self._page_token_key = page_token_key or b""
        self._table_ids: dict[str, Any] = {}
        self._executor: ThreadPoolExecutor | None = None
        self._cluster: Any = None
        self._session: Any = None
        self._tables: dict[type, _Table] = {}
        self._prepared: dict[str, Any] = {}
        self._preparing: dict[str, asyncio.Future[Any]] = {}

    # Connections

    async def connect(self) -> None:
        if self._session is not None:
            return
        self._executor = ThreadPoolExecutor(2, thread_name_prefix="roomcast-cassandra")
        try:
            self._cluster, self._session = await self._blocking(self._open, "connect")
        except BaseException:
            self._executor.shutdown(wait=False)
            self._executor = None
            raise
        log.info(
            "connected to Cassandra at %s (native protocol v%s)",
            self.options.where,
            self._cluster.protocol_version,
        )

    def _open(self) -> tuple[Any, Any]:
        cluster = self._new_cluster()
        try:
            return cluster, cluster.connect()
        except BaseException:
            cluster.shutdown()
            raise

    def _new_cluster(self) -> Any:
        options = self.options
        profile = ExecutionProfile(
            load_balancing_policy=TokenAwarePolicy(
                DCAwareRoundRobinPolicy(local_dc=options.local_dc or "")
            ),
            consistency_level=options.consistency,
            serial_consistency_level=options.serial_consistency,
            request_timeout=options.request_timeout,
            row_factory=tuple_factory,
        )
        auth = None
        if options.username is not None:
            auth = PlainTextAuthProvider(options.username, options.password or "")
        negotiated = {}
        if options.protocol_version is not None:
            negotiated["protocol_version"] = options.protocol_version
        return Cluster(
            contact_points=list(options.hosts),
            port=options.port,
            execution_profiles={EXEC_PROFILE_DEFAULT: profile},
            auth_provider=auth,
            connect_timeout=options.connect_timeout,
            control_connection_timeout=options.connect_timeout,
            max_schema_agreement_wait=_SCHEMA_AGREEMENT_WAIT,
            **negotiated,
        )

    async def close(self) -> None:
        executor, self._executor = self._executor, None
        cluster, self._cluster, self._session = self._cluster, None, None
        if executor is None:
            return
        self._prepared.clear()
        self._table_ids.clear()
        try:
            if cluster is not None:
                loop = asyncio.get_running_loop()
                await loop.run_in_executor(executor, cluster.shutdown)
        except _DRIVER_ERRORS as exc:
            # Closing is best effort: the connections are gone either way.
            log.warning("closing Cassandra at %s: %s", self.options.where, exc)
        finally:
            executor.shutdown(wait=False)

    async def ping(self) -> None:
        await self._execute(
            SimpleStatement("SELECT release_version FROM system.local"), "ping"
        )

    # Schema

    async def create_schema(self, metas: Sequence[EntityMeta]) -> None:
        await self._change_schema(self._create_keyspace())
        for meta in metas:
            table = self._table(meta)
            await self._change_schema(table.create_table())
            indexed = await self._indexed_columns(meta.table)
            for column in meta.indexes:
                if column not in indexed:
                    await self._change_schema(table.create_index(column))
            for column in meta.indexes:
                await self._until_queryable(table, column)

    def _create_keyspace(self) -> str:
        options = self.options
        if options.local_dc is None:
            replication = (
                "{'class': 'SimpleStrategy', "
                f"'replication_factor': {options.replication_factor:d}}}"
            )
        else:
            replication = (
                "{'class': 'NetworkTopologyStrategy', "
                f"{_literal(options.local_dc)}: {options.replication_factor:d}}}"
            )
        return (
            f"CREATE KEYSPACE IF NOT EXISTS {_quote(options.keyspace)} "
            f"WITH replication = {replication}"
        )

    async def _change_schema(self, cql: str) -> None:
        log.debug("schema change on %s: %s", self.options.where, cql)
        result = await self._execute(
            SimpleStatement(cql), "schema change", timeout=_SCHEMA_TIMEOUT
        )
        if not result.response_future.is_schema_agreed:
            raise DatabaseUnavailable(
                f"Cassandra at {self.options.where}: the nodes did not agree on "
                f"the schema within {_SCHEMA_AGREEMENT_WAIT} s; check that every "
                "node is up, then create the schema again"
            )

    async def _indexed_columns(self, table: str) -> set[str]:
        """Columns of ``table`` that already carry an index, whatever its name."""
        statement = await self._prepare(
            "SELECT options FROM system_schema.indexes "
            "WHERE keyspace_name = ? AND table_name = ?"
        )
        result = await self._execute(
            statement.bind((self.options.keyspace, table)), "read the schema"
        )
        columns = set()
        for (options,) in result.current_rows:
            target = (options or {}).get("target", "")
            if len(target) > 1 and target[0] == target[-1] == '"':
                target = target[1:-1].replace('""', '"')
            columns.add(target)
        return columns

    async def _until_queryable(self, table: _Table, column: str) -> None:
        """Wait while an index is built over the rows already in its table.

        Until then a lookup by it fails, so a probe lookup is retried.
        """
        cql, values = table.probe(column)
        probe = await self._prepare(cql)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + _SCHEMA_TIMEOUT
        delay = 0.05
        while True:
            try:
                await self._execute(probe.bind(values), "probe an index")
                return
            except DatabaseUnavailable as exc:
                building = isinstance(exc.__cause__, CoordinationFailure)
                if not building or loop.time() > deadline:
                    raise
            log.debug("waiting for the index on %s.%s", table.meta.table, column)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 1.0)

    # Keyed reads and writes

    async def save(
        self, meta: EntityMeta, row: Row, companions: Companions | None = None
    ) -> Row | None:
        table = self._table(meta)
        select = await self._prepare(table.select_key)
        insert = await self._prepare(table.insert)

        previous = await self._one(table, select.bind(table.key_values(row)))
        write = insert.bind(table.encode_row(row))
        extras = companions(previous) if companions else ()
        await self._execute(await self._with_companions(write, extras), "save")
        return previous

    async def _with_companions(self, write: Any, extras: Sequence[Companion]) -> Any:
        """``write`` alone, or in a logged batch with the companion rows."""
        if not extras:
            return write
        batch = BatchStatement(batch_type=BatchType.LOGGED)
        batch.add(write)
        for companion in extras:
            table = self._table(companion.meta)
            values = table.encode_row(companion.row)
            if companion.ttl is None:
                batch.add((await self._prepare(table.insert)).bind(values))
            else:
                statement = await self._prepare(table.insert_with_ttl)
                batch.add(statement.bind([*values, companion.ttl]))
        return batch

    async def get(self, meta: EntityMeta, key: Mapping[str, Any]) -> Row | None:
        table = self._table(meta)
        select = await self._prepare(table.select_key)
        return await self._one(table, select.bind(table.key_values(key)))

    async def delete(
        self,
        meta: EntityMeta,
        key: Mapping[str, Any],
        companions: Companions | None = None,
    ) -> Row | None:
        table = self._table(meta)
        select = await self._prepare(table.select_key)
        delete = await self._prepare(table.delete_key)

        values = table.key_values(key)
        previous = await self._one(table, select.bind(values))
        if previous is not None:
            extras = companions(previous) if companions else ()
            statement = await self._with_companions(delete.bind(values), extras)
            await self._execute(statement, "delete")
        return previous

    async def expire(self, meta: EntityMeta, column: str, before: datetime) -> None:
        """Nothing to do: rows that must expire are written with a TTL."""

    async def _one(self, table: _Table, bound: Any) -> Row | None:
        result = await self._execute(bound, "read")
        rows = result.current_rows
        return table.decode_row(rows[0]) if rows else None

    # Paged reads

    async def fetch(self, query: Query, cursor: Any | None) -> tuple[list[Row], Any]:
        table = self._table(query.meta)
        cql, values = table.fetch(query)
        statement = await self._prepare(cql)
        signer = await self._signer(query)
        state = None if cursor is None else signer.verify(cursor)

        found: list[Any] = []
        for _ in range(_MAX_PAGE_REQUESTS):
            wanted = query.limit - len(found)
            # A full page peeks at one more row, so that the last page says
            # so rather than pointing at an empty one.
            bound = statement.bind(values)
            bound.fetch_size = wanted or 1
            result = await self._execute(bound, "read a page", paging_state=state)
            if wanted == 0 and result.current_rows:
                break
            found.extend(result.current_rows)
            if not result.has_more_pages:
                state = None
                break
            state = result.paging_state

        rows = [table.decode_row(stored) for stored in found]
        return rows, None if state is None else signer.sign(state)

    async def _signer(self, query: Query) -> _PagingStateSigner:
        table_id = self._table_ids.get(query.meta.table)
        if table_id is None:
            statement = await self._prepare(
                "SELECT id FROM system_schema.tables "
                "WHERE keyspace_name = ? AND table_name = ?"
            )
            bound = statement.bind((self.options.keyspace, query.meta.table))
            result = await self._execute(bound, "read the schema")
            if not result.current_rows:
                raise DatabaseUnavailable(
                    f"Cassandra at {self.options.where}: no table "
                    f"{query.meta.table!r}; create the schema first"
                )
            table_id = self._table_ids[query.meta.table] = result.current_rows[0][0]
        return _PagingStateSigner(
            self._page_token_key + table_id.bytes,
            f"{self.options.keyspace}\0{query.fingerprint()}".encode(),
        )

    # The driver boundary

    def _table(self, meta: EntityMeta) -> _Table:
        table = self._tables.get(meta.cls)
        if table is None or table.meta is not meta:
            table = self._tables[meta.cls] = _Table(meta, self.options.keyspace)
        return table

    async def _prepare(self, cql: str) -> Any:
        """The prepared statement for ``cql``, prepared once per connector."""
        statement = self._prepared.get(cql)
        if statement is not None:
            return statement
        pending = self._preparing.get(cql)
        if pending is None:
            pending = asyncio.ensure_future(
                self._blocking(self._prepare_now, "prepare", cql)
            )
            self._preparing[cql] = pending
            pending.add_done_callback(lambda _: self._preparing.pop(cql, None))
        statement = await asyncio.shield(pending)
        self._prepared[cql] = statement
        return statement

    def _prepare_now(self, cql: str) -> Any:
        statement = self._require_session().prepare(cql)
        # Every statement here writes whole rows or reads: safe to retry.
        statement.is_idempotent = True
        log.debug("prepared on %s: %s", self.options.where, cql)
        return statement

    async def _blocking(self, fn: Callable[..., T], doing: str, *args: Any) -> T:
        """Run a synchronous driver call on the thread pool."""
        if self._executor is None:
            raise DatabaseUnavailable(
                f"Cassandra at {self.options.where}: the connector is not connected"
            )
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, fn, *args)
        except OrmError:
            raise
        except _DRIVER_ERRORS as exc:
            raise self._unavailable(doing, exc) from exc

    async def _execute(
        self,
        statement: Any,
        doing: str,
        *,
        paging_state: bytes | None = None,
        timeout: float | None = None,
    ) -> Any:
        """Run one statement without blocking the loop; returns its ResultSet."""
        session = self._require_session()
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        try:
            response = session.execute_async(
                statement,
                paging_state=paging_state,
                timeout=timeout or self.options.request_timeout,
            )
            response.add_callbacks(
                _wake,
                _wake_failed,
                callback_args=(loop, waiter),
                errback_args=(loop, waiter),
            )
            await waiter
            return response.result()
        except OrmError:
            raise
        except _DRIVER_ERRORS as exc:
            raise self._unavailable(doing, exc) from exc

    def _require_session(self) -> Any:
        if self._session is None:
            raise DatabaseUnavailable(
                f"Cassandra at {self.options.where}: the connector is not connected"
            )
        return self._session

    def _unavailable(self, doing: str, exc: BaseException) -> DatabaseUnavailable:
        return DatabaseUnavailable(
            f"Cassandra at {self.options.where}: {doing} failed: "
            f"{type(exc).__name__}: {exc}"
        )


def _wake(
    _result: Any, loop: asyncio.AbstractEventLoop, waiter: asyncio.Future[None]
) -> None:
    _call_in_loop(loop, waiter, None)


def _wake_failed(
    exc: BaseException, loop: asyncio.AbstractEventLoop, waiter: asyncio.Future[None]
) -> None:
    _call_in_loop(loop, waiter, exc)


def _call_in_loop(
    loop: asyncio.AbstractEventLoop,
    waiter: asyncio.Future[None],
    exc: BaseException | None,
) -> None:
    # Runs on the driver's I/O thread (or at once, if the response is in).
    try:
        loop.call_soon_threadsafe(_settle, waiter, exc)
    except RuntimeError:
        log.debug("a Cassandra response arrived after its event loop closed")


def _settle(waiter: asyncio.Future[None], exc: BaseException | None) -> None:
    if waiter.done():
        return
    if exc is None:
        waiter.set_result(None)
    else:
        waiter.set_exception(exc)


class _PagingStateSigner:
    """Seals the driver's paging state into a cursor, and opens only those.

    Cassandra answers a malformed paging state with a protocol error, on
    which the driver closes the connection: a forged page token must never
    reach the server. The cursor is the paging state followed by an HMAC
    over it and the query, keyed by the application's key and the table's
    id, so a token is good for one query on one table, on every node.
    """

    def __init__(self, key: bytes, context: bytes) -> None:
        self._key = key
        self._context = context

    def sign(self, state: bytes) -> str:
        return base64.urlsafe_b64encode(state + self._mac(state)).decode("ascii")

    def verify(self, cursor: Any) -> bytes:
        """The paging state inside an untrusted cursor, or ``InvalidPageToken``."""
        if not isinstance(cursor, str) or not 0 < len(cursor) <= _MAX_CURSOR_LENGTH:
            raise InvalidPageToken("page token does not fit this query")
        try:
            sealed = base64.urlsafe_b64decode(cursor.encode("ascii"))
        except (binascii.Error, UnicodeEncodeError, ValueError):
            raise InvalidPageToken("page token does not fit this query") from None
        state, mac = sealed[:-_MAC_LENGTH], sealed[-_MAC_LENGTH:]
        if not state or not hmac.compare_digest(mac, self._mac(state)):
            raise InvalidPageToken("page token does not fit this query")
        return state

    def _mac(self, state: bytes) -> bytes:
        message = self._context + b"\0" + state
        return hmac.digest(self._key, message, "sha256")[:_MAC_LENGTH]
