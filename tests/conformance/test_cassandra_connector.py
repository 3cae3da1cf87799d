"""The Cassandra connector against a real Cassandra (or ScyllaDB) node.

The server comes from ``ROOMCAST_TEST_CASSANDRA_URL`` (``make services``
writes it to ``var/services.env``); each run works in a keyspace of its own,
dropped at the end. Without the variable the module is skipped, unless ``CI``
is set. The same tests pass with cassandra-driver and with scylla-driver.
"""

from __future__ import annotations

import asyncio
import base64
import math
import socket
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import attrs
import cassandra
import pytest
import pytest_asyncio
from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile, Session
from cassandra.policies import RoundRobinPolicy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import orm
from orm.cassandra import CassandraConnector
from orm.paging import decode_token, encode_token
from tests.conformance.entities import Event, Message, Reading, Values
from tests.conformance.helpers import (
    all_pages,
    closed_port,
    flat,
    make_timeuuid,
    unique,
)
from tests.support import service_url

BASE_URL = service_url("cassandra")

RUN_KEYSPACE = f"roomcast_conformance_{uuid.uuid4().hex[:12]}"


def _with_keyspace(url: str, name: str, **options: str) -> str:
    parts = urlsplit(url)
    query = urlencode({**dict(parse_qsl(parts.query)), **options})
    return urlunsplit(parts._replace(path=f"/{name}", query=query))


RUN_URL = _with_keyspace(BASE_URL, RUN_KEYSPACE)
SERVER = orm.parse_url(BASE_URL)
HOST, PORT = SERVER.hosts[0], SERVER.port or 9042

pytestmark = pytest.mark.asyncio


# Entities

ENTITIES = [Values, Event, Message, Reading]

# Fixtures and helpers


@pytest.fixture(scope="module")
def raw() -> Iterator[Session]:
    """A plain driver session, to look at the schema; drops the run's keyspaces."""
    profile = ExecutionProfile(load_balancing_policy=RoundRobinPolicy())
    cluster = Cluster(
        [HOST],
        port=PORT,
        execution_profiles={EXEC_PROFILE_DEFAULT: profile},
        connect_timeout=5,
    )
    session = cluster.connect()
    yield session
    rows = session.execute(
        "SELECT keyspace_name FROM system_schema.keyspaces", timeout=30
    )
    for (name,) in rows:
        if name.startswith(RUN_KEYSPACE):
            session.execute(f'DROP KEYSPACE IF EXISTS "{name}"', timeout=60)
    cluster.shutdown()


@pytest_asyncio.fixture
async def database(raw: Session) -> AsyncIterator[orm.Database]:
    db = orm.Database(CassandraConnector(orm.parse_url(RUN_URL)))
    await db.connect()
    await db.create_schema(ENTITIES)
    yield db
    await db.close()


class Relay:
    """A TCP relay in the test's own event loop, in front of the test server.

    Requests through it succeed only if the connector leaves the loop free
    while it waits; ``stop`` makes the server vanish mid-test.
    """

    def __init__(self) -> None:
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []

    async def start(self) -> Relay:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self._writers:
            writer.close()
        await self._server.wait_closed()

    async def _accept(
        self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter
    ) -> None:
        server_reader, server_writer = await asyncio.open_connection(HOST, PORT)
        self._writers += [client_writer, server_writer]
        await asyncio.gather(
            self._copy(client_reader, server_writer),
            self._copy(server_reader, client_writer),
            return_exceptions=True,
        )

    @staticmethod
    async def _copy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while chunk := await reader.read(65536):
                writer.write(chunk)
                await writer.drain()
        finally:
            writer.close()


def schema_rows(
    raw: Session, table: str, what: str, keyspace: str = RUN_KEYSPACE
) -> Any:
    return list(
        raw.execute(
            f"SELECT * FROM system_schema.{what} "
            "WHERE keyspace_name = %s AND table_name = %s",
            (keyspace, table),
        )
    )


# Keyed writes and lifecycle events


