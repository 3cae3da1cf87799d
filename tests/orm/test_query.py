from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import orm
from orm import Query, QueryError, ge, gt, le, lt, plan


@orm.entity(
    "readings",
    partition_key=["sensor", "day"],
    clustering=[("at", "asc"), ("seq", "desc")],
    indexes=["kind", "site"],
)
@attrs.define
class Reading:
    sensor: uuid.UUID
    day: str
    at: datetime
    seq: int
    kind: str
    site: str | None
    value: float
    payload: dict[str, Any]


@orm.entity("profiles", partition_key=["id"], indexes=["email"])
@attrs.define
class Profile:
    id: uuid.UUID
    email: str
    name: str


READINGS = orm.entity_meta(Reading)
PROFILES = orm.entity_meta(Profile)

SENSOR = uuid.UUID(int=42)
DAY = "2024-05-01"
PARTITION = {"sensor": SENSOR, "day": DAY}
AT = datetime(2024, 5, 1, 12, tzinfo=UTC)


# -- accepted ----------------------------------------------------------------


def test_whole_partition_key_is_accepted() -> None:
    query = plan(READINGS, PARTITION)

    assert query.equals == {"sensor": SENSOR, "day": DAY}
    assert query.range is None
    assert query.index is None
    assert query.by_partition
    assert query.limit == 100


def test_order_is_partition_key_then_declared_clustering() -> None:
    query = plan(READINGS, PARTITION)

    assert query.order_by == (
        ("sensor", "asc"),
        ("day", "asc"),
        ("at", "asc"),
        ("seq", "desc"),
    )


def test_asking_for_the_declared_order_changes_nothing() -> None:
    assert (
        plan(READINGS, PARTITION).order_by
        == plan(READINGS, PARTITION, order="asc").order_by
    )


def test_asking_for_the_other_order_reverses_every_clustering_column() -> None:
    query = plan(READINGS, PARTITION, order="desc")

    assert query.order_by == (
        ("sensor", "asc"),
        ("day", "asc"),
        ("at", "desc"),
        ("seq", "asc"),
    )


def test_equality_on_clustering_columns_in_order_is_accepted() -> None:
    query = plan(READINGS, {**PARTITION, "at": AT, "seq": 3})

    assert query.equals == {"sensor": SENSOR, "day": DAY, "at": AT, "seq": 3}


def test_a_range_on_the_first_clustering_column_is_accepted() -> None:
    query = plan(READINGS, {**PARTITION, "at": gt(AT)})

    assert query.range is not None
    assert query.range[0] == "at"
    assert query.range[1].bounds() == [(">", AT)]


def test_a_range_after_equal_clustering_columns_is_accepted() -> None:
    query = plan(READINGS, {**PARTITION, "at": AT, "seq": ge(1) & lt(9)})

    assert query.range is not None
    assert (
        query.range[0],
        query.range[1].bounds(),
    ) == ("seq", [(">=", 1), ("<", 9)])


def test_filter_values_are_given_in_stored_form() -> None:
    local = datetime(2024, 5, 1, 14, 0, 0, 999_999, tzinfo=timezone(timedelta(hours=2)))

    query = plan(READINGS, {**PARTITION, "at": local})

    assert datetime(2024, 5, 1, 12, 0, 0, 999_000, tzinfo=UTC) == query.equals["at"]


def test_range_values_are_given_in_stored_form() -> None:
    local = datetime(2024, 5, 1, 14, 0, 0, 5_500, tzinfo=timezone(timedelta(hours=2)))

    query = plan(READINGS, {**PARTITION, "at": le(local)})

    assert query.range is not None
    assert [("<=", datetime(2024, 5, 1, 12, 0, 0, 5_000, tzinfo=UTC))] == query.range[
        1
    ].bounds()


@pytest.mark.parametrize("index", ["kind", "site"])
def test_one_indexed_column_alone_is_accepted(index: str) -> None:
    query = plan(READINGS, {index: "x"})

    assert index == query.index
    assert {index: "x"} == query.equals
    assert not query.by_partition


def test_index_lookups_come_in_primary_key_order() -> None:
    query = plan(READINGS, {"kind": "temp"})

    assert query.order_by == (
        ("sensor", "asc"),
        ("day", "asc"),
        ("at", "asc"),
        ("seq", "desc"),
    )


def test_an_index_next_to_the_whole_partition_key_is_accepted() -> None:
    query = plan(READINGS, {**PARTITION, "kind": "temp"})

    assert query.index == "kind"
    assert query.by_partition


def test_an_index_on_an_entity_without_clustering_is_accepted() -> None:
    query = plan(PROFILES, {"email": "a@example.com"})

    assert query.index == "email"
    assert query.order_by == (("id", "asc"),)


