from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import attrs
import pytest

import orm
from orm import ColumnKind


@orm.entity(
    "readings",
    partition_key=["sensor", "day"],
    clustering=[("at", "desc"), ("seq", "asc")],
    indexes=["kind"],
)
@attrs.define
class Reading:
    sensor: uuid.UUID
    day: str
    at: datetime
    seq: int
    kind: str
    value: float | None
    payload: dict[str, Any]
    tags: list[str]
    trace: orm.TimeUUID | None = None
    ok: bool = True


@attrs.define
class Plain:
    id: str
    text: str


def test_declaration_is_kept_with_its_keys_and_indexes() -> None:
    meta = orm.entity_meta(Reading)

    assert meta.cls is Reading
    assert meta.table == "readings"
    assert meta.partition_key == ("sensor", "day")
    assert meta.clustering == (("at", "desc"), ("seq", "asc"))
    assert meta.clustering_columns == ("at", "seq")
    assert meta.primary_key == ("sensor", "day", "at", "seq")
    assert meta.indexes == ("kind",)


def test_columns_get_their_kind_and_optionality() -> None:
    columns = orm.entity_meta(Reading).columns

    assert {name: (c.kind, c.optional) for name, c in columns.items()} == {
        "sensor": (ColumnKind.UUID, False),
        "day": (ColumnKind.TEXT, False),
        "at": (ColumnKind.DATETIME, False),
        "seq": (ColumnKind.INT, False),
        "kind": (ColumnKind.TEXT, False),
        "value": (ColumnKind.FLOAT, True),
        "payload": (ColumnKind.JSON, False),
        "tags": (ColumnKind.JSON, False),
        "trace": (ColumnKind.TIMEUUID, True),
        "ok": (ColumnKind.BOOL, False),
    }


def test_decorator_returns_the_class_itself() -> None:
    @attrs.define
    class Thing:
        id: str

    declared = orm.entity("things_same_class", partition_key=["id"])(Thing)

    assert Thing is declared
    assert orm.entity_meta(Thing).table == "things_same_class"


def test_clustering_may_be_a_mapping() -> None:
    @orm.entity("mapped", partition_key=["a"], clustering={"b": "asc", "c": "desc"})
    @attrs.define
    class Mapped:
        a: str
        b: int
        c: str

    assert orm.entity_meta(Mapped).clustering == (("b", "asc"), ("c", "desc"))


def test_entity_without_clustering_has_only_its_partition_key() -> None:
    @orm.entity("bare", partition_key=["id"])
    @attrs.define
    class Bare:
        id: uuid.UUID
        name: str

    meta = orm.entity_meta(Bare)

    assert meta.primary_key == ("id",)
    assert meta.clustering == ()
    assert meta.indexes == ()


def test_frozen_attrs_classes_are_accepted() -> None:
    @orm.entity("frozen_things", partition_key=["id"])
    @attrs.frozen
    class Frozen:
        id: int

    assert orm.entity_meta(Frozen).partition_key == ("id",)


def test_key_of_gives_the_primary_key_values_in_order() -> None:
    meta = orm.entity_meta(Reading)
    row = {"sensor": "s", "day": "d", "at": "t", "seq": 3, "kind": "k"}

    assert meta.key_of(row) == ("s", "d", "t", 3)


def test_to_row_refuses_a_missing_required_value() -> None:
    meta = orm.entity_meta(Reading)
    reading = Reading(
        sensor=uuid.uuid4(),
        day="2024-01-01",
        at=datetime.now().astimezone(),
        seq=1,
        kind="t",
        value=None,
        payload={},
        tags=[],
    )
    reading.kind = None  # type: ignore[assignment]

    with pytest.raises(orm.ValidationError, match="kind"):
        meta.to_row(reading)


def test_to_row_accepts_none_for_optional_columns() -> None:
    meta = orm.entity_meta(Reading)
    sensor = uuid.uuid4()
    at = datetime.now().astimezone()
    reading = Reading(sensor, "d", at, 1, "t", None, {"a": 1}, ["x"])

    row = meta.to_row(reading)

    assert row["value"] is None
    assert row["trace"] is None
    assert row["payload"] == {"a": 1}


def test_a_class_that_is_not_attrs_is_refused() -> None:
    class NotAttrs:
        id: str

    with pytest.raises(orm.DeclarationError, match="NotAttrs must be an attrs class"):
        orm.entity("not_attrs", partition_key=["id"])(NotAttrs)


def test_declaration_error_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        orm.entity("not_attrs_either", partition_key=["id"])(object)


def test_an_empty_partition_key_is_refused() -> None:
    with pytest.raises(orm.DeclarationError, match="partition key is required"):
        orm.entity("no_key", partition_key=[])(Plain)


@pytest.mark.parametrize(
    ("partition_key", "clustering", "missing"),
    [
        (["nope"], {}, "nope"),
        (["id"], {"missing_clustering": "asc"}, "missing_clustering"),
    ],
)
def test_a_key_column_that_is_not_a_field_is_refused(
    partition_key: list[str], clustering: dict[str, str], missing: str
) -> None:
    declare = orm.entity(
        "missing_key", partition_key=partition_key, clustering=clustering
    )

    with pytest.raises(orm.DeclarationError, match=f"'{missing}' is not a field"):
        declare(Plain)


def test_a_column_in_the_key_twice_is_refused() -> None:
    declare = orm.entity("twice", partition_key=["id"], clustering={"id": "asc"})

    with pytest.raises(orm.DeclarationError, match="'id' is in the key twice"):
        declare(Plain)