async def test_save_find_remove_announce_each_write(database: orm.Database) -> None:
    events: list[orm.LifecycleEvent] = []
    database.add_listener(events.append)
    repository = database.repository(Event)
    stream = unique()

    created = await repository.save(Event(stream, 1, "draft", "hello"))
    assert Event(stream, 1, "draft", "hello") == created
    assert created == await repository.find_one({"stream": stream, "seq": 1})

    await repository.save(Event(stream, 1, "final", "hello"))
    removed = await repository.remove(Event(stream, 1, "ignored", "ignored"))
    assert Event(stream, 1, "final", "hello") == removed
    assert None is await repository.find_one({"stream": stream, "seq": 1})
    with pytest.raises(orm.NotFound):
        await repository.remove(removed)

    expected_actions = ["created", "updated", "deleted"]
    assert expected_actions == [e.action for e in events]
    assert {"tag": orm.Change("draft", "final")} == events[1].changes
    assert created == events[0].entity
    assert removed == events[2].entity


async def test_connector_returns_replaced_and_deleted_rows(
    database: orm.Database,
) -> None:
    connector = database.connector
    meta = orm.entity_meta(Event)
    key = {"stream": unique(), "seq": 7}
    first = {**key, "tag": "a", "body": "one"}
    second = {**key, "tag": "b", "body": "two"}

    assert None is await connector.save(meta, first)
    assert first == await connector.save(meta, second)
    assert second == await connector.get(meta, key)
    assert second == await connector.delete(meta, key)
    assert None is await connector.delete(meta, key)
    assert None is await connector.get(meta, key)


async def test_saving_none_clears_the_previous_value(database: orm.Database) -> None:
    repository = database.repository(Values)
    full = Values(
        uuid.uuid4(), "text", 1, 1.5, True, datetime.now(UTC), uuid.uuid4(),
        orm.time_uuid(), {"a": 1}, [1],
    )  # fmt: skip
    await repository.save(full)

    await repository.save(Values(full.id))

    assert Values(full.id) == await repository.find_one({"id": full.id})


# Values


VALUE_CASES = [
    pytest.param({}, id="all-missing"),
    pytest.param({"text": ""}, id="empty-text"),
    pytest.param({"text": "héllo wörld — 你好 🎉 \u0000 \t"}, id="unicode"),
    pytest.param({"text": "x" * (1 << 20)}, id="1MiB-text"),
    pytest.param({"text": "é" * (1 << 19)}, id="1MiB-utf8-text"),
    pytest.param({"number": 2**63 - 1}, id="int64-max"),
    pytest.param({"number": -(2**63)}, id="int64-min"),
    pytest.param({"number": 0}, id="int-zero"),
    pytest.param({"ratio": 0.1}, id="float"),
    pytest.param({"ratio": -0.0}, id="negative-zero"),
    pytest.param({"ratio": 5e-324}, id="subnormal-float"),
    pytest.param({"flag": False}, id="false"),
    pytest.param({"flag": True}, id="true"),
    pytest.param({"ref": uuid.UUID(int=0)}, id="nil-uuid"),
    pytest.param({"ref": uuid.uuid4()}, id="uuid4"),
    pytest.param({"stamp": orm.time_uuid()}, id="timeuuid"),
    pytest.param({"data": {}}, id="empty-dict"),
    pytest.param({"items": []}, id="empty-list"),
    pytest.param(
        {"data": {"a": [1, {"b": [None, True, 2.5, "ü", {"c": {}}]}], "": ""}},
        id="nested-json",
    ),
    pytest.param({"items": [[[[]]], {"k": 2**63 - 1}, -(2**70)]}, id="json-list"),
]


@pytest.mark.parametrize("values", VALUE_CASES)
async def test_values_round_trip(
    database: orm.Database, values: dict[str, Any]
) -> None:
    repository = database.repository(Values)
    item = Values(uuid.uuid4(), **values)

    await repository.save(item)
    found = await repository.find_one({"id": item.id})

    assert item == found
    assert found is not None
    for name in attrs.fields_dict(Values):
        expected = getattr(item, name)
        assert type(expected) is type(getattr(found, name)), name
    if found.ratio is not None:
        assert math.copysign(1, values["ratio"]) == math.copysign(1, found.ratio)


