"""The database goes away under a running server, then comes back."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import FerretProcess, RealtimeClient, ServerProcess


@pytest.fixture
def ferret(tmp_path: Path) -> Iterator[FerretProcess]:
    server = FerretProcess(tmp_path / "ferret").start()
    yield server
    server.stop()


async def test_database_outage_is_a_503_and_recovers_by_itself(
    start_server: type[ServerProcess], ferret: FerretProcess
) -> None:
    node = start_server("--migrate", ROOMCAST_DATABASE_URL=ferret.url).start()
    client = await RealtimeClient(node).connect()
    await client.authenticate("alice")
    _, listing = node.request("GET", "/api/channels", user="alice")
    await client.join("/channels", listing["websockets"][0]["token"])

    ferret.stop()
    status, reply = await asyncio.to_thread(
        node.request, "POST", "/api/channels", {"name": "lost"}, user="alice"
    )
    health = node.request("GET", "/api/health")

    assert status == 503
    assert reply["error"]["code"] == "unavailable"
    assert "database" in reply["error"]["message"]
    assert health == (503, {"status": "degraded", "database": "unavailable"})
    await client.nothing(0.5)
    assert node.process is not None and node.process.poll() is None

    ferret.start()
    deadline = time.monotonic() + 30
    while node.request("GET", "/api/health")[0] != 200:
        assert time.monotonic() < deadline, "the server did not recover"
        await asyncio.sleep(0.2)
    status, reply = await asyncio.to_thread(
        node.request, "POST", "/api/channels", {"name": "kept"}, user="alice"
    )
    assert status == 201
    event = await client.expect("realtime:resource")
    assert event["resource"]["name"] == "kept"
    _, listing = node.request("GET", "/api/channels", user="alice")
    assert [c["name"] for c in listing["resources"]] == ["kept"]
    await client.close()
