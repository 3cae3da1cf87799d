from __future__ import annotations

import asyncio
import math
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import orm
from orm import ColumnKind

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1

ROUND_TRIPS = settings(max_examples=50, deadline=None)

unicode_text = st.text(st.characters(exclude_categories=["Cs"]))

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(INT64_MIN, INT64_MAX)
    | st.floats(allow_nan=False, allow_infinity=False)
    | unicode_text
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=5)
        | st.dictionaries(unicode_text, children, max_size=5)
    ),
    max_leaves=30,
)
json_documents = st.one_of(
    st.lists(json_values, max_size=5),
    st.dictionaries(unicode_text, json_values, max_size=5),
)

whole_minute_offsets = st.integers(-23 * 60 - 59, 23 * 60 + 59).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)
# Away from year 1 and 9999, where no timezone can be moved to UTC.
aware_datetimes = st.datetimes(
    min_value=datetime(2, 1, 1),
    max_value=datetime(9998, 12, 31),
    timezones=st.timezones() | whole_minute_offsets,
)


# -- checks ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        (ColumnKind.TEXT, "héllo"),
        (ColumnKind.TEXT, ""),
        (ColumnKind.INT, 0),
        (ColumnKind.INT, INT64_MIN),
        (ColumnKind.INT, INT64_MAX),
        (ColumnKind.FLOAT, 1.5),
        (ColumnKind.FLOAT, -0.0),
        (ColumnKind.BOOL, True),
        (ColumnKind.BOOL, False),
        (ColumnKind.UUID, uuid.UUID(int=7)),
        (ColumnKind.UUID, uuid.uuid1()),
        (ColumnKind.TIMEUUID, uuid.uuid1()),
        (ColumnKind.JSON, {"a": [1, 2.5, None, True, "x"]}),
        (ColumnKind.JSON, []),
    ],
)
def test_fitting_values_are_kept_as_they_are(kind: ColumnKind, value: Any) -> None:
    assert value == kind.check("col", value)


def test_an_int_given_for_a_float_becomes_a_float() -> None:
    stored = ColumnKind.FLOAT.check("ratio", 3)

    assert stored == 3.0
    assert float is type(stored)


@pytest.mark.parametrize(
    ("kind", "value", "expected"),
    [
        (ColumnKind.INT, True, "expects int, got bool"),
        (ColumnKind.INT, False, "expects int, got bool"),
        (ColumnKind.INT, 1.0, "expects int, got float"),
        (ColumnKind.INT, "1", "expects int, got str"),
        (ColumnKind.FLOAT, True, "expects float, got bool"),
        (ColumnKind.FLOAT, "1.5", "expects float, got str"),
        (ColumnKind.BOOL, 1, "expects bool, got int"),
        (ColumnKind.BOOL, 0, "expects bool, got int"),
        (ColumnKind.BOOL, "true", "expects bool, got str"),
        (ColumnKind.TEXT, 5, "expects str, got int"),
        (ColumnKind.TEXT, b"bytes", "expects str, got bytes"),
        (ColumnKind.UUID, str(uuid.UUID(int=1)), "expects UUID, got str"),
        (ColumnKind.DATETIME, "2024-01-01T00:00:00Z", "expects datetime, got str"),
        (ColumnKind.DATETIME, 1_700_000_000, "expects datetime, got int"),
        (ColumnKind.JSON, "text", "expects dict or list, got str"),
        (ColumnKind.JSON, 5, "expects dict or list, got int"),
        (ColumnKind.JSON, None, "expects dict or list, got NoneType"),
    ],
)
def test_values_of_the_wrong_type_are_refused(
    kind: ColumnKind, value: Any, expected: str
) -> None:
    with pytest.raises(orm.ValidationError, match=f"^col: {expected}$"):
        kind.check("col", value)


def test_validation_error_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        ColumnKind.INT.check("n", "x")


@settings(deadline=None)
@given(
    st.integers(max_value=INT64_MIN - 1)
    | st.integers(min_value=INT64_MAX + 1)
    | st.integers(2**64, 2**1000)
)
def test_ints_outside_64_bits_are_refused(value: int) -> None:
    with pytest.raises(orm.ValidationError, match="does not fit in 64 bits"):
        ColumnKind.INT.check("n", value)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_non_finite_floats_are_refused(value: float) -> None:
    with pytest.raises(orm.ValidationError, match="only finite floats"):
        ColumnKind.FLOAT.check("x", value)


def test_an_int_too_large_for_a_float_is_refused() -> None:
    with pytest.raises(orm.ValidationError):
        ColumnKind.FLOAT.check("x", 10**400)


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(orm.ValidationError, match="naive datetime"):
        ColumnKind.DATETIME.check("at", datetime(2024, 5, 1, 12, 0))


