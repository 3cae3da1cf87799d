"""The ``resource`` of an event: an entity as clients see it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

import orm

__all__ = ["resource_of"]


def resource_of(entity: Any) -> dict[str, Any]:
    """JSON-ready fields of an ORM entity, another attrs object, or a mapping."""
    try:
        orm.entity_meta(type(entity))
    except orm.DeclarationError:
        pass
    else:
        return orm.as_json(entity)
    if attrs.has(type(entity)):
        fields = attrs.asdict(entity, recurse=False)
    elif isinstance(entity, Mapping):
        fields = dict(entity)
    else:
        raise TypeError(f"cannot publish a {type(entity).__name__} as a resource")
    return orm.as_json_values(fields)