async def test_empty_text_and_missing_text_stay_apart(database: orm.Database) -> None:
    repository = database.repository(Values)
    empty, missing = Values(uuid.uuid4(), text=""), Values(uuid.uuid4(), text=None)
    await repository.save(empty)
    await repository.save(missing)

    found_empty = await repository.find_one({"id": empty.id})
    found_missing = await repository.find_one({"id": missing.id})

    assert found_empty is not None
    assert found_missing is not None
    assert found_empty.text == ""
    assert None is found_missing.text


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        pytest.param(
            datetime(2024, 2, 29, 23, 59, 59, 999999, timezone(timedelta(hours=5.5))),
            datetime(2024, 2, 29, 18, 29, 59, 999000, UTC),
            id="offset-truncated-to-ms",
        ),
        pytest.param(
            datetime(2024, 7, 1, 12, 0, 0, 123000, UTC),
            datetime(2024, 7, 1, 12, 0, 0, 123000, UTC),
            id="milliseconds",
        ),
        pytest.param(
            datetime(1969, 12, 31, 23, 59, 59, 1000, UTC),
            datetime(1969, 12, 31, 23, 59, 59, 1000, UTC),
            id="before-epoch",
        ),
        pytest.param(
            datetime(1, 1, 1, tzinfo=UTC), datetime(1, 1, 1, tzinfo=UTC), id="year-1"
        ),
        pytest.param(
            datetime(9999, 12, 31, 23, 59, 59, 999999, UTC),
            datetime(9999, 12, 31, 23, 59, 59, 999000, UTC),
            id="year-9999",
        ),
    ],
)
async def test_datetimes_come_back_in_utc_at_ms(
    database: orm.Database, given: datetime, expected: datetime
) -> None:
    repository = database.repository(Values)
    item = Values(uuid.uuid4(), when=given)

    stored = await repository.save(item)
    found = await repository.find_one({"id": item.id})

    assert found is not None
    assert expected == found.when == stored.when
    assert found.when is not None
    assert timedelta(0) == found.when.utcoffset()


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    text=st.text(),
    number=st.integers(-(2**63), 2**63 - 1),
    when=st.datetimes(timezones=st.just(UTC)),
    data=st.dictionaries(st.text(max_size=8), json_values, max_size=5),
)
async def test_any_value_round_trips(
    database: orm.Database,
    text: str,
    number: int,
    when: datetime,
    data: dict[str, Any],
) -> None:
    repository = database.repository(Values)
    item = Values(uuid.uuid4(), text=text, number=number, when=when, data=data)

    stored = await repository.save(item)

    assert stored == await repository.find_one({"id": item.id})


# Schema


async def test_schema_declares_types_keys_and_order(
    database: orm.Database, raw: Session
) -> None:
    await database.create_schema(ENTITIES)

    columns = {
        row.column_name: row for row in schema_rows(raw, "conf_values", "columns")
    }
    readings = {
        row.column_name: row for row in schema_rows(raw, "conf_readings", "columns")
    }
    indexes = [
        row.options["target"] for row in schema_rows(raw, "conf_readings", "indexes")
    ]

    expected_types = {
        "id": "uuid",
        "text": "text",
        "number": "bigint",
        "ratio": "double",
        "flag": "boolean",
        "when": "timestamp",
        "ref": "uuid",
        "stamp": "timeuuid",
        "data": "text",
        "items": "text",
    }
    assert expected_types == {name: row.type for name, row in columns.items()}
    expected_keys = {
        "site": ("partition_key", 0, "none"),
        "bucket": ("partition_key", 1, "none"),
        "at": ("clustering", 0, "asc"),
        "sensor": ("clustering", 1, "desc"),
    }
    assert expected_keys == {
        name: (row.kind, row.position, row.clustering_order)
        for name, row in readings.items()
        if row.kind != "regular"
    }
    expected_indexes = ["status"]
    assert expected_indexes == indexes


async def test_keyspace_takes_replication_from_the_url(raw: Session) -> None:
    # More replicas than nodes: the keyspace and its tables are still made.
    for suffix, options, expected in [
        (
            "_simple",
            {"replication_factor": "2"},
            {
                "class": "org.apache.cassandra.locator.SimpleStrategy",
                "replication_factor": "2",
            },
        ),
        (
            "_network",
            {"replication_factor": "3", "local_dc": "datacenter1"},
            {
                "class": "org.apache.cassandra.locator.NetworkTopologyStrategy",
                "datacenter1": "3",
            },
        ),
    ]:
        keyspace = RUN_KEYSPACE + suffix
        query = "&".join(f"{name}={value}" for name, value in options.items())
        url = f"cassandra://{HOST}:{PORT}/{keyspace}?{query}"
        db = orm.Database(CassandraConnector(orm.parse_url(url)))
        await db.connect()
        await db.create_schema([Message])
        await db.close()

        row = raw.execute(
            "SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = %s",
            (keyspace,),
        ).one()
        assert expected == dict(row.replication)


