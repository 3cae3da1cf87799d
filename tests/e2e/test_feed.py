"""Clients that were away catch up from the durable feed, on every backend."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from tests.support import BACKENDS, RealtimeClient, ServerProcess, fresh_url


def _post(server: ServerProcess, path: str, body: Any, user: str = "alice") -> Any:
    status, reply = server.request("POST", path, body, user=user)
    assert status == 201, reply
    return reply


async def _member(server: ServerProcess, room: str, token: str, **join: Any) -> Any:
    client = await RealtimeClient(server).connect()
    await client.authenticate("alice")
    joined = await client.join(room, token, **join)
    return client, joined


async def _events(client: RealtimeClient, count: int) -> list[Any]:
    return [await client.expect("realtime:resource", timeout=15) for _ in range(count)]


class _Away(NamedTuple):
    """A channel whose member saw one message there, then went away."""

    room: str
    token: str
    messages: str
    last_seen: str


async def _went_away(server: ServerProcess, name: str) -> _Away:
    channel = await asyncio.to_thread(_post, server, "/api/channels", {"name": name})
    room, token = channel["websocket"]["room"], channel["websocket"]["token"]
    messages = f"/api/channels/{channel['resource']['id']}/messages"
    client, _ = await _member(server, room, token)
    await asyncio.to_thread(_post, server, messages, {"text": "seen"})
    last_seen = (await client.expect("realtime:resource"))["event_id"]
    await client.close()
    return _Away(room, token, messages, last_seen)


async def test_a_client_away_for_100_changes_gets_exactly_those(
    live_server: ServerProcess,
) -> None:
    away = await _went_away(live_server, f"c-{uuid.uuid4().hex[:6]}")

    for i in range(100):
        await asyncio.to_thread(_post, live_server, away.messages, {"text": f"m{i}"})
    back, joined = await _member(
        live_server, away.room, away.token, since=away.last_seen
    )
    replayed = await _events(back, 100)

    assert joined == {"name": away.room, "recovered": True}
    assert [e["resource"]["text"] for e in replayed] == [f"m{i}" for i in range(100)]
    await back.nothing()
    await back.close()


@pytest.mark.parametrize("backend", BACKENDS)
async def test_a_server_restart_loses_nothing(
    start_server: type[ServerProcess], tmp_path: Path, backend: str
) -> None:
    url = fresh_url(backend, tmp_path)
    first = start_server("--migrate", ROOMCAST_DATABASE_URL=url).start()
    away = await _went_away(first, "kept")

    for i in range(5):
        await asyncio.to_thread(_post, first, away.messages, {"text": f"before {i}"})
    first.stop()
    second = start_server("--migrate", ROOMCAST_DATABASE_URL=url).start()
    for i in range(5):
        await asyncio.to_thread(_post, second, away.messages, {"text": f"after {i}"})
    back, joined = await _member(second, away.room, away.token, since=away.last_seen)

    expected = [f"before {i}" for i in range(5)] + [f"after {i}" for i in range(5)]
    assert joined["recovered"] is True
    assert [e["resource"]["text"] for e in await _events(back, 10)] == expected
    await back.nothing()
    await back.close()


async def test_history_past_the_retention_is_not_recovered(
    start_server: type[ServerProcess],
) -> None:
    server = start_server(ROOMCAST_FEED_RETENTION="1").start()
    away = await _went_away(server, "old")
    server.stop()
    # A restart empties the node's memory; the feed itself forgets after 1 s.
    time.sleep(2)
    server.start()
    await asyncio.sleep(1)

    back, joined = await _member(server, away.room, away.token, since=away.last_seen)

    assert joined == {"name": away.room, "recovered": False}
    await back.close()


async def test_concurrent_writers_give_every_client_one_order(
    live_server: ServerProcess,
) -> None:
    channel = await asyncio.to_thread(
        _post, live_server, "/api/channels", {"name": f"busy-{uuid.uuid4().hex[:6]}"}
    )
    room, token = channel["websocket"]["room"], channel["websocket"]["token"]
    messages = f"/api/channels/{channel['resource']['id']}/messages"
    first, _ = await _member(live_server, room, token)
    second, _ = await _member(live_server, room, token)
    await asyncio.to_thread(_post, live_server, messages, {"text": "start"})
    start = (await first.expect("realtime:resource"))["event_id"]
    await second.expect("realtime:resource")

    def write(i: int) -> Callable[[], Any]:
        return lambda: _post(live_server, messages, {"text": f"w{i}"}, f"user{i % 4}")

    with ThreadPoolExecutor(4) as pool:
        await asyncio.gather(
            *(asyncio.wrap_future(pool.submit(write(i))) for i in range(40))
        )
    seen_first = [e["event_id"] for e in await _events(first, 40)]
    seen_second = [e["event_id"] for e in await _events(second, 40)]
    late, _ = await _member(live_server, room, token, since=start)
    seen_late = [e["event_id"] for e in await _events(late, 40)]

    assert seen_first == seen_second == seen_late
    assert seen_first == sorted(seen_first)
    for client in (first, second, late):
        await client.close()


DATA_MIGRATION = '''"""Seeds a public channel."""

from __future__ import annotations

from datetime import UTC, datetime

import migrations
import orm
from server.chat import WORKSPACE, Channel

id = "0003"
description = "a channel for announcements"


async def up(ctx: migrations.Context) -> None:
    now = datetime.now(UTC)
    channel = Channel(
        WORKSPACE, orm.time_uuid(), "announcements", "public", "ops", ["ops"], now, now
    )
    await ctx.db.repository(Channel).save(channel)


async def down(ctx: migrations.Context) -> None:
    return None
'''


async def test_a_data_migration_reaches_the_rooms(
    start_server: type[ServerProcess], tmp_path: Path
) -> None:
    import shutil
    import subprocess
    import sys

    from server.chat.migrations import FOLDER
    from tests.support import RedisProcess

    redis = RedisProcess(tmp_path / "redis").start()
    try:
        url = f"sqlite:///{tmp_path}/shared.db"
        server = start_server(
            ROOMCAST_DATABASE_URL=url, ROOMCAST_REDIS_URL=redis.url
        ).start()
        _, listing = server.request("GET", "/api/channels", user="alice")
        token = listing["websockets"][0]["token"]
        client, _ = await _member(server, "/channels", token)
        versions = tmp_path / "versions"
        shutil.copytree(FOLDER, versions, ignore=shutil.ignore_patterns("__*"))
        (versions / "0003_announcements.py").write_text(DATA_MIGRATION)

        result = await asyncio.to_thread(
            subprocess.run,
            [
                sys.executable,
                "-m",
                "server.cli",
                "migrate",
                "up",
                "--database",
                url,
                "--migrations",
                str(versions),
            ],
            env={**server.env, "ROOMCAST_REDIS_URL": redis.url},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        live = await client.expect("realtime:resource", timeout=10)
        await client.close()
        back, _ = await _member(
            server, "/channels", token, since="000000000000-000000-00000000"
        )
        replayed = await _events(back, 1)
        await back.close()
    finally:
        redis.stop()

    assert (live["action"], live["resource"]["name"]) == ("created", "announcements")
    assert replayed[0]["event_id"] == live["event_id"]


async def test_replay_includes_what_another_process_wrote(
    start_server: type[ServerProcess], tmp_path: Path
) -> None:
    shared = {"ROOMCAST_DATABASE_URL": f"sqlite:///{tmp_path}/shared.db"}
    near = start_server(**shared).start()
    far = start_server(**shared).start()
    away = await _went_away(near, "one")

    # Without Redis nothing crosses processes live, but the feed has it all.
    await asyncio.to_thread(_post, far, away.messages, {"text": "written elsewhere"})
    back, joined = await _member(near, away.room, away.token, since=away.last_seen)

    assert joined["recovered"] is True
    assert [e["resource"]["text"] for e in await _events(back, 1)] == [
        "written elsewhere"
    ]
    await back.close()


def test_a_data_migration_before_the_feed_exists_still_runs(
    start_server: type[ServerProcess], tmp_path: Path
) -> None:
    import shutil

    from server.chat.migrations import FOLDER

    versions = tmp_path / "versions"
    versions.mkdir()
    shutil.copy(FOLDER / "0001_initial.py", versions)
    seed = DATA_MIGRATION.replace('id = "0003"', 'id = "0002"')
    (versions / "0002_announcements.py").write_text(seed)
    feed = (FOLDER / "0002_change_feed.py").read_text()
    (versions / "0003_change_feed.py").write_text(feed.replace('"0002"', '"0003"'))

    server = start_server(ROOMCAST_MIGRATIONS=str(versions)).start()
    status, listing = server.request("GET", "/api/channels", user="alice")

    assert status == 200
    assert [c["name"] for c in listing["resources"]] == ["announcements"]
