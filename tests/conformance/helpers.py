"""Helpers the connector suites share."""

from __future__ import annotations

import socket
import uuid
from typing import Any

import orm


def unique(prefix: str = "") -> str:
    return prefix + uuid.uuid4().hex


def make_timeuuid(timestamp: int, node: int = 0x0123456789AB) -> orm.TimeUUID:
    """A version-1 UUID holding ``timestamp`` (100 ns ticks since 1582)."""
    fields = (
        timestamp & 0xFFFFFFFF,
        (timestamp >> 32) & 0xFFFF,
        ((timestamp >> 48) & 0x0FFF) | 0x1000,
        0x80,
        0x00,
        node,
    )
    return orm.TimeUUID(uuid.UUID(fields=fields))


async def all_pages(
    repository: orm.Repository[Any], filters: dict[str, Any], limit: int, **kw: Any
) -> list[list[Any]]:
    pages: list[list[Any]] = []
    token = None
    while True:
        page = await repository.find(filters, limit=limit, page_token=token, **kw)
        pages.append(page.items)
        token = page.next_page_token
        if token is None:
            return pages
        assert len(pages) < 1000, "pagination does not end"


def flat(pages: list[list[Any]]) -> list[Any]:
    return [item for page in pages for item in page]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port