async def test_schema_is_idempotent(database: orm.Database, raw: Session) -> None:
    repository = database.repository(Event)
    item = await repository.save(Event(unique(), 1, "kept"))

    await database.create_schema(ENTITIES)
    await database.create_schema(ENTITIES)

    assert item == await repository.find_one({"stream": item.stream, "seq": 1})
    assert len(schema_rows(raw, "conf_events", "indexes")) == 1


async def test_indexes_are_added_to_an_existing_table(
    database: orm.Database, raw: Session
) -> None:
    table = unique("conf_late_")

    @orm.entity(table, partition_key=["id"])
    @attrs.define
    class Before:
        id: str
        colour: str
        size: int

    @orm.entity(table, partition_key=["id"], indexes=["colour", "size"])
    @attrs.define
    class After:
        id: str
        colour: str
        size: int

    await database.create_schema([Before])
    await database.repository(Before).save(Before("a", "red", 1))
    await database.repository(Before).save(Before("b", "blue", 1))
    # An index that someone made by hand, under a name of their own.
    raw.execute(
        f'CREATE INDEX by_hand ON "{RUN_KEYSPACE}"."{table}" (size)', timeout=60
    )
    assert [r.options["target"] for r in schema_rows(raw, table, "indexes")] == ["size"]

    await database.create_schema([After])
    after = database.repository(After)

    targets = sorted(r.options["target"] for r in schema_rows(raw, table, "indexes"))
    expected_targets = ["colour", "size"]
    assert expected_targets == targets
    assert [After("a", "red", 1)] == (await after.find({"colour": "red"})).items
    found = (await after.find({"size": 1})).items
    assert [After("a", "red", 1), After("b", "blue", 1)] == sorted(
        found, key=lambda a: a.id
    )


async def test_missing_table_is_unavailable(database: orm.Database) -> None:
    @orm.entity(
        unique("conf_never_created_"), partition_key=["id"], clustering={"n": "asc"}
    )
    @attrs.define
    class Never:
        id: str
        n: int

    repository = database.repository(Never)

    for call in [
        repository.save(Never("a", 1)),
        repository.find_one({"id": "a", "n": 1}),
        repository.find({"id": "a"}),
    ]:
        with pytest.raises(orm.DatabaseUnavailable) as caught:
            await call
        assert isinstance(caught.value.__cause__, cassandra.DriverException)
    await database.ping()


# Queries and pages


async def _save_stream(database: orm.Database, count: int) -> tuple[str, list[Event]]:
    repository = database.repository(Event)
    stream = unique()
    items = [Event(stream, seq, "t", f"#{seq}") for seq in range(count)]
    await asyncio.gather(*(repository.save(item) for item in items))
    return stream, items


@pytest.mark.parametrize("limit", [1, 7, 10, 59, 60, 61, 100])
async def test_pages_cover_every_row_once(database: orm.Database, limit: int) -> None:
    stream, items = await _save_stream(database, 60)
    repository = database.repository(Event)

    pages = await all_pages(repository, {"stream": stream}, limit)

    assert items == flat(pages)
    assert math.ceil(60 / limit) == len(pages)
    assert all(limit == len(page) for page in pages[:-1])
    assert pages[-1]


@pytest.mark.parametrize("limit", [4, 5])
async def test_pages_in_reverse_order(database: orm.Database, limit: int) -> None:
    stream, items = await _save_stream(database, 20)
    repository = database.repository(Event)

    pages = await all_pages(repository, {"stream": stream}, limit, order="desc")
    declared = await all_pages(repository, {"stream": stream}, limit, order="asc")

    assert items[::-1] == flat(pages)
    assert items == flat(declared)
    assert math.ceil(20 / limit) == len(pages)


