"""The MongoDB connector against a real MongoDB-wire server.

The server comes from ``ROOMCAST_TEST_MONGODB_URL`` (``make services`` writes
it to ``var/services.env``); each run works in a database of its own, dropped
at the end. Without the variable the module is skipped, unless ``CI`` is set.
"""

from __future__ import annotations

import asyncio
import gc
import json
import math
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import attrs
import pymongo
import pytest
import pytest_asyncio
from bson.binary import Binary, UuidRepresentation
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import orm
from orm.connector import Companion, Row
from orm.mongodb import MongoConnector
from orm.paging import encode_token
from tests.conformance.entities import Event, Message, Reading, Stamp, Values
from tests.conformance.helpers import (
    all_pages,
    closed_port,
    make_timeuuid,
    unique,
)
from tests.support import service_url

BASE_URL = service_url("mongodb")

RUN_DATABASE = f"roomcast_conformance_{uuid.uuid4().hex[:12]}"


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


RUN_URL = _with_database(BASE_URL, RUN_DATABASE)

pytestmark = pytest.mark.asyncio


# Entities

ENTITIES = [Values, Event, Message, Reading, Stamp]

# Fixtures and helpers


@pytest.fixture(scope="module", autouse=True)
def _run_database() -> Iterator[None]:
    yield
    url = orm.parse_url(RUN_URL)
    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(
        list(url.hosts), url.port, serverSelectionTimeoutMS=5000
    )
    with client:
        client.drop_database(RUN_DATABASE)


@pytest_asyncio.fixture
async def database() -> AsyncIterator[orm.Database]:
    db = orm.Database(MongoConnector(orm.parse_url(RUN_URL)))
    await db.connect()
    await db.create_schema(ENTITIES)
    yield db
    await db.close()


@pytest_asyncio.fixture
async def raw() -> AsyncIterator[Any]:
    """The run's database through a plain client, to look at stored documents."""
    url = orm.parse_url(RUN_URL)
    client: pymongo.AsyncMongoClient[dict[str, Any]] = pymongo.AsyncMongoClient(
        list(url.hosts), url.port, serverSelectionTimeoutMS=5000
    )
    yield client[RUN_DATABASE]
    await client.close()


