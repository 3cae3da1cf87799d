"""Every backend answers the same questions the same way."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import attrs
import pytest
import pytest_asyncio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import orm

pytestmark = pytest.mark.asyncio(loop_scope="module")


@orm.entity(
    "conformance_items",
    partition_key=["bucket"],
    clustering={"rank": "asc", "id": "desc"},
    indexes=["tag"],
)
@attrs.define
class Item:
    bucket: uuid.UUID
    rank: int
    id: orm.TimeUUID
    tag: str
    text: str | None = None
    amount: float | None = None
    flag: bool = False
    at: datetime | None = None
    ref: uuid.UUID | None = None
    data: dict[str, Any] | None = None
    items: list[Any] | None = None


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def items(backend_db: orm.Database) -> orm.Repository[Item]:
    await backend_db.create_schema([Item])
    return backend_db.repository(Item)


def _item(bucket: uuid.UUID, rank: int = 0, **fields: Any) -> Item:
    return Item(bucket, rank, orm.time_uuid(), fields.pop("tag", "t"), **fields)


async def _all(
    repo: orm.Repository[Item], filters: dict[str, Any], limit: int, **options: Any
) -> tuple[list[Item], int]:
    found: list[Item] = []
    token = None
    pages = 0
    while True:
        page = await repo.find(filters, limit=limit, page_token=token, **options)
        found += page.items
        pages += 1
        token = page.next_page_token
        if token is None:
            return found, pages
        assert page.items, "a page before the last is never empty"


EDGE_VALUES = [
    {"text": ""},
    {"text": "ünïcødé ✓ 日本語 🎉 \u0000 nul"},
    {"text": "x" * (1024 * 1024)},
    {"text": '\'; DROP TABLE conformance_items; -- $where {"$gt": ""}'},
    {"amount": 0.1},
    {"amount": -1e300},
    {"flag": True},
    {"ref": uuid.UUID(int=0)},
    {"data": {"nested": {"list": [1, 2.5, None, True, "s"], "$key": 1, "a.b": 2}}},
    {"data": {}},
    {"items": []},
    {"items": [[[]], {"k": [{}]}]},
    {"at": datetime(2001, 2, 3, 4, 5, 6, 789_999, tzinfo=UTC)},
    {"at": datetime(1969, 7, 20, 20, 17, tzinfo=timezone(timedelta(hours=-5)))},
]


@pytest.mark.parametrize("fields", EDGE_VALUES, ids=range(len(EDGE_VALUES)))
async def test_values_round_trip(
    items: orm.Repository[Item], fields: dict[str, Any]
) -> None:
    saved = await items.save(_item(uuid.uuid4(), **fields))

    found = await items.find_one(
        {"bucket": saved.bucket, "rank": saved.rank, "id": saved.id}
    )

    assert found == saved
    if saved.at is not None:
        assert found is not None and found.at is not None
        assert found.at.tzinfo == UTC
        assert found.at.microsecond % 1000 == 0


async def test_empty_text_and_missing_text_stay_apart(
    items: orm.Repository[Item],
) -> None:
    bucket = uuid.uuid4()
    await items.save(_item(bucket, 1, text=""))
    await items.save(_item(bucket, 2, text=None))

    page = await items.find({"bucket": bucket})

    assert [i.text for i in page.items] == ["", None]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    text=st.text().filter(lambda s: "\ud800" not in s),
    amount=st.floats(allow_nan=False, allow_infinity=False),
    at=st.datetimes(
        min_value=datetime(1900, 1, 1),
        max_value=datetime(2200, 1, 1),
        timezones=st.just(UTC),
    ),
    data=st.dictionaries(st.text(max_size=8), json_values, max_size=4),
)
async def test_any_value_round_trips(
    items: orm.Repository[Item], text: str, amount: float, at: datetime, data: Any
) -> None:
    saved = await items.save(
        _item(uuid.uuid4(), text=text, amount=amount, at=at, data=data)
    )

    found = await items.find_one(
        {"bucket": saved.bucket, "rank": saved.rank, "id": saved.id}
    )

    assert found == saved


@pytest.mark.parametrize("limit", [1, 4, 10, 23, 100])
async def test_pagination_covers_everything_once_in_order(
    items: orm.Repository[Item], limit: int
) -> None:
    bucket = uuid.uuid4()
    saved = [await items.save(_item(bucket, rank % 5)) for rank in range(23)]
    expected = sorted(saved, key=lambda i: (i.rank, -i.id.time))

    found, pages = await _all(items, {"bucket": bucket}, limit)

    assert found == expected
    assert pages == max(1, -(-23 // limit))


async def test_order_can_be_reversed(items: orm.Repository[Item]) -> None:
    bucket = uuid.uuid4()
    saved = [await items.save(_item(bucket, rank % 3)) for rank in range(9)]
    ascending = sorted(saved, key=lambda i: (i.rank, -i.id.time))

    found, _ = await _all(items, {"bucket": bucket}, 4, order="desc")
    declared, _ = await _all(items, {"bucket": bucket}, 4, order="asc")

    assert found == ascending[::-1]
    assert declared == ascending


async def test_ranges_on_clustering_columns(items: orm.Repository[Item]) -> None:
    bucket = uuid.uuid4()
    for rank in range(10):
        await items.save(_item(bucket, rank))

    async def ranks(condition: orm.Range) -> list[int]:
        page = await items.find({"bucket": bucket, "rank": condition})
        return [i.rank for i in page.items]

    assert await ranks(orm.gt(6)) == [7, 8, 9]
    assert await ranks(orm.ge(7)) == [7, 8, 9]
    assert await ranks(orm.lt(2)) == [0, 1]
    assert await ranks(orm.le(1)) == [0, 1]
    assert await ranks(orm.gt(2) & orm.le(5)) == [3, 4, 5]


async def test_time_uuid_ranges_follow_time(items: orm.Repository[Item]) -> None:
    bucket = uuid.uuid4()
    made = [await items.save(_item(bucket, 0)) for _ in range(6)]

    page = await items.find({"bucket": bucket, "rank": 0, "id": orm.lt(made[3].id)})

    assert [i.id for i in page.items] == [m.id for m in made[:3]][::-1]


async def test_index_lookup_finds_every_match(items: orm.Repository[Item]) -> None:
    tag = f"tag-{uuid.uuid4().hex}"
    saved = [await items.save(_item(uuid.uuid4(), rank, tag=tag)) for rank in range(7)]
    await items.save(_item(uuid.uuid4(), tag="other"))

    found, _ = await _all(items, {"tag": tag}, 3)

    assert sorted(i.id for i in found) == sorted(i.id for i in saved)


@pytest.mark.parametrize(
    "filters",
    [
        {},
        {"rank": 1},
        {"text": "x"},
        {"tag": orm.gt("a")},
        {"bucket": {"$ne": None}},
        {"bucket": uuid.uuid4(), "id": orm.time_uuid()},
        {"bucket": uuid.uuid4(), "data": {}},
    ],
)
async def test_unservable_queries_are_refused(
    items: orm.Repository[Item], filters: dict[str, Any]
) -> None:
    with pytest.raises(orm.QueryError):
        await items.find(filters)


async def test_page_token_of_another_query_is_refused(
    items: orm.Repository[Item],
) -> None:
    bucket = uuid.uuid4()
    for rank in range(3):
        await items.save(_item(bucket, rank))
    page = await items.find({"bucket": bucket}, limit=1)
    assert page.next_page_token is not None

    with pytest.raises(orm.InvalidPageToken):
        await items.find({"bucket": uuid.uuid4()}, page_token=page.next_page_token)
    with pytest.raises(orm.InvalidPageToken):
        await items.find({"bucket": bucket}, page_token=page.next_page_token[:-3])


async def test_concurrent_saves_of_one_key_leave_one_row(
    items: orm.Repository[Item],
) -> None:
    base = _item(uuid.uuid4(), 1)
    versions = [attrs.evolve(base, text=f"v{n}") for n in range(10)]

    await asyncio.gather(*(items.save(v) for v in versions))

    page = await items.find({"bucket": base.bucket})
    assert len(page.items) == 1
    assert page.items[0].text in {v.text for v in versions}


async def test_lifecycle_events(
    backend_db: orm.Database, items: orm.Repository[Item]
) -> None:
    seen: list[orm.LifecycleEvent] = []
    remove = backend_db.add_listener(seen.append)
    try:
        item = await items.save(_item(uuid.uuid4(), text="a"))
        await items.save(attrs.evolve(item, text="b", flag=True))
        await items.remove(item)
        with pytest.raises(orm.NotFound):
            await items.remove(item)
    finally:
        remove()

    assert [e.action for e in seen] == ["created", "updated", "deleted"]
    assert seen[1].changes == {
        "text": orm.Change("a", "b"),
        "flag": orm.Change(False, True),
    }
    assert seen[2].entity.text == "b"