async def test_pages_of_a_range(database: orm.Database) -> None:
    stream, items = await _save_stream(database, 30)
    repository = database.repository(Event)
    filters = {"stream": stream, "seq": orm.gt(5) & orm.le(25)}

    pages = await all_pages(repository, filters, 6)
    reverse = await all_pages(repository, filters, 6, order="desc")
    above = await all_pages(repository, {"stream": stream, "seq": orm.ge(27)}, 2)
    below = await all_pages(repository, {"stream": stream, "seq": orm.lt(2)}, 2)

    assert items[6:26] == flat(pages)
    assert items[25:5:-1] == flat(reverse)
    assert items[27:] == flat(above)
    assert items[:2] == flat(below)
    assert len(below) == 1


async def test_page_size_may_change_between_pages(database: orm.Database) -> None:
    stream, items = await _save_stream(database, 20)
    repository = database.repository(Event)

    first = await repository.find({"stream": stream}, limit=3)
    rest = await repository.find(
        {"stream": stream}, limit=100, page_token=first.next_page_token
    )

    assert items == first.items + rest.items
    assert None is rest.next_page_token


async def test_timeuuids_order_by_time(database: orm.Database) -> None:
    repository = database.repository(Message)
    channel = uuid.uuid4()
    # The low 32 bits fall while the time rises: byte order is reversed.
    ids = [
        make_timeuuid(0x1EF_0000_0000_0000 + i * (1 << 32) + 100 - i) for i in range(30)
    ]
    assert sorted(ids) == ids[::-1]
    items = [Message(channel, id_, f"message {i}") for i, id_ in enumerate(ids)]
    await asyncio.gather(*(repository.save(item) for item in items))

    newest_first = await all_pages(repository, {"channel": channel}, 7)
    oldest_first = await all_pages(repository, {"channel": channel}, 7, order="asc")
    window = await all_pages(
        repository, {"channel": channel, "id": orm.ge(ids[10]) & orm.lt(ids[20])}, 3
    )

    assert items[::-1] == flat(newest_first)
    assert items == flat(oldest_first)
    assert items[19:9:-1] == flat(window)


async def test_time_uuid_from_the_clock_orders_by_time(database: orm.Database) -> None:
    repository = database.repository(Message)
    channel = uuid.uuid4()
    items = [Message(channel, orm.time_uuid(), str(i)) for i in range(10)]
    for item in items:
        await repository.save(item)

    page = await repository.find({"channel": channel}, limit=100)

    assert items[::-1] == page.items


async def _save_readings(database: orm.Database) -> tuple[list[Reading], list[Any]]:
    repository = database.repository(Reading)
    site = unique()
    start = datetime(2024, 5, 1, tzinfo=UTC)
    times = [start + timedelta(milliseconds=ms) for ms in (0, 1, 1000, 60_000, 1001)]
    sensors = [uuid.uuid4() for _ in range(7)]
    status = unique("status-")
    items = [
        Reading(site, 3, at, sensor, status if i % 2 else "ok", float(i))
        for i, (at, sensor) in enumerate((t, s) for t in times for s in sensors)
    ]
    await asyncio.gather(*(repository.save(item) for item in items))
    return items, [site, times, sensors, status]


@pytest.mark.parametrize("limit", [3, 5, 8, 35])
async def test_pages_over_mixed_clustering_order(
    database: orm.Database, limit: int
) -> None:
    items, (site, times, _, _) = await _save_readings(database)
    repository = database.repository(Reading)
    declared = sorted(
        sorted(items, key=lambda r: r.sensor, reverse=True), key=lambda r: r.at
    )
    reverse = declared[::-1]
    partition = {"site": site, "bucket": 3}

    pages = await all_pages(repository, partition, limit)
    backwards = await all_pages(repository, partition, limit, order="desc")
    ranged = await all_pages(
        repository, {**partition, "at": orm.ge(times[1]) & orm.lt(times[3])}, limit
    )

    assert declared == flat(pages)
    assert reverse == flat(backwards)
    in_range = [r for r in declared if times[1] <= r.at < times[3]]
    assert in_range == flat(ranged)
    assert math.ceil(35 / limit) == len(pages) == len(backwards)


