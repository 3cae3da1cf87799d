"""The seed's JavaScript client, extended with ``since``, loses nothing through
a dropped connection, a node killed mid-traffic, a restart and a Redis outage:
every event arrives once, in order, on every backend."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import (
    BACKENDS,
    ROOT,
    TOKENS,
    RedisProcess,
    ServerProcess,
    TcpProxy,
    fresh_url,
)

JS = ROOT / "tests" / "js"


class Script:
    """A Node.js script of tests/js, its JSON lines read as they come."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.lines: list[dict[str, Any]] = []

    @classmethod
    async def start(cls, name: str, **options: Any) -> Script:
        process = await asyncio.create_subprocess_exec(
            "node",
            str(JS / name),
            json.dumps(options),
            cwd=JS,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        return cls(process)

    async def until(self, event: str, timeout: float = 30) -> dict[str, Any]:
        """Read lines up to the next ``event``; returns that line."""
        assert self.process.stdout is not None
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            raw = await asyncio.wait_for(self.process.stdout.readline(), remaining)
            assert raw, f"the script ended before {event}: {self.lines}"
            line = json.loads(raw)
            self.lines.append(line)
            if line["event"] == event:
                return line

    def events(self) -> list[dict[str, Any]]:
        return [x["data"] for x in self.lines if x["event"] == "realtime:resource"]

    async def stop(self) -> None:
        if self.process.returncode is None:
            self.process.kill()
        await self.process.wait()


@pytest.fixture
async def redis(tmp_path: Path) -> AsyncIterator[RedisProcess]:
    server = RedisProcess(tmp_path / "redis").start()
    yield server
    server.stop()


async def _post(node: ServerProcess, path: str, body: Any) -> Any:
    status, reply = await asyncio.to_thread(
        node.request, "POST", path, body, user="alice"
    )
    assert status == 201, reply
    return reply


async def _until_healthy(node: ServerProcess, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            status, _ = await asyncio.to_thread(node.request, "GET", "/api/health")
        except OSError:
            status = 0
        if status == 200:
            return
        assert time.monotonic() < deadline, f"{node.url} is not healthy"
        await asyncio.sleep(0.2)


@pytest.mark.parametrize("backend", BACKENDS)
async def test_the_js_client_misses_nothing(
    start_server: type[ServerProcess],
    redis: RedisProcess,
    tmp_path: Path,
    backend: str,
) -> None:
    shared = {
        "ROOMCAST_DATABASE_URL": fresh_url(backend, tmp_path),
        "ROOMCAST_REDIS_URL": redis.url,
    }
    first = start_server("--migrate", **shared).start()
    second = start_server("--migrate", **shared).start()
    channel = await _post(first, "/api/channels", {"name": "resilient"})
    messages = f"/api/channels/{channel['resource']['id']}/messages"
    proxy = await TcpProxy(first.port).start()
    sent: list[str] = []

    async def say(node: ServerProcess, text: str) -> None:
        await _post(node, messages, {"text": text})
        sent.append(text)

    script = await Script.start(
        "resilient.js",
        url=proxy.url,
        token=TOKENS.user_token("alice"),
        room=channel["websocket"]["room"],
        roomToken=channel["websocket"]["token"],
        count=12,
        timeout=90,
    )
    try:
        await script.until("joined")
        await say(first, "live on the first node")
        await say(second, "live from the second node")
        for _ in range(2):
            await script.until("realtime:resource")

        # The connection drops: the client reconnects by itself.
        proxy.drop_all()
        await say(second, "while reconnecting 1")
        await say(second, "while reconnecting 2")
        assert (await script.until("joined"))["data"]["recovered"] is True

        # Its node is killed: the balancer sends it to the other node.
        proxy.target = second.port
        first.kill()
        proxy.drop_all()
        await say(second, "while its node is down 1")
        await say(second, "while its node is down 2")
        assert (await script.until("joined"))["data"]["recovered"] is True

        # The killed node comes back, then Redis goes away for a while.
        first.start()
        redis.stop()
        await say(first, "during the Redis outage 1")
        await say(first, "during the Redis outage 2")
        redis.start()
        await _until_healthy(second)
        await _until_healthy(first)
        await say(first, "after the outage 1")
        await say(second, "after the outage 2")
        await say(first, "after the outage 3")
        await say(second, "after the outage 4")

        await script.until("end", timeout=60)
    finally:
        await script.stop()
        await proxy.close()

    received = script.events()
    assert [e["resource"]["text"] for e in received] == sent
    assert len({e["event_id"] for e in received}) == len(sent)
