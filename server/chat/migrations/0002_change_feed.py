"""The durable change feed: every event published to a room, in order."""

from __future__ import annotations

import migrations

id = "0002"
description = "the change feed that clients catch up from"


async def up(ctx: migrations.Context) -> None:
    await ctx.create_table(
        "roomcast_feed",
        columns={
            "room": "text",
            "event_id": "text",
            "action": "text",
            "type": "text",
            "path": "text",
            "resource": "json",
            "created_at": "datetime",
        },
        partition_key=["room"],
        clustering={"event_id": "asc"},
        indexes=[],
    )


async def down(ctx: migrations.Context) -> None:
    await ctx.drop_table("roomcast_feed")