async def test_range_on_second_clustering_column(database: orm.Database) -> None:
    items, (site, times, sensors, _) = await _save_readings(database)
    repository = database.repository(Reading)
    pivot = sorted(sensors)[3]
    filters = {"site": site, "bucket": 3, "at": times[2], "sensor": orm.lt(pivot)}

    pages = await all_pages(repository, filters, 2)
    reverse = await all_pages(repository, filters, 2, order="desc")

    expected = sorted(
        (r for r in items if r.at == times[2] and r.sensor < pivot),
        key=lambda r: r.sensor,
        reverse=True,
    )
    assert len(expected) == 3
    assert expected == flat(pages)
    assert expected[::-1] == flat(reverse)


@pytest.mark.parametrize("limit", [1, 4, 17, 18, 100])
async def test_index_lookup_across_partitions(
    database: orm.Database, limit: int
) -> None:
    repository = database.repository(Event)
    tag = unique("tag-")
    streams = [unique() for _ in range(6)]
    items = [Event(s, seq, tag) for s in streams for seq in range(3)]
    others = [Event(s, seq + 100, "other") for s in streams for seq in range(3)]
    await asyncio.gather(*(repository.save(i) for i in [*items, *others]))

    pages = await all_pages(repository, {"tag": tag}, limit)
    found = flat(pages)

    # Partitions come in token order; rows inside each in clustering order.
    assert sorted(items, key=attrs.astuple) == sorted(found, key=attrs.astuple)
    assert math.ceil(18 / limit) == len(pages)
    for stream in streams:
        assert [i for i in items if i.stream == stream] == [
            f for f in found if f.stream == stream
        ]


async def test_index_lookup_inside_a_partition(database: orm.Database) -> None:
    items, (site, _, _, status) = await _save_readings(database)
    repository = database.repository(Reading)
    declared = sorted(
        sorted(items, key=lambda r: r.sensor, reverse=True), key=lambda r: r.at
    )

    pages = await all_pages(
        repository, {"site": site, "bucket": 3, "status": status}, 4
    )

    assert [r for r in declared if r.status == status] == flat(pages)
    assert await repository.find_one({"status": status}) in items


async def test_no_pages_past_an_empty_partition(database: orm.Database) -> None:
    repository = database.repository(Event)

    page = await repository.find({"stream": unique()})

    assert orm.Page([], None) == page


