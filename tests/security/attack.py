"""What every hostile case checks afterwards, and the tools to forge input."""

from __future__ import annotations

import asyncio
import base64
import hmac
import json
import time
import uuid
from typing import Any

from tests.support import SECRET, RealtimeClient, ServerProcess

OTHER_SECRET = "another-secret-that-is-also-at-least-32-bytes"
# What no answer to a client may contain.
INTERNALS = ("Traceback", SECRET, "sqlite", "SELECT ", "INSERT ", 'File "/')


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forge(
    claims: dict[str, Any],
    *,
    header: dict[str, Any] | None = None,
    key: str | None = SECRET,
    digest: str = "sha256",
) -> str:
    """A JWT with any header and claims, signed with HMAC under ``key`` (or
    not signed at all when ``key`` is None) whatever its header says."""
    head = {"typ": "JWT", "alg": "HS256", **(header or {})}
    encoded = [b64(json.dumps(part).encode()) for part in (head, claims)]
    signing_input = ".".join(encoded)
    if key is None:
        return signing_input + "."
    mac = hmac.new(key.encode(), signing_input.encode(), digest).digest()
    return f"{signing_input}.{b64(mac)}"


def claims(user: str, **extra: Any) -> dict[str, Any]:
    now = int(time.time())
    return {"sub": user, "iat": now, "exp": now + 600, **extra}


def room_claims(user: str, room: str, **extra: Any) -> dict[str, Any]:
    return claims(user, **{"room": room, "aud": "roomcast:room", **extra})


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def assert_clean_error(reply: Any, *codes: str) -> str:
    """A JSON error as the API promises it, telling nothing of the inside."""
    assert isinstance(reply, dict) and set(reply) == {"error"}, reply
    error = reply["error"]
    assert set(error) == {"code", "message"}, error
    if codes:
        assert error["code"] in codes, error
    message = error["message"]
    assert isinstance(message, str) and 0 < len(message) < 300, message[:300]
    for secret in INTERNALS:
        assert secret not in message, error
    return message


async def rest(server: ServerProcess, *args: Any, **kwargs: Any) -> tuple[int, Any]:
    return await asyncio.to_thread(server.request, *args, **kwargs)


async def channel(server: ServerProcess, owner: str, **fields: Any) -> Any:
    body = {"name": unique("c"), "visibility": "public", **fields}
    status, reply = await rest(server, "POST", "/api/channels", body, user=owner)
    assert status == 201, reply
    return reply


OPENED: list[RealtimeClient] = []


async def connect(
    server: ServerProcess,
    user: str | None = None,
    *,
    auth: dict[str, Any] | None = None,
) -> RealtimeClient:
    """A python-socketio client, authenticated as ``user`` if given."""
    client = RealtimeClient(server)
    OPENED.append(client)
    await client.connect(auth=auth)
    if user is not None:
        await client.authenticate(user)
    return client


async def close_all() -> None:
    """Whatever a test left open, closed (a failed test leaves clients)."""
    while OPENED:
        await OPENED.pop().close()


_HEALTH_ROOMS: dict[str, tuple[str, Any]] = {}


async def assert_healthy(server: ServerProcess) -> None:
    """The server answers its health check and serves a new, normal client:
    one that authenticates, joins a room and hears the change made in it."""
    status, health = await rest(server, "GET", "/api/health")
    assert status == 200 and health["status"] == "ok", health

    if server.url not in _HEALTH_ROOMS:
        user = unique("healthy")
        _HEALTH_ROOMS[server.url] = user, await channel(server, user)
    user, created = _HEALTH_ROOMS[server.url]
    room = created["websocket"]
    client = await connect(server, user)
    try:
        await client.join(room["room"], room["token"])
        path = f"/api/channels/{created['resource']['id']}/messages"
        status, posted = await rest(server, "POST", path, {"text": "ping"}, user=user)
        assert status == 201, posted
        event = await client.expect("realtime:resource")
        assert event["resource"]["id"] == posted["resource"]["id"]
    finally:
        await client.close()