def test_an_optional_key_column_is_refused() -> None:
    @attrs.define
    class OptionalKey:
        id: str | None
        text: str

    with pytest.raises(orm.DeclarationError, match="key column 'id' must be"):
        orm.entity("optional_key", partition_key=["id"])(OptionalKey)


def test_an_optional_clustering_column_is_refused() -> None:
    @attrs.define
    class OptionalClustering:
        id: str
        at: datetime | None

    declare = orm.entity("opt_clust", partition_key=["id"], clustering={"at": "asc"})

    with pytest.raises(orm.DeclarationError, match="key column 'at' must be"):
        declare(OptionalClustering)


@pytest.mark.parametrize("field", ["payload", "tags"])
def test_a_json_key_column_is_refused(field: str) -> None:
    @attrs.define
    class JsonKey:
        id: str
        payload: dict[str, Any]
        tags: list[str]

    declare = orm.entity("json_key", partition_key=["id"], clustering={field: "asc"})

    with pytest.raises(orm.DeclarationError, match=f"key column '{field}' must be"):
        declare(JsonKey)


def test_a_json_partition_key_is_refused() -> None:
    @attrs.define
    class JsonPartition:
        payload: dict[str, Any]

    with pytest.raises(orm.DeclarationError, match="key column 'payload'"):
        orm.entity("json_partition", partition_key=["payload"])(JsonPartition)


def test_an_index_on_a_json_column_is_refused() -> None:
    @attrs.define
    class JsonIndex:
        id: str
        payload: dict[str, Any]

    declare = orm.entity("json_index", partition_key=["id"], indexes=["payload"])

    with pytest.raises(orm.DeclarationError, match="index on 'payload'"):
        declare(JsonIndex)


def test_an_index_on_a_missing_column_is_refused() -> None:
    declare = orm.entity("missing_index", partition_key=["id"], indexes=["ghost"])

    with pytest.raises(orm.DeclarationError, match="index on 'ghost'"):
        declare(Plain)


@pytest.mark.parametrize("indexed", ["id", "at"])
def test_an_index_on_a_key_column_is_refused(indexed: str) -> None:
    @attrs.define
    class KeyIndex:
        id: str
        at: int
        text: str

    declare = orm.entity(
        "key_index", partition_key=["id"], clustering={"at": "asc"}, indexes=[indexed]
    )

    with pytest.raises(orm.DeclarationError, match=f"'{indexed}' is a key column"):
        declare(KeyIndex)


def test_an_optional_column_may_be_indexed() -> None:
    @orm.entity("optional_index", partition_key=["id"], indexes=["tag"])
    @attrs.define
    class OptionalIndex:
        id: str
        tag: str | None

    assert orm.entity_meta(OptionalIndex).indexes == ("tag",)


@pytest.mark.parametrize("order", ["ascending", "ASC", "", "up", None])
def test_a_bad_clustering_order_is_refused(order: Any) -> None:
    declare = orm.entity("bad_order", partition_key=["id"], clustering={"text": order})

    with pytest.raises(orm.DeclarationError, match="clustering column 'text'"):
        declare(Plain)


@pytest.mark.parametrize(
    "table",
    [
        "my-table",
        "messages; DROP TABLE users",
        'quo"te',
        "with space",
        "_private",
        "1starts_with_digit",
        "ünïcode",
        "",
    ],
)
def test_a_table_name_that_is_no_plain_identifier_is_refused(table: str) -> None:
    with pytest.raises(orm.DeclarationError, match="table name"):
        orm.entity(table, partition_key=["id"])(Plain)


def test_a_column_name_that_is_no_plain_identifier_is_refused() -> None:
    @attrs.define
    class Underscored:
        id: str
        _secret: str

    with pytest.raises(orm.DeclarationError, match="column name '_secret'"):
        orm.entity("underscored", partition_key=["id"])(Underscored)


def _class_with(name: str, annotation: Any) -> type:
    """An attrs class with a text ``id`` and one more field, built at run time."""
    fields = {"id": attrs.field(type=str), name: attrs.field(type=annotation)}
    return attrs.make_class("Built", fields)


def test_a_non_ascii_column_name_is_refused() -> None:
    with pytest.raises(orm.DeclarationError, match="column name 'café'"):
        orm.entity("accented", partition_key=["id"])(_class_with("café", str))


@pytest.mark.parametrize(
    "annotation",
    [set[int], bytes, tuple[int, int], int | str, int | str | None, complex, object],
)
def test_an_annotation_without_a_column_kind_is_refused(annotation: Any) -> None:
    with pytest.raises(orm.DeclarationError, match=r"annotation|unions"):
        orm.entity("odd", partition_key=["id"])(_class_with("odd", annotation))


def test_entity_meta_of_an_undeclared_class_is_a_declaration_error() -> None:
    with pytest.raises(orm.DeclarationError, match="Plain is not an entity"):
        orm.entity_meta(Plain)


def test_entity_meta_of_a_builtin_is_a_declaration_error() -> None:
    with pytest.raises(orm.DeclarationError, match="dict is not an entity"):
        orm.entity_meta(dict)


def test_a_refused_declaration_registers_nothing() -> None:
    @attrs.define
    class Refused:
        id: str | None

    with pytest.raises(orm.DeclarationError):
        orm.entity("refused", partition_key=["id"])(Refused)

    with pytest.raises(orm.DeclarationError, match="not an entity"):
        orm.entity_meta(Refused)