async def test_each_statement_is_prepared_once(
    database: orm.Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    prepared: list[str] = []
    original = Session.prepare

    def counting(self: Session, query: str, *args: Any, **kwargs: Any) -> Any:
        prepared.append(query)
        return original(self, query, *args, **kwargs)

    monkeypatch.setattr(Session, "prepare", counting)
    repository = database.repository(Event)
    # Five saves at once, before any statement of theirs is prepared.
    await _save_stream(database, 5)
    for _ in range(3):
        stream, _ = await _save_stream(database, 5)
        await repository.find({"stream": stream}, limit=2)
        await repository.find({"stream": stream, "seq": orm.gt(1)}, limit=2)
        await repository.find_one({"stream": stream, "seq": 1})
        await repository.remove(Event(stream, 1, ""))

    # SELECT and INSERT by key, two SELECT shapes, DELETE, the table's id.
    assert len(prepared) == len(set(prepared)) == 6
    assert all("?" in cql and "'" not in cql for cql in prepared)


# Page tokens


async def test_malformed_and_foreign_page_tokens_are_refused(
    database: orm.Database,
) -> None:
    stream, _ = await _save_stream(database, 10)
    other, _ = await _save_stream(database, 10)
    repository = database.repository(Event)
    token = (await repository.find({"stream": other}, limit=3)).next_page_token
    assert token is not None

    for bad in ["", "not a token", "e30", token, token[:-2], "A" * 9000]:
        with pytest.raises(orm.InvalidPageToken):
            await repository.find({"stream": stream}, limit=3, page_token=bad)


def _forge(cls: type, filters: dict[str, Any], cursor: Any) -> str:
    """A token for ``filters`` as a client could write it, around ``cursor``."""
    query = orm.plan(orm.entity_meta(cls), filters, limit=3)
    return encode_token(query.fingerprint(), cursor)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode()


@pytest.mark.parametrize(
    "cursor",
    [
        17,
        [],
        ["x"],
        {"state": "AAAA"},
        "",
        "not base64!",
        "AAA",
        _b64(b"\x00"),
        _b64(b"\x00" * 16),
        _b64(bytes(range(48))),
        _b64(b"\xff" * 100),
        "A" * 5000,
    ],
)
async def test_forged_cursors_never_reach_the_server(
    database: orm.Database, cursor: Any
) -> None:
    stream, items = await _save_stream(database, 10)
    filters = {"stream": stream}
    repository = database.repository(Event)

    with pytest.raises(orm.InvalidPageToken):
        await repository.find(
            filters, limit=3, page_token=_forge(Event, filters, cursor)
        )

    # The connection survived: a paging state the server cannot read would
    # have made the driver drop it.
    await database.ping()
    assert items[:3] == (await repository.find(filters, limit=3)).items


async def test_tampered_cursors_are_refused(database: orm.Database) -> None:
    stream, items = await _save_stream(database, 10)
    filters = {"stream": stream}
    repository = database.repository(Event)
    token = (await repository.find(filters, limit=3)).next_page_token
    assert token is not None
    query = orm.plan(orm.entity_meta(Event), filters, limit=3)

    sealed = base64.urlsafe_b64decode(decode_token(token, query.fingerprint()))

    for i in range(len(sealed)):
        flipped = bytearray(sealed)
        flipped[i] ^= 0x01
        with pytest.raises(orm.InvalidPageToken):
            await repository.find(
                filters,
                limit=3,
                page_token=_forge(Event, filters, _b64(bytes(flipped))),
            )
    await database.ping()
    resumed = await repository.find(filters, limit=3, page_token=token)
    assert items[3:6] == resumed.items


async def test_a_page_token_serves_every_node_of_an_application(
    database: orm.Database,
) -> None:
    stream, items = await _save_stream(database, 10)
    filters = {"stream": stream}
    url = orm.parse_url(RUN_URL)
    nodes = [
        orm.Database(CassandraConnector(url, page_token_key=key))
        for key in (b"app secret", b"app secret", b"another secret")
    ]
    for node in nodes:
        await node.connect()

    first = await nodes[0].repository(Event).find(filters, limit=4)
    second = (
        await nodes[1]
        .repository(Event)
        .find(filters, limit=4, page_token=first.next_page_token)
    )
    with pytest.raises(orm.InvalidPageToken):
        await (
            nodes[2]
            .repository(Event)
            .find(filters, limit=4, page_token=first.next_page_token)
        )
    with pytest.raises(orm.InvalidPageToken):
        await database.repository(Event).find(
            filters, limit=4, page_token=first.next_page_token
        )

    assert items[:8] == first.items + second.items
    for node in nodes:
        await node.close()


# Availability and configuration


async def test_ping(database: orm.Database) -> None:
    assert database.backend == "cassandra"
    await database.ping()


async def test_unreachable_server_fails_fast() -> None:
    url = orm.parse_url(f"cassandra://127.0.0.1:{closed_port()}/{RUN_KEYSPACE}")
    db = orm.Database(CassandraConnector(url))

    started = time.monotonic()
    with pytest.raises(orm.DatabaseUnavailable) as caught:
        await db.connect()

    assert time.monotonic() - started < 3
    assert isinstance(caught.value.__cause__, cassandra.cluster.NoHostAvailable)
    with pytest.raises(orm.DatabaseUnavailable):
        await db.ping()
    await db.close()


async def test_silent_server_fails_within_the_connect_timeout() -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        url = orm.parse_url(
            f"cassandra://127.0.0.1:{port}/{RUN_KEYSPACE}?connect_timeout=1"
        )
        db = orm.Database(CassandraConnector(url))

        started = time.monotonic()
        with pytest.raises(orm.DatabaseUnavailable):
            await db.connect()

        assert time.monotonic() - started < 5


async def test_unconnected_connector_refuses_every_call() -> None:
    connector = CassandraConnector(orm.parse_url(RUN_URL))
    meta = orm.entity_meta(Event)
    query = orm.plan(meta, {"stream": "x"})

    for call in [
        connector.ping(),
        connector.create_schema([meta]),
        connector.get(meta, {"stream": "x", "seq": 1}),
        connector.delete(meta, {"stream": "x", "seq": 1}),
        connector.save(meta, {"stream": "x", "seq": 1, "tag": "t", "body": ""}),
        connector.fetch(query, None),
    ]:
        with pytest.raises(orm.DatabaseUnavailable):
            await call


async def test_requests_leave_the_event_loop_free(database: orm.Database) -> None:
    relay = await Relay().start()
    url = orm.parse_url(
        f"cassandra://127.0.0.1:{relay.port}/{RUN_KEYSPACE}?request_timeout=5"
    )
    db = orm.Database(CassandraConnector(url))
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.001)
            ticks += 1

    ticker = asyncio.create_task(tick())
    await db.connect()
    repository = db.repository(Event)
    stream = unique()
    await asyncio.gather(*(repository.save(Event(stream, i, "t")) for i in range(50)))
    pages = await all_pages(repository, {"stream": stream}, 7)
    ticker.cancel()

    assert list(range(50)) == [e.seq for e in flat(pages)]
    assert ticks > 10
    await db.close()
    await relay.stop()


