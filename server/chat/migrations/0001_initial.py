"""The example application's first schema: channels and their messages."""

from __future__ import annotations

import migrations

id = "0001"
description = "channels and their messages"


async def up(ctx: migrations.Context) -> None:
    await ctx.create_table(
        "channels",
        columns={
            "workspace_id": "text",
            "id": "timeuuid",
            "name": "text",
            "visibility": "text",
            "owner": "text",
            "members": "json",
            "created_at": "datetime",
            "updated_at": "datetime",
        },
        partition_key=["workspace_id"],
        clustering={"id": "asc"},
        indexes=[],
    )
    await ctx.create_table(
        "messages",
        columns={
            "channel_id": "uuid",
            "id": "timeuuid",
            "author": "text",
            "text": "text",
            "created_at": "datetime",
            "updated_at": "datetime?",
        },
        partition_key=["channel_id"],
        clustering={"id": "desc"},
        indexes=[],
    )


async def down(ctx: migrations.Context) -> None:
    await ctx.drop_table("messages")
    await ctx.drop_table("channels")
