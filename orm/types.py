"""Column kinds: which Python annotations an entity may use, and their checks.

Every backend stores the same kinds and gives back the same Python values:
``str``, ``int`` (64-bit), ``float``, ``bool``, ``uuid.UUID``, ``TimeUUID``
(a version-1 UUID that sorts by its time, for clustering columns), timezone
aware ``datetime`` (kept at millisecond precision, returned in UTC), and
JSON values (``dict`` or ``list``). ``X | None`` makes a column optional.
"""

from __future__ import annotations

import enum
import json
import math
import types
import typing
import uuid
from datetime import UTC, datetime
from typing import Any, NewType

from .exceptions import DeclarationError, ValidationError

__all__ = ["ColumnKind", "TimeUUID", "resolve_kind", "time_uuid"]

TimeUUID = NewType("TimeUUID", uuid.UUID)
"""A version-1 UUID whose order is the order of the time it holds."""

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1


def time_uuid() -> TimeUUID:
    """A new time-ordered UUID; later calls in one process sort after earlier."""
    return TimeUUID(uuid.uuid1())


class ColumnKind(enum.Enum):
    """What a column holds; each kind checks values and converts them."""

    TEXT = "text"
    INT = "int"
    FLOAT = "float"
    BOOL = "bool"
    UUID = "uuid"
    TIMEUUID = "timeuuid"
    DATETIME = "datetime"
    JSON = "json"

    @property
    def orderable(self) -> bool:
        """Whether the kind may be a key or index column."""
        return self is not ColumnKind.JSON

    def check(self, column: str, value: Any) -> Any:
        """Return ``value`` in its stored form, or raise ``ValidationError``."""
        return _CHECKS[self](column, value)


def resolve_kind(annotation: Any) -> tuple[ColumnKind, bool]:
    """Map a resolved type annotation to its kind and whether it is optional."""
    optional = False
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(members) != 1:
            raise DeclarationError(f"unions other than X | None: {annotation!r}")
        optional = len(members) < len(typing.get_args(annotation))
        annotation = members[0]
        origin = typing.get_origin(annotation)

    if annotation is TimeUUID:
        return ColumnKind.TIMEUUID, optional
    base = origin or annotation
    kind = _KINDS.get(base)
    if kind is None:
        raise DeclarationError(f"no column kind for annotation {annotation!r}")
    return kind, optional


def _text(column: str, value: Any) -> str:
    if not isinstance(value, str):
        raise _wrong_type(column, "str", value)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValidationError(f"{column}: text is not valid UTF-8") from exc
    return value


def _int(column: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _wrong_type(column, "int", value)
    if not INT64_MIN <= value <= INT64_MAX:
        raise ValidationError(f"{column}: {value} does not fit in 64 bits")
    return value


def _float(column: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _wrong_type(column, "float", value)
    try:
        number = float(value)
    except OverflowError:
        raise ValidationError(f"{column}: {value} is too large for a float") from None
    if not math.isfinite(number):
        raise ValidationError(f"{column}: only finite floats can be stored")
    return number


def _bool(column: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise _wrong_type(column, "bool", value)
    return value


def _uuid(column: str, value: Any) -> uuid.UUID:
    if not isinstance(value, uuid.UUID):
        raise _wrong_type(column, "UUID", value)
    return value


def _timeuuid(column: str, value: Any) -> uuid.UUID:
    if not isinstance(value, uuid.UUID) or value.version != 1:
        raise ValidationError(
            f"{column}: expects a time-ordered (version 1) UUID, such as "
            f"orm.time_uuid() makes, got {value!r}"
        )
    return value


def _datetime(column: str, value: Any) -> datetime:
    if not isinstance(value, datetime):
        raise _wrong_type(column, "datetime", value)
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValidationError(
            f"{column}: naive datetime {value.isoformat()}; give a timezone, "
            "e.g. datetime.now(timezone.utc)"
        )
    try:
        utc = value.astimezone(UTC)
    except OverflowError:
        raise ValidationError(
            f"{column}: {value.isoformat()} is out of range in UTC"
        ) from None
    return utc.replace(microsecond=utc.microsecond // 1000 * 1000)


def _json(column: str, value: Any) -> Any:
    if not isinstance(value, (dict, list)):
        raise _wrong_type(column, "dict or list", value)
    try:
        text = json.dumps(value, allow_nan=False, ensure_ascii=False)
        text.encode("utf-8")
    except (TypeError, ValueError, RecursionError) as exc:
        raise ValidationError(f"{column}: not a JSON value ({exc})") from exc
    # Stored values are plain JSON: tuples become lists, keys become strings.
    return json.loads(text)


def _wrong_type(column: str, expected: str, value: Any) -> ValidationError:
    return ValidationError(f"{column}: expects {expected}, got {type(value).__name__}")


_KINDS: dict[Any, ColumnKind] = {
    str: ColumnKind.TEXT,
    int: ColumnKind.INT,
    float: ColumnKind.FLOAT,
    bool: ColumnKind.BOOL,
    uuid.UUID: ColumnKind.UUID,
    datetime: ColumnKind.DATETIME,
    dict: ColumnKind.JSON,
    list: ColumnKind.JSON,
}

_CHECKS = {
    ColumnKind.TEXT: _text,
    ColumnKind.INT: _int,
    ColumnKind.FLOAT: _float,
    ColumnKind.BOOL: _bool,
    ColumnKind.UUID: _uuid,
    ColumnKind.TIMEUUID: _timeuuid,
    ColumnKind.DATETIME: _datetime,
    ColumnKind.JSON: _json,
}