async def test_server_that_stops_fails_fast(database: orm.Database) -> None:
    relay = await Relay().start()
    url = orm.parse_url(
        f"cassandra://127.0.0.1:{relay.port}/{RUN_KEYSPACE}?request_timeout=2"
    )
    db = orm.Database(CassandraConnector(url))
    await db.connect()
    repository = db.repository(Event)
    item = await repository.save(Event(unique(), 1, "t"))

    await relay.stop()
    for call in [
        repository.find_one({"stream": item.stream, "seq": 1}),
        repository.save(item),
        repository.find({"stream": item.stream}),
        db.ping(),
    ]:
        started = time.monotonic()
        with pytest.raises(orm.DatabaseUnavailable) as caught:
            await call
        assert time.monotonic() - started < 5
        assert isinstance(caught.value.__cause__, Exception)
        assert not isinstance(caught.value.__cause__, orm.OrmError)
    await db.close()


async def test_consistency_comes_from_the_url(database: orm.Database) -> None:
    # One node cannot give three replicas: the driver reports Unavailable.
    url = orm.parse_url(_with_keyspace(BASE_URL, RUN_KEYSPACE, consistency="THREE"))
    db = orm.Database(CassandraConnector(url))
    await db.connect()

    with pytest.raises(orm.DatabaseUnavailable) as caught:
        await db.repository(Event).save(Event(unique(), 1, "t"))

    cause = caught.value.__cause__
    # The driver tries the next host, then gives up with every host's answer.
    assert isinstance(cause, cassandra.cluster.NoHostAvailable)
    assert all(isinstance(e, cassandra.Unavailable) for e in cause.errors.values())
    await db.close()


@pytest.mark.parametrize(
    "url",
    [
        "cassandra://127.0.0.1/ks?bogus=1",
        "cassandra://127.0.0.1/ks?replication_factor=0",
        "cassandra://127.0.0.1/ks?replication_factor=two",
        "cassandra://127.0.0.1/ks?consistency=BOGUS",
        "cassandra://127.0.0.1/ks?consistency=SERIAL",
        "cassandra://127.0.0.1/ks?consistency=ANY",
        "cassandra://127.0.0.1/ks?serial_consistency=QUORUM",
        "cassandra://127.0.0.1/ks?connect_timeout=0",
        "cassandra://127.0.0.1/ks?request_timeout=soon",
        "cassandra://127.0.0.1/ks?protocol_version=2",
        "cassandra://127.0.0.1/key-space",
        "cassandra://127.0.0.1/" + "k" * 49,
        "sqlite:///x.db",
    ],
)
async def test_bad_urls_are_configuration_errors(url: str) -> None:
    with pytest.raises(orm.ConfigurationError):
        CassandraConnector(orm.parse_url(url))


async def test_scylla_urls_use_the_same_connector() -> None:
    url = orm.parse_url(
        "scylla://h1,h2:19042/ks?replication_factor=3&local_dc=dc1&consistency=one"
    )

    connector = orm.connector_for(url)

    assert isinstance(connector, CassandraConnector)
    options = connector.options
    expected = (("h1", "h2"), 19042, 3, "dc1", cassandra.ConsistencyLevel.ONE)
    assert expected == (
        options.hosts,
        options.port,
        options.replication_factor,
        options.local_dc,
        options.consistency,
    )


async def test_ipv6_hosts_reach_the_driver_bare() -> None:
    url = orm.parse_url("cassandra://[::1]:9042/ks")

    expected_hosts = ("::1",)
    assert expected_hosts == CassandraConnector(url).options.hosts
