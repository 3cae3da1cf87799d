"""Checks on what clients send, each failure a 400 that says what is wrong."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import BadRequest

__all__ = [
    "MAX_MEMBERS",
    "MAX_NAME",
    "MAX_TEXT",
    "channel_fields",
    "message_fields",
]

MAX_NAME = 200
MAX_TEXT = 100_000
MAX_MEMBERS = 1000
MAX_USER_ID = 256
VISIBILITIES = ("public", "private")


def _only(data: Mapping[str, Any], allowed: tuple[str, ...]) -> None:
    unknown = sorted(str(k) for k in data if k not in allowed)
    if unknown:
        # Name a few, shortened: the client's own text is not echoed unbounded.
        shown = [name[:40] for name in unknown[:5]]
        more = f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
        raise BadRequest(f"unknown field(s) {shown}{more}; allowed: {list(allowed)}")


def _text(data: Mapping[str, Any], field: str, limit: int) -> str:
    value = data.get(field)
    if not isinstance(value, str) or not value.strip():
        raise BadRequest(f"{field} must be a non-empty string")
    if len(value) > limit:
        raise BadRequest(f"{field} is longer than {limit} characters")
    if not _utf8(value):
        raise BadRequest(f"{field} is not valid UTF-8")
    return value


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _members(data: Mapping[str, Any]) -> list[str]:
    value = data.get("members", [])
    if not isinstance(value, list) or len(value) > MAX_MEMBERS:
        raise BadRequest(f"members must be a list of at most {MAX_MEMBERS} user ids")
    members: list[str] = []
    for member in value:
        if not isinstance(member, str) or not 0 < len(member) <= MAX_USER_ID:
            raise BadRequest("members must be user ids (non-empty strings)")
        if not _utf8(member):
            raise BadRequest("members must be valid UTF-8")
        if member not in members:
            members.append(member)
    return members


def channel_fields(data: Mapping[str, Any], *, partial: bool) -> dict[str, Any]:
    """The channel fields in ``data``; all but ``members`` required unless
    ``partial`` (a PATCH)."""
    _only(data, ("name", "visibility", "members"))
    fields: dict[str, Any] = {}
    if not partial or "name" in data:
        fields["name"] = _text(data, "name", MAX_NAME)
    if not partial or "visibility" in data:
        visibility = data.get("visibility", None if partial else "public")
        if visibility not in VISIBILITIES:
            raise BadRequest("visibility must be 'public' or 'private'")
        fields["visibility"] = visibility
    if not partial or "members" in data:
        fields["members"] = _members(data)
    if partial and not fields:
        raise BadRequest("nothing to change: give name, visibility or members")
    return fields


def message_fields(data: Mapping[str, Any]) -> dict[str, Any]:
    _only(data, ("text",))
    return {"text": _text(data, "text", MAX_TEXT)}