class Proxy:
    """A TCP relay to the test server, to stop "the server" mid-test."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self._writers:
            writer.close()
        await self._server.wait_closed()

    async def _relay(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        self._writers += [writer, up_writer]
        await asyncio.gather(
            self._pipe(reader, up_writer),
            self._pipe(up_reader, writer),
            return_exceptions=True,
        )

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        finally:
            writer.close()


# Keyed writes and lifecycle events


async def test_save_find_remove_announce_each_write(database: orm.Database) -> None:
    events: list[orm.LifecycleEvent] = []
    database.add_listener(events.append)
    events_repo = database.repository(Event)
    stream = unique()

    created = await events_repo.save(Event(stream, 1, "draft", "hello"))
    assert Event(stream, 1, "draft", "hello") == created
    assert created == await events_repo.find_one({"stream": stream, "seq": 1})

    await events_repo.save(Event(stream, 1, "final", "hello"))
    removed = await events_repo.remove(Event(stream, 1, "ignored", "ignored"))
    assert Event(stream, 1, "final", "hello") == removed
    assert None is await events_repo.find_one({"stream": stream, "seq": 1})
    with pytest.raises(orm.NotFound):
        await events_repo.remove(removed)

    expected_actions = ["created", "updated", "deleted"]
    assert expected_actions == [e.action for e in events]
    assert {"tag": orm.Change("draft", "final")} == events[1].changes
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


async def test_concurrent_saves_of_one_key_chain_their_changes(
    database: orm.Database,
) -> None:
    events: list[orm.LifecycleEvent] = []
    database.add_listener(events.append)
    repository = database.repository(Event)
    stream = unique()
    bodies = [f"body {i}" for i in range(25)]

    await asyncio.gather(
        *(repository.save(Event(stream, 1, "t", body)) for body in bodies)
    )

    final = await repository.find_one({"stream": stream, "seq": 1})
    assert final is not None
    expected_actions = ["created"] + ["updated"] * 24
    assert expected_actions == sorted(e.action for e in events)
    replaced = [e.changes["body"].old for e in events if e.action == "updated"]
    # Every save replaced a different row: the updates form one chain.
    assert sorted(bodies) == sorted([*replaced, final.body])


async def test_concurrent_removes_of_one_key_succeed_once(
    database: orm.Database,
) -> None:
    repository = database.repository(Event)
    item = await repository.save(Event(unique(), 1, "t"))

    results = await asyncio.gather(
        *(repository.remove(item) for _ in range(10)), return_exceptions=True
    )

    assert [item] == [r for r in results if not isinstance(r, BaseException)]
    assert all(isinstance(r, orm.NotFound) for r in results if r != item)


async def test_companions_follow_their_write(database: orm.Database) -> None:
    connector = database.connector
    values = orm.entity_meta(Values)
    feed = orm.entity_meta(Event)
    stream = unique()
    seen: list[Row | None] = []

    def companions(previous: Row | None) -> list[Companion]:
        seen.append(previous)
        entry = {"stream": stream, "seq": len(seen), "tag": "feed", "body": ""}
        return [Companion(feed, entry, ttl=60 if len(seen) == 2 else None)]

    first = values.to_row(Values(uuid.uuid4(), text="first"))
    second = {**first, "text": "second"}
    await connector.save(values, first, companions)
    await connector.save(values, second, companions)
    await connector.delete(values, {"id": first["id"]}, companions)
    await connector.delete(values, {"id": first["id"]}, companions)

    assert [None, first, second] == seen
    page = await database.repository(Event).find({"stream": stream})
    assert [1, 2, 3] == [entry.seq for entry in page.items]


async def test_no_companions_for_a_failed_write(database: orm.Database) -> None:
    values = orm.entity_meta(Values)
    row = values.to_row(Values(uuid.uuid4(), text="x" * (17 << 20)))
    calls: list[Row | None] = []

    def companions(previous: Row | None) -> list[Companion]:
        calls.append(previous)
        return []

    with pytest.raises(orm.ValidationError):
        await database.connector.save(values, row, companions)

    assert not calls


async def test_expire_removes_older_rows_in_every_partition(
    database: orm.Database,
) -> None:
    repository = database.repository(Stamp)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    owners = [unique(), unique()]
    for owner in owners:
        for n in range(6):
            await repository.save(Stamp(owner, n, start + timedelta(seconds=n)))

    await database.connector.expire(
        orm.entity_meta(Stamp), "at", start + timedelta(seconds=3)
    )

    for owner in owners:
        page = await repository.find({"owner": owner})
        assert [3, 4, 5] == [stamp.n for stamp in page.items]


# Values


JSON_WITH_OPERATOR_KEYS = {
    "$set": {"a.b": 1, "$gt": [None, True, False]},
    "": {"$": "", ".": "."},
    "$where": "function () { return true }",
    "nested": [{"$oid": "5f1d7f3e9d3e2b1a2c3d4e5f"}, {"$date": 0}, [[[]]], {}],
    "numbers": [0, -1, 2**63 - 1, -(2**63), 2**80, 1.5, -0.25, 1e300],
    "unicode": "ünïcödé ✓ 🎉 \u0000 \n",
}


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
    pytest.param({"ratio": -1e-300}, id="tiny-float"),
    pytest.param({"ratio": 5e-324}, id="subnormal-float"),
    pytest.param({"flag": False}, id="false"),
    pytest.param({"flag": True}, id="true"),
    pytest.param({"ref": uuid.UUID(int=0)}, id="nil-uuid"),
    pytest.param({"ref": uuid.uuid4()}, id="uuid4"),
    pytest.param({"stamp": orm.time_uuid()}, id="timeuuid"),
    pytest.param({"data": {}}, id="empty-dict"),
    pytest.param({"items": []}, id="empty-list"),
    pytest.param({"data": JSON_WITH_OPERATOR_KEYS}, id="json-operator-keys"),
    pytest.param({"items": [JSON_WITH_OPERATOR_KEYS, 1, "a", None]}, id="json-list"),
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
    for name, value in values.items():
        assert type(value) is type(getattr(found, name)), name


async def test_row_over_the_document_limit_is_a_validation_error(
    database: orm.Database,
) -> None:
    repository = database.repository(Values)
    item = Values(uuid.uuid4(), text="x" * (17 << 20))

    with pytest.raises(orm.ValidationError):
        await repository.save(item)

    assert None is await repository.find_one({"id": item.id})


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        pytest.param(
            datetime(2024, 2, 29, 23, 59, 59, 999999, timezone(timedelta(hours=5.5))),
            datetime(2024, 2, 29, 18, 29, 59, 999000, UTC),
            id="offset-truncated-to-ms",
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
    assert found.when.tzinfo is UTC


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
    data=st.dictionaries(st.text(max_size=8), json_values, max_size=5),
    items=st.lists(json_values, max_size=5),
)
async def test_any_text_and_json_round_trips(
    database: orm.Database, text: str, data: dict[str, Any], items: list[Any]
) -> None:
    repository = database.repository(Values)
    item = Values(uuid.uuid4(), text=text, data=data, items=items)

    await repository.save(item)

    assert item == await repository.find_one({"id": item.id})


async def test_storage_form(database: orm.Database, raw: Any) -> None:
    repository = database.repository(Values)
    stamp = make_timeuuid(0x1EF_0123_4567_89AB)
    ref = uuid.uuid4()
    item = Values(
        uuid.uuid4(),
        when=datetime(2024, 1, 2, 3, 4, 5, 6000, UTC),
        ref=ref,
        stamp=stamp,
        data={"$gt": {"a.b": 1}},
    )
    await repository.save(item)

    document = await raw["conf_values"].find_one({"_id": json.dumps([str(item.id)])})

    assert document is not None
    assert Binary.from_uuid(ref, UuidRepresentation.STANDARD) == document["ref"]
    assert datetime(2024, 1, 2, 3, 4, 5, 6000) == document["when"]
    time_first = "1ef0123456789ab" + "8000" + "0123456789ab"
    assert time_first == document["stamp"]
    as_text = '{"$gt":{"a.b":1}}'
    assert as_text == document["data"]


async def test_schema_is_idempotent_and_declares_key_indexes(
    database: orm.Database, raw: Any
) -> None:
    await database.create_schema(ENTITIES)
    await database.create_schema(ENTITIES)

    cursor = await raw["conf_readings"].list_indexes()
    indexes = {i["name"]: list(i["key"].items()) for i in await cursor.to_list()}

    key = [("site", 1), ("bucket", 1), ("at", 1), ("sensor", -1)]
    assert key == indexes["key"]
    by_status = [("status", 1), *key]
    assert by_status == indexes["by_status"]
    events_key = [("stream", 1), ("seq", 1)]
    assert events_key == await _index(raw, "conf_events", "key")


async def _index(raw: Any, collection: str, name: str) -> list[tuple[str, int]]:
    cursor = await raw[collection].list_indexes()
    found = [i for i in await cursor.to_list() if i["name"] == name]
    return list(found[0]["key"].items()) if found else []


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

    assert items == [item for page in pages for item in page]
    assert math.ceil(60 / limit) == len(pages)
    assert all(limit == len(page) for page in pages[:-1])


@pytest.mark.parametrize("limit", [4, 5])
async def test_pages_in_reverse_order(database: orm.Database, limit: int) -> None:
    stream, items = await _save_stream(database, 20)
    repository = database.repository(Event)

    pages = await all_pages(repository, {"stream": stream}, limit, order="desc")

    assert items[::-1] == [item for page in pages for item in page]
    assert math.ceil(20 / limit) == len(pages)


async def test_pages_of_a_range(database: orm.Database) -> None:
    stream, items = await _save_stream(database, 30)
    repository = database.repository(Event)
    filters = {"stream": stream, "seq": orm.gt(5) & orm.le(25)}

    pages = await all_pages(repository, filters, 6)
    reverse = await all_pages(repository, filters, 6, order="desc")

    assert items[6:26] == [item for page in pages for item in page]
    assert items[25:5:-1] == [item for page in reverse for item in page]


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

    assert items[::-1] == [item for page in newest_first for item in page]
    assert items == [item for page in oldest_first for item in page]
    assert items[19:9:-1] == [item for page in window for item in page]


async def test_time_uuid_from_the_clock_orders_by_time(database: orm.Database) -> None:
    repository = database.repository(Message)
    channel = uuid.uuid4()
    items = [Message(channel, orm.time_uuid(), str(i)) for i in range(10)]
    for item in items:
        await repository.save(item)

    page = await repository.find({"channel": channel}, limit=100)

    assert items[::-1] == page.items


@attrs.frozen
class Readings:
    """One partition of readings: 5 times (two 1 ms apart) x 7 sensors."""

    items: list[Reading]
    site: str
    times: list[datetime]
    sensors: list[uuid.UUID]
    status: str


async def _save_readings(database: orm.Database) -> Readings:
    site = unique()
    start = datetime(2024, 5, 1, tzinfo=UTC)
    times = [start + timedelta(milliseconds=ms) for ms in (0, 1, 1000, 60_000, 1001)]
    sensors = [uuid.uuid4() for _ in range(7)]
    status = unique("status-")
    items = [
        Reading(site, 3, at, sensor, status if i % 2 else "ok", float(i))
        for i, (at, sensor) in enumerate((t, s) for t in times for s in sensors)
    ]
    repository = database.repository(Reading)
    await asyncio.gather(*(repository.save(item) for item in items))
    return Readings(items, site, times, sensors, status)


@pytest.mark.parametrize("limit", [3, 5, 8, 35])
async def test_pages_over_mixed_clustering_order(
    database: orm.Database, limit: int
) -> None:
    readings = await _save_readings(database)
    items, times = readings.items, readings.times
    repository = database.repository(Reading)
    declared = sorted(
        sorted(items, key=lambda r: r.sensor, reverse=True), key=lambda r: r.at
    )
    reverse = sorted(
        sorted(items, key=lambda r: r.sensor), key=lambda r: r.at, reverse=True
    )
    partition = {"site": readings.site, "bucket": 3}

    pages = await all_pages(repository, partition, limit)
    backwards = await all_pages(repository, partition, limit, order="desc")
    ranged = await all_pages(
        repository, {**partition, "at": orm.ge(times[1]) & orm.lt(times[3])}, limit
    )

    assert declared == [item for page in pages for item in page]
    assert reverse == [item for page in backwards for item in page]
    in_range = [r for r in declared if times[1] <= r.at < times[3]]
    assert in_range == [item for page in ranged for item in page]


async def test_range_on_second_clustering_column(database: orm.Database) -> None:
    readings = await _save_readings(database)
    items, at = readings.items, readings.times[2]
    repository = database.repository(Reading)
    pivot = sorted(readings.sensors)[3]
    filters = {"site": readings.site, "bucket": 3, "at": at, "sensor": orm.lt(pivot)}

    pages = await all_pages(repository, filters, 2)

    expected = sorted(
        (r for r in items if r.at == at and r.sensor < pivot),
        key=lambda r: r.sensor,
        reverse=True,
    )
    assert expected == [item for page in pages for item in page]


async def test_index_lookup_in_key_order(database: orm.Database) -> None:
    readings = await _save_readings(database)
    items, status = readings.items, readings.status
    repository = database.repository(Reading)

    pages = await all_pages(repository, {"status": status}, 4)

    expected = sorted(
        sorted(
            (r for r in items if r.status == status),
            key=lambda r: r.sensor,
            reverse=True,
        ),
        key=lambda r: r.at,
    )
    assert expected == [item for page in pages for item in page]
    assert expected[0] == await repository.find_one({"status": status})


async def test_index_lookup_across_partitions(database: orm.Database) -> None:
    repository = database.repository(Event)
    tag = unique("tag-")
    streams = sorted(unique() for _ in range(3))
    items = [Event(s, seq, tag) for s in streams for seq in range(5)]
    others = [Event(s, seq + 100, "other") for s in streams for seq in range(3)]
    await asyncio.gather(*(repository.save(i) for i in [*items, *others]))

    pages = await all_pages(repository, {"tag": tag}, 4)

    assert items == [item for page in pages for item in page]


async def test_values_are_never_read_as_operators(database: orm.Database) -> None:
    repository = database.repository(Event)
    odd = [Event("$gt", 1, "$where"), Event("a.b", 1, "{'$ne': null}")]
    for item in odd:
        await repository.save(item)
    await repository.save(Event(unique(), 1, "plain"))

    assert [odd[0]] == (await repository.find({"stream": "$gt"})).items
    assert [odd[1]] == (await repository.find({"tag": "{'$ne': null}"})).items
    assert not (await repository.find({"stream": "$ne"})).items
    with pytest.raises(orm.QueryError):
        await repository.find({"stream": {"$ne": ""}})


async def test_no_pages_past_an_empty_partition(database: orm.Database) -> None:
    repository = database.repository(Event)

    page = await repository.find({"stream": unique()})

    assert orm.Page([], None) == page


# Page tokens


async def test_foreign_and_malformed_page_tokens_are_refused(
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


@pytest.mark.parametrize(
    "cursor",
    [
        "abc",
        {"stream": "x"},
        [],
        ["x"],
        ["x", 1, 2],
        ["x", "1"],
        ["x", True],
        ["x", 1.5],
        ["x", 2**63],
        ["x", None],
        [1, 1],
        [["x"], 1],
    ],
)
async def test_forged_event_cursors_are_refused(
    database: orm.Database, cursor: Any
) -> None:
    filters = {"stream": unique()}
    token = _forge(Event, filters, cursor)

    with pytest.raises(orm.InvalidPageToken):
        await database.repository(Event).find(filters, limit=3, page_token=token)


CHANNEL = "<channel>"
GOOD_TIMEUUID = "1ef0123456789ab80000123456789ab"


@pytest.mark.parametrize(
    "cursor",
    [
        [CHANNEL, "1ef0123456789ab8000"],
        [CHANNEL, "1ef0123456789ab80000123456789ag"],
        [CHANNEL, GOOD_TIMEUUID.upper()],
        [CHANNEL, GOOD_TIMEUUID + "0"],
        [CHANNEL, 17],
        [CHANNEL, str(uuid.uuid1())],
        ["not a uuid", GOOD_TIMEUUID],
        ["{" + str(uuid.uuid4()) + "}", GOOD_TIMEUUID],
        [uuid.uuid4().hex, GOOD_TIMEUUID],
        [0, GOOD_TIMEUUID],
    ],
)
async def test_forged_uuid_cursors_are_refused(
    database: orm.Database, cursor: list[Any]
) -> None:
    channel = uuid.uuid4()
    filters = {"channel": channel}
    cursor = [str(channel) if part == CHANNEL else part for part in cursor]
    token = _forge(Message, filters, cursor)

    with pytest.raises(orm.InvalidPageToken):
        await database.repository(Message).find(filters, limit=3, page_token=token)


@pytest.mark.parametrize(
    "at",
    ["2024-05-01T00:00:00Z", 1.5, True, 10**20, -(10**20), None],
)
async def test_forged_datetime_cursors_are_refused(
    database: orm.Database, at: Any
) -> None:
    filters = {"site": "s", "bucket": 1}
    token = _forge(Reading, filters, ["s", 1, at, str(uuid.uuid4())])

    with pytest.raises(orm.InvalidPageToken):
        await database.repository(Reading).find(filters, limit=3, page_token=token)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(cursor=st.lists(json_values, max_size=5) | json_values)
async def test_any_forged_cursor_is_a_page_or_refused(
    database: orm.Database, cursor: Any
) -> None:
    filters = {"site": "s", "bucket": 1}
    token = _forge(Reading, filters, cursor)

    try:
        page = await database.repository(Reading).find(
            filters, limit=3, page_token=token
        )
    except orm.InvalidPageToken:
        return
    assert not page.items


def _forge(cls: type, filters: dict[str, Any], cursor: Any) -> str:
    """A token for ``filters`` as a client could write it, around ``cursor``."""
    query = orm.plan(orm.entity_meta(cls), filters, limit=3)
    return encode_token(query.fingerprint(), cursor)


async def test_well_formed_forged_cursor_stays_in_its_query(
    database: orm.Database,
) -> None:
    stream, items = await _save_stream(database, 10)
    repository = database.repository(Event)
    token = _forge(Event, {"stream": stream}, ["elsewhere", 4])

    page = await repository.find({"stream": stream}, limit=3, page_token=token)

    assert items[5:8] == page.items


# Availability


async def test_ping(database: orm.Database) -> None:
    await database.ping()


# pymongo 4.x may leave a socket to be closed by the garbage collector when
# a client closes while its monitor is connecting (PYTHON-5867): harmless,
# but a ResourceWarning; collect it inside the test that caused it.
closes_while_connecting = pytest.mark.filterwarnings("ignore::ResourceWarning")


async def collect_driver_leftovers() -> None:
    await asyncio.sleep(0.2)  # let the cancelled monitor tasks finish
    gc.collect()


async def unavailable(
    call: Awaitable[object],
) -> tuple[float, type[BaseException] | None]:
    """Seconds until ``call`` raised ``DatabaseUnavailable``, and its cause's type.

    Nothing of the error is returned, so that the client it references can
    be collected by ``collect_driver_leftovers``.
    """
    started = time.monotonic()
    with pytest.raises(orm.DatabaseUnavailable) as caught:
        await call
    cause = caught.value.__cause__
    return time.monotonic() - started, None if cause is None else type(cause)


@closes_while_connecting
async def test_unreachable_server_fails_fast() -> None:
    url = orm.parse_url(f"mongodb://127.0.0.1:{closed_port()}/x?timeout_ms=300")
    db = orm.Database(MongoConnector(url))

    seconds, cause = await unavailable(db.connect())

    assert seconds < 3
    assert cause is not None
    assert issubclass(cause, pymongo.errors.PyMongoError)
    await unavailable(db.ping())
    await db.close()
    await collect_driver_leftovers()


@closes_while_connecting
async def test_unreachable_server_fails_within_default_timeout() -> None:
    db = orm.Database(
        MongoConnector(orm.parse_url(f"mongodb://127.0.0.1:{closed_port()}/x"))
    )

    seconds, _ = await unavailable(db.connect())

    assert seconds < 8
    await collect_driver_leftovers()


async def test_unconnected_connector_refuses_every_call() -> None:
    connector = MongoConnector(orm.parse_url(RUN_URL))
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


@closes_while_connecting
async def test_server_that_stops_fails_fast() -> None:
    url = orm.parse_url(RUN_URL)
    proxy = Proxy(url.hosts[0], url.port or 27017)
    await proxy.start()
    proxied = orm.parse_url(
        f"mongodb://127.0.0.1:{proxy.port}/{RUN_DATABASE}?timeout_ms=500"
    )
    db = orm.Database(MongoConnector(proxied))
    await db.connect()
    repository = db.repository(Event)
    item = await repository.save(Event(unique(), 1, "t"))

    await proxy.stop()
    for call in [
        repository.find_one({"stream": item.stream, "seq": 1}),
        repository.save(item),
        repository.find({"stream": item.stream}),
        db.ping(),
    ]:
        seconds, cause = await unavailable(call)
        assert seconds < 3
        assert cause is not None
        assert issubclass(cause, pymongo.errors.PyMongoError)
    await db.close()
    await collect_driver_leftovers()


@pytest.mark.parametrize(
    "url",
    [
        "mongodb://127.0.0.1/db?bogus=1",
        "mongodb://127.0.0.1/db?timeout_ms=soon",
        "mongodb://127.0.0.1/db?timeout_ms=0",
        "mongodb://127.0.0.1/db?tls=maybe",
        "mongodb://127.0.0.1/a.b",
        "mongodb://127.0.0.1/a$b",
    ],
)
async def test_bad_urls_are_configuration_errors(url: str) -> None:
    with pytest.raises(orm.ConfigurationError):
        MongoConnector(orm.parse_url(url))