@pytest.mark.parametrize("limit", [1, 20, orm.MAX_LIMIT])
def test_limits_within_bounds_are_accepted(limit: int) -> None:
    assert limit == plan(READINGS, PARTITION, limit=limit).limit


# -- refused -----------------------------------------------------------------


def _refusal(meta: orm.EntityMeta, filters: Any, **options: Any) -> str:
    with pytest.raises(QueryError) as raised:
        plan(meta, filters, **options)
    return str(raised.value)


def test_no_filter_at_all_is_refused() -> None:
    message = _refusal(READINGS, {})

    assert "readings: no partition key" in message
    assert "['sensor', 'day']" in message
    assert "['kind', 'site']" in message


def test_clustering_columns_without_partition_key_are_refused() -> None:
    message = _refusal(READINGS, {"at": AT, "seq": 1})

    assert "no partition key" in message


@pytest.mark.parametrize(
    ("filters", "missing"),
    [({"sensor": SENSOR}, "day"), ({"day": DAY}, "sensor")],
)
def test_a_partial_partition_key_is_refused_naming_what_is_missing(
    filters: dict[str, Any], missing: str
) -> None:
    message = _refusal(READINGS, filters)

    assert "must be given whole" in message
    assert f"missing ['{missing}']" in message


def test_an_index_with_part_of_the_partition_key_is_refused() -> None:
    message = _refusal(READINGS, {"sensor": SENSOR, "kind": "temp"})

    assert "missing ['day']" in message


def test_an_index_with_a_clustering_column_is_refused() -> None:
    message = _refusal(READINGS, {"kind": "temp", "at": AT})

    assert "no partition key" in message


def test_an_index_with_a_range_is_refused() -> None:
    message = _refusal(READINGS, {"kind": "temp", "at": gt(AT)})

    assert "no partition key" in message


@pytest.mark.parametrize(
    "filters",
    [{**PARTITION, "value": 1.5}, {"value": 1.5}, {"kind": "t", "value": 1.5}],
)
def test_a_column_neither_key_nor_index_is_refused(filters: dict[str, Any]) -> None:
    message = _refusal(READINGS, filters)

    assert "readings.value is neither a key nor an indexed column" in message
    assert "indexes=[...]" in message


def test_an_unknown_column_is_refused() -> None:
    message = _refusal(READINGS, {**PARTITION, "ghost": 1})

    assert "readings has no column 'ghost'" in message


@pytest.mark.parametrize("name", [1, None, ("sensor",)])
def test_a_column_name_that_is_no_string_is_refused(name: Any) -> None:
    message = _refusal(READINGS, {**PARTITION, name: 1})

    assert f"no column {name!r}" in message


@pytest.mark.parametrize("column", ["sensor", "day"])
def test_a_range_on_a_partition_column_is_refused(column: str) -> None:
    filters = {**PARTITION, column: gt(PARTITION[column])}

    message = _refusal(READINGS, filters)

    assert f"readings.{column}: ranges are allowed only on clustering" in message
    assert "['at', 'seq']" in message


def test_a_range_on_an_indexed_column_is_refused() -> None:
    message = _refusal(READINGS, {**PARTITION, "kind": gt("a")})

    assert "readings.kind: ranges are allowed only on clustering" in message


def test_a_clustering_filter_skipping_a_column_is_refused() -> None:
    message = _refusal(READINGS, {**PARTITION, "seq": 1})

    assert "readings.seq is filtered but 'at' before it" in message


def test_a_filter_after_a_clustering_range_is_refused() -> None:
    message = _refusal(READINGS, {**PARTITION, "at": gt(AT), "seq": 1})

    assert "readings.seq is filtered but 'at' before it" in message


def test_two_ranges_are_refused() -> None:
    message = _refusal(READINGS, {**PARTITION, "at": gt(AT), "seq": lt(4)})

    assert "readings.seq is filtered but 'at'" in message


def test_two_indexed_columns_are_refused() -> None:
    message = _refusal(READINGS, {"kind": "temp", "site": "north"})

    assert "one indexed column per query" in message
    assert "['kind', 'site']" in message


def test_two_indexed_columns_with_the_partition_key_are_refused() -> None:
    message = _refusal(READINGS, {**PARTITION, "kind": "temp", "site": "north"})

    assert "['kind', 'site']" in message


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("day", {"$gt": ""}),
        ("day", {"$ne": None}),
        ("day", ["2024-05-01", "2024-05-02"]),
        ("day", ("2024-05-01",)),
        ("day", 5),
        ("sensor", str(SENSOR)),
        ("sensor", {"$exists": True}),
        ("kind", {"$regex": ".*"}),
        ("kind", ["a", "b"]),
        ("at", "2024-05-01T12:00:00Z"),
        ("at", datetime(2024, 5, 1, 12)),
        ("seq", True),
        ("seq", "1"),
    ],
)
def test_a_value_that_does_not_fit_its_column_is_refused(
    column: str, value: Any
) -> None:
    filters = {**PARTITION, column: value}
    if column == "kind":
        filters = {column: value}

    message = _refusal(READINGS, filters)

    assert message.startswith(f"readings.{column}: {column}: ")
    assert "compared for equality" in message


