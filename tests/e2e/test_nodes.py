"""Several server processes joined over a real Redis, and Redis faults."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import RealtimeClient, RedisProcess, ServerProcess


@pytest.fixture
def redis(tmp_path: Path) -> Any:
    server = RedisProcess(tmp_path / "redis").start()
    yield server
    server.stop()


@pytest.fixture
async def clients() -> AsyncIterator[list[RealtimeClient]]:
    made: list[RealtimeClient] = []
    yield made
    for client in made:
        await client.close()


def _nodes(
    start_server: type[ServerProcess], redis: RedisProcess, tmp_path: Path, count: int
) -> list[ServerProcess]:
    shared = {
        "ROOMCAST_REDIS_URL": redis.url,
        "ROOMCAST_DATABASE_URL": f"sqlite:///{tmp_path}/shared.db",
    }
    return [start_server(**shared).start() for _ in range(count)]


async def _watch(
    node: ServerProcess, user: str, clients: list[RealtimeClient]
) -> RealtimeClient:
    client = await RealtimeClient(node).connect()
    clients.append(client)
    await client.authenticate(user)
    status, reply = await asyncio.to_thread(
        node.request, "GET", "/api/channels?limit=1", user=user
    )
    assert status == 200, reply
    await client.join("/channels", reply["websockets"][0]["token"])
    return client


async def _create(node: ServerProcess, user: str = "alice") -> str:
    body = {"name": f"c-{uuid.uuid4().hex[:8]}", "visibility": "public"}
    status, reply = await asyncio.to_thread(
        node.request, "POST", "/api/channels", body, user=user
    )
    assert status == 201, reply
    channel_id: str = reply["resource"]["id"]
    return channel_id


async def _created_ids(client: RealtimeClient, count: int) -> list[str]:
    events = [await client.expect("realtime:resource") for _ in range(count)]
    return [e["resource"]["id"] for e in events]


async def test_events_reach_every_node_once_and_in_one_order(
    start_server: type[ServerProcess],
    redis: RedisProcess,
    tmp_path: Path,
    clients: list[RealtimeClient],
) -> None:
    nodes = _nodes(start_server, redis, tmp_path, 3)
    watchers = [await _watch(node, f"user{i}", clients) for i, node in enumerate(nodes)]

    made = [await _create(nodes[i % 3]) for i in range(9)]

    orders = [await _created_ids(watcher, 9) for watcher in watchers]
    assert orders == [made, made, made]
    for watcher in watchers:
        await watcher.nothing()
    for node in nodes:
        assert node.request("GET", "/api/health") == (
            200,
            {"status": "ok", "database": "ok", "redis": "ok"},
        )


async def test_redis_outage_keeps_each_node_serving_its_own_sockets(
    start_server: type[ServerProcess],
    redis: RedisProcess,
    tmp_path: Path,
    clients: list[RealtimeClient],
) -> None:
    first, second = _nodes(start_server, redis, tmp_path, 2)
    near = await _watch(first, "alice", clients)
    far = await _watch(second, "bob", clients)

    redis.stop()
    during = [await _create(first) for _ in range(3)]

    assert await _created_ids(near, 3) == during
    await far.nothing(0.5)
    status, health = first.request("GET", "/api/health")
    assert status == 503
    assert health == {"status": "degraded", "database": "ok", "redis": "unavailable"}

    redis.start()
    await _until_cross_node_delivery(first, far)
    await _drain(near)
    after = await _create(first)
    assert await _created_ids(near, 1) == [after]
    assert await _created_ids(far, 1) == [after]
    assert first.request("GET", "/api/health")[0] == 200
    warnings = [line for line in first.log().splitlines() if "unavailable" in line]
    assert len(warnings) == 1, warnings


async def test_silently_dropped_subscription_is_renewed(
    start_server: type[ServerProcess],
    redis: RedisProcess,
    tmp_path: Path,
    clients: list[RealtimeClient],
) -> None:
    first, second = _nodes(start_server, redis, tmp_path, 2)
    near = await _watch(first, "alice", clients)
    far = await _watch(second, "bob", clients)

    assert b":" in redis.command("CLIENT", "KILL", "TYPE", "pubsub")
    await _until_cross_node_delivery(second, near)
    await _drain(far)

    made = await _create(second)
    assert await _created_ids(near, 1) == [made]
    assert await _created_ids(far, 1) == [made]


async def _until_cross_node_delivery(
    producer: ServerProcess, receiver: RealtimeClient
) -> None:
    """Create channels on ``producer`` until ``receiver`` (elsewhere) gets one."""
    for _ in range(60):
        await _create(producer)
        try:
            await receiver.expect("realtime:resource", timeout=0.5)
        except TimeoutError:
            continue
        await _drain(receiver)
        return
    raise AssertionError("cross-node delivery did not resume")


async def _drain(client: RealtimeClient) -> None:
    await asyncio.sleep(0.5)
    while not client.events.empty():
        client.events.get_nowait()