def test_datetimes_are_normalised_to_utc_at_millisecond_precision() -> None:
    local = datetime(
        2024, 5, 1, 14, 30, 15, 123_987, tzinfo=timezone(timedelta(hours=2))
    )

    stored = ColumnKind.DATETIME.check("at", local)

    assert datetime(2024, 5, 1, 12, 30, 15, 123_000, tzinfo=UTC) == stored
    assert timedelta(0) == stored.utcoffset()


@settings(deadline=None)
@given(aware_datetimes)
def test_any_aware_datetime_is_stored_in_utc_truncated_to_milliseconds(
    value: datetime,
) -> None:
    stored = ColumnKind.DATETIME.check("at", value)

    assert timedelta(0) == stored.utcoffset()
    assert stored.microsecond % 1000 == 0
    assert timedelta(0) <= value - stored < timedelta(milliseconds=1)


@pytest.mark.parametrize(
    "value",
    [
        datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=1))),
        datetime(9999, 12, 31, 23, 30, tzinfo=timezone(timedelta(hours=-1))),
    ],
)
def test_a_datetime_that_utc_cannot_hold_is_refused(value: datetime) -> None:
    with pytest.raises(orm.ValidationError):
        ColumnKind.DATETIME.check("at", value)


@pytest.mark.parametrize(
    "value",
    [
        uuid.uuid4(),
        uuid.UUID(int=0),
        uuid.uuid3(uuid.NAMESPACE_DNS, "x"),
        uuid.uuid5(uuid.NAMESPACE_DNS, "x"),
    ],
)
def test_timeuuid_refuses_other_uuid_versions(value: uuid.UUID) -> None:
    with pytest.raises(orm.ValidationError, match="version 1"):
        ColumnKind.TIMEUUID.check("id", value)


def test_timeuuid_refuses_what_is_no_uuid() -> None:
    with pytest.raises(orm.ValidationError, match="version 1"):
        ColumnKind.TIMEUUID.check("id", str(uuid.uuid1()))


def test_time_uuids_are_version_1_and_sort_by_time() -> None:
    made = [orm.time_uuid() for _ in range(200)]

    assert {1} == {u.version for u in made}
    assert sorted(made, key=lambda u: u.time) == made
    assert len(made) == len({u.time for u in made})


@pytest.mark.parametrize(
    "value",
    [
        {"x": math.nan},
        [math.inf],
        {"x": {1, 2}},
        {"x": b"bytes"},
        {("a", "b"): 1},
        [object()],
        {"when": datetime(2024, 1, 1, tzinfo=UTC)},
        {"id": uuid.UUID(int=1)},
    ],
)
def test_values_that_are_not_json_are_refused(value: Any) -> None:
    with pytest.raises(orm.ValidationError, match="not a JSON value"):
        ColumnKind.JSON.check("data", value)


def test_json_nested_too_deep_is_refused() -> None:
    deep: list[Any] = []
    for _ in range(100_000):
        deep = [deep]

    with pytest.raises(orm.ValidationError, match="not a JSON value"):
        ColumnKind.JSON.check("data", deep)


def test_json_is_stored_as_plain_json() -> None:
    stored = ColumnKind.JSON.check("data", {"t": (1, 2), 3: "three", "n": None})

    assert stored == {"t": [1, 2], "3": "three", "n": None}


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        (ColumnKind.TEXT, "a\ud800b"),
        (ColumnKind.TEXT, "\udfff"),
        (ColumnKind.JSON, {"text": "\ud83d"}),
        (ColumnKind.JSON, {"\udc00": 1}),
        (ColumnKind.JSON, ["ok", ["\ud800"]]),
    ],
)
def test_lone_surrogates_are_refused(kind: ColumnKind, value: Any) -> None:
    with pytest.raises(orm.ValidationError, match="data"):
        kind.check("data", value)


def test_a_surrogate_pair_written_as_one_character_is_accepted() -> None:
    assert ColumnKind.TEXT.check("data", "emoji 😀") == "emoji 😀"


# -- round trips through a real SQLite database ---------------------------------


@orm.entity("samples", partition_key=["id"])
@attrs.define
class Sample:
    id: str
    text: str | None = None
    number: int | None = None
    ratio: float | None = None
    flag: bool | None = None
    ident: uuid.UUID | None = None
    tick: orm.TimeUUID | None = None
    at: datetime | None = None
    data: dict[str, Any] | None = None
    items: list[Any] | None = None