def test_an_int_too_large_for_a_float_column_is_refused() -> None:
    with pytest.raises(QueryError):
        plan(READINGS, {**PARTITION, "value": 10**400})


@pytest.mark.parametrize("column", ["sensor", "day", "at", "kind"])
def test_none_is_refused_as_a_filter_value(column: str) -> None:
    message = _refusal(READINGS, {**PARTITION, column: None})

    assert f"readings.{column}: cannot filter on a missing value" in message


@pytest.mark.parametrize("bound", [gt(None), le(None)])
def test_none_is_refused_as_a_range_bound(bound: orm.Range) -> None:
    message = _refusal(READINGS, {**PARTITION, "at": bound})

    assert message.startswith("readings.at: at: expects datetime, got NoneType")


def test_a_range_bound_of_the_wrong_type_is_refused() -> None:
    message = _refusal(READINGS, {**PARTITION, "seq": AT, "at": AT})

    assert "readings.seq: seq: expects int" in message


@pytest.mark.parametrize("value", [{"a": 1}, [1], None, gt({})])
def test_a_json_column_cannot_be_filtered_on(value: Any) -> None:
    message = _refusal(READINGS, {**PARTITION, "payload": value})

    assert "readings.payload holds JSON and cannot be filtered on" in message


def test_order_on_an_index_lookup_is_refused() -> None:
    message = _refusal(READINGS, {"kind": "temp"}, order="desc")

    assert "index on 'kind'" in message
    assert "order applies to queries by partition key" in message


def test_order_without_clustering_columns_is_refused() -> None:
    message = _refusal(PROFILES, {"id": uuid.UUID(int=1)}, order="asc")

    assert "profiles has no clustering column to order by" in message


@pytest.mark.parametrize("order", ["ASC", "up", "", 1, True])
def test_an_unknown_order_is_refused(order: Any) -> None:
    message = _refusal(READINGS, PARTITION, order=order)

    assert f"order must be 'asc' or 'desc', got {order!r}" in message


@pytest.mark.parametrize("limit", [0, -1, orm.MAX_LIMIT + 1, 10**30])
def test_a_limit_out_of_bounds_is_refused(limit: int) -> None:
    message = _refusal(READINGS, PARTITION, limit=limit)

    assert f"limit must be between 1 and {orm.MAX_LIMIT}, got {limit}" in message


@pytest.mark.parametrize("limit", [True, 1.0, "10", None])
def test_a_limit_that_is_no_int_is_refused(limit: Any) -> None:
    message = _refusal(READINGS, PARTITION, limit=limit)

    assert f"limit must be an int, got {type(limit).__name__}" in message


def test_query_error_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        plan(READINGS, {})


# -- any filter: a query or a QueryError ------------------------------------

column_names = st.sampled_from(
    [*orm.entity_meta(Reading).columns, "ghost", "$where", ""]
) | st.text(max_size=8)

plain_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(),
    st.text(),
    st.uuids(),
    st.datetimes(timezones=st.none() | st.just(UTC)),
    st.dictionaries(
        st.text(max_size=4), st.text(max_size=4) | st.integers(), max_size=2
    ),
    st.lists(st.integers(), max_size=3),
    st.sampled_from([SENSOR, DAY, AT, "temp", 1]),
)
range_values = st.builds(
    lambda make, value: make(value), st.sampled_from([gt, ge, lt, le]), plain_values
) | st.builds(
    lambda low, high: low & high,
    st.builds(gt, plain_values),
    st.builds(le, plain_values),
)
filter_dicts = st.dictionaries(
    column_names, plain_values | range_values, max_size=6
) | st.fixed_dictionaries(
    {"sensor": st.just(SENSOR), "day": st.just(DAY)},
    optional={
        "at": st.just(AT) | st.builds(gt, st.just(AT)),
        "seq": st.integers(-5, 5) | st.builds(lt, st.integers(-5, 5)),
        "kind": st.text(max_size=3),
        "value": st.floats(),
    },
)


@settings(max_examples=300, deadline=None)
@given(
    filter_dicts,
    st.integers(-2, orm.MAX_LIMIT + 2) | st.sampled_from([None, 1.5, True]),
    st.sampled_from([None, "asc", "desc", "sideways"]),
)
def test_any_filter_is_planned_or_refused_with_a_query_error(
    filters: dict[Any, Any], limit: Any, order: Any
) -> None:
    try:
        query = plan(READINGS, filters, limit=limit, order=order)
    except QueryError as exc:
        assert str(exc)
        return

    assert isinstance(query, Query)
    assert query.by_partition or query.index is not None
    assert set(filters) == set(query.equals) | {r[0] for r in [query.range] if r}


