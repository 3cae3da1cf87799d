"""Entities as JSON-ready dicts, the shape REST and WebSocket clients see."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from .entity import entity_meta

__all__ = ["as_json", "as_json_values", "format_datetime"]


def format_datetime(value: datetime) -> str:
    """ISO 8601 in UTC with milliseconds, e.g. ``2026-12-04T16:04:00.123Z``."""
    utc = value.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def as_json(entity: Any) -> dict[str, Any]:
    """The entity's fields with UUIDs and datetimes as strings."""
    meta = entity_meta(type(entity))
    return {name: _json_value(getattr(entity, name)) for name in meta.columns}


def as_json_values(fields: Mapping[str, Any]) -> dict[str, Any]:
    """``fields`` with UUIDs and datetimes as strings."""
    return {name: _json_value(value) for name, value in fields.items()}


def _json_value(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        return format_datetime(value)
    return value