class Store:
    """A SQLite database on its own event loop, for synchronous Hypothesis tests."""

    def __init__(self, url: str) -> None:
        self.runner = asyncio.Runner()
        self.db = orm.Database.from_url(url)
        self.runner.run(self.db.connect())
        self.runner.run(self.db.create_schema([Sample]))
        self.samples = self.db.repository(Sample)

    def round_trip(self, **fields: Any) -> tuple[Sample, Sample]:
        """Save a new sample; return it as saved and as read back."""
        return self.runner.run(self._round_trip(Sample(str(uuid.uuid4()), **fields)))

    async def _round_trip(self, sample: Sample) -> tuple[Sample, Sample]:
        saved = await self.samples.save(sample)
        found = await self.samples.find_one({"id": sample.id})
        assert found is not None
        return saved, found

    def close(self) -> None:
        self.runner.run(self.db.close())
        self.runner.close()


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    store = Store(f"sqlite:///{tmp_path_factory.mktemp('types')}/x.db")
    yield store
    store.close()


@ROUND_TRIPS
@given(unicode_text)
def test_unicode_text_round_trips(store: Store, value: str) -> None:
    saved, found = store.round_trip(text=value)

    assert value == found.text
    assert saved == found


def test_empty_text_and_missing_text_stay_apart(store: Store) -> None:
    _, empty = store.round_trip(text="")
    _, missing = store.round_trip(text=None)

    assert empty.text == ""
    assert missing.text is None


def test_a_mebibyte_of_text_round_trips(store: Store) -> None:
    value = "ab€😀" * (2**20 // 4)

    _, found = store.round_trip(text=value)

    assert value == found.text


@ROUND_TRIPS
@given(st.integers(INT64_MIN, INT64_MAX))
def test_64_bit_ints_round_trip(store: Store, value: int) -> None:
    _, found = store.round_trip(number=value)

    assert value == found.number
    assert int is type(found.number)


@pytest.mark.parametrize("value", [INT64_MIN, INT64_MAX, 0, -1])
def test_int_bounds_round_trip(store: Store, value: int) -> None:
    _, found = store.round_trip(number=value)

    assert value == found.number


@pytest.mark.parametrize("value", [INT64_MAX + 1, INT64_MIN - 1, 2**100])
def test_ints_over_64_bits_are_refused_before_the_write(
    store: Store, value: int
) -> None:
    with pytest.raises(orm.ValidationError, match="64 bits"):
        store.round_trip(number=value)


@ROUND_TRIPS
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_floats_round_trip(store: Store, value: float) -> None:
    _, found = store.round_trip(ratio=value)

    assert value == found.ratio
    assert float is type(found.ratio)


@pytest.mark.parametrize("value", [True, False])
def test_bools_round_trip_as_bools(store: Store, value: bool) -> None:
    _, found = store.round_trip(flag=value)

    assert value is found.flag


@ROUND_TRIPS
@given(aware_datetimes)
def test_aware_datetimes_round_trip_in_utc_at_milliseconds(
    store: Store, value: datetime
) -> None:
    saved, found = store.round_trip(at=value)

    assert found.at is not None
    assert timedelta(0) == found.at.utcoffset()
    assert found.at.microsecond % 1000 == 0
    assert timedelta(0) <= value - found.at < timedelta(milliseconds=1)
    assert saved.at == found.at


def test_a_datetime_comes_back_equal_at_millisecond_precision(store: Store) -> None:
    value = datetime(
        2026, 12, 4, 17, 4, 0, 123_456, tzinfo=timezone(timedelta(hours=1))
    )

    _, found = store.round_trip(at=value)

    assert datetime(2026, 12, 4, 16, 4, 0, 123_000, tzinfo=UTC) == found.at


def test_a_naive_datetime_is_refused_before_the_write(store: Store) -> None:
    with pytest.raises(orm.ValidationError, match="naive"):
        store.round_trip(at=datetime(2024, 1, 1))


@ROUND_TRIPS
@given(st.uuids())
def test_uuids_round_trip(store: Store, value: uuid.UUID) -> None:
    _, found = store.round_trip(ident=value)

    assert value == found.ident


@ROUND_TRIPS
@given(st.uuids(version=1))
def test_time_uuids_round_trip(store: Store, value: uuid.UUID) -> None:
    _, found = store.round_trip(tick=orm.TimeUUID(value))

    assert value == found.tick


@ROUND_TRIPS
@given(json_documents)
def test_nested_json_round_trips(store: Store, value: Any) -> None:
    field = "data" if isinstance(value, dict) else "items"

    _, found = store.round_trip(**{field: value})

    assert value == getattr(found, field)


def test_every_column_missing_round_trips_as_none(store: Store) -> None:
    _, found = store.round_trip()

    assert attrs.astuple(found)[1:] == (None,) * 9