# -- keyset continuation -----------------------------------------------------


def test_keyset_after_follows_the_order_of_each_column() -> None:
    query = plan(READINGS, PARTITION)

    # The partition's columns are fixed by the query: they never move.
    assert query.keyset_after() == [
        [("at", ">")],
        [("at", "="), ("seq", "<")],
    ]


def test_keyset_after_flips_with_the_order_asked() -> None:
    query = plan(READINGS, PARTITION, order="desc")

    assert query.keyset_after() == [
        [("at", "<")],
        [("at", "="), ("seq", ">")],
    ]


def test_keyset_after_of_a_single_key_column() -> None:
    assert plan(PROFILES, {"email": "x"}).keyset_after() == [[("id", ">")]]


# -- ranges ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("range_", "bounds"),
    [
        (gt(1), [(">", 1)]),
        (ge(1), [(">=", 1)]),
        (lt(9), [("<", 9)]),
        (le(9), [("<=", 9)]),
        (gt(1) & lt(9), [(">", 1), ("<", 9)]),
        (ge(1) & le(9), [(">=", 1), ("<=", 9)]),
        (lt(9) & gt(1), [(">", 1), ("<", 9)]),
        (le(9) & ge(1), [(">=", 1), ("<=", 9)]),
        (gt(1) & le(9), [(">", 1), ("<=", 9)]),
    ],
)
def test_ranges_give_their_bounds(range_: orm.Range, bounds: list[Any]) -> None:
    assert bounds == range_.bounds()


def test_a_range_may_bound_with_none_like_values() -> None:
    assert (gt(0) & lt("")).bounds() == [(">", 0), ("<", "")]


@pytest.mark.parametrize(
    ("first", "second"),
    [(gt(1), gt(2)), (gt(1), ge(2)), (lt(1), le(2)), (gt(1) & lt(5), ge(0))],
)
def test_two_bounds_on_the_same_side_are_refused(
    first: orm.Range, second: orm.Range
) -> None:
    with pytest.raises(QueryError, match="at most one lower and one upper"):
        first & second


def test_a_combined_range_is_served_as_both_bounds() -> None:
    query = plan(READINGS, {**PARTITION, "at": ge(AT) & lt(AT + timedelta(hours=1))})

    assert query.range is not None
    assert [(">=", AT), ("<", AT + timedelta(hours=1))] == query.range[1].bounds()


# -- fingerprints ------------------------------------------------------------


def test_the_same_query_has_the_same_fingerprint() -> None:
    first = plan(READINGS, {**PARTITION, "at": gt(AT)})
    second = plan(READINGS, {"at": gt(AT), **PARTITION})

    assert first.fingerprint() == second.fingerprint()


@pytest.mark.parametrize(
    "other",
    [
        ({**PARTITION, "day": "2024-05-02"}, {}),
        ({**PARTITION, "sensor": uuid.UUID(int=43)}, {}),
        ({**PARTITION, "at": AT}, {}),
        ({**PARTITION, "at": gt(AT)}, {}),
        ({**PARTITION, "at": ge(AT)}, {}),
        ({**PARTITION, "at": lt(AT)}, {}),
        ({**PARTITION, "at": gt(AT) & lt(AT + timedelta(1))}, {}),
        ({**PARTITION, "kind": "temp"}, {}),
        (PARTITION, {"order": "desc"}),
        ({"kind": "temp"}, {}),
        ({"site": "temp"}, {}),
    ],
)
def test_different_queries_have_different_fingerprints(
    other: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    filters, options = other

    assert (
        plan(READINGS, PARTITION).fingerprint()
        != plan(READINGS, filters, **options).fingerprint()
    )


def test_the_same_filter_on_another_table_has_another_fingerprint() -> None:
    @orm.entity("readings_copy", partition_key=["sensor", "day"])
    @attrs.define
    class ReadingCopy:
        sensor: uuid.UUID
        day: str

    copy = orm.entity_meta(ReadingCopy)

    assert (
        plan(READINGS, PARTITION).fingerprint() != plan(copy, PARTITION).fingerprint()
    )


text_values = st.text(st.characters(exclude_categories=["Cs"]))


@settings(deadline=None)
@given(text_values, text_values)
def test_fingerprints_differ_whenever_the_values_differ(a: str, b: str) -> None:
    first = plan(READINGS, {**PARTITION, "day": a}).fingerprint()
    second = plan(READINGS, {**PARTITION, "day": b}).fingerprint()

    assert (a == b) == (first == second)
