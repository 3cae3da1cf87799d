"""The WebSocket protocol, driven by python-socketio's client against the server."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import jwt
import pytest
import socketio

from tests.support import SECRET, TOKENS, RealtimeClient, ServerProcess


@pytest.fixture
async def connect(
    live_server: ServerProcess,
) -> AsyncIterator[Callable[..., Any]]:
    clients: list[RealtimeClient] = []

    async def make(user: str | None = None, server: ServerProcess | None = None) -> Any:
        client = await RealtimeClient(server or live_server).connect()
        clients.append(client)
        if user is not None:
            await client.authenticate(user)
        return client

    yield make
    for client in clients:
        await client.close()


async def _rest(server: ServerProcess, *args: Any, **kwargs: Any) -> Any:
    status, reply = await asyncio.to_thread(server.request, *args, **kwargs)
    assert status < 300, reply
    return reply


async def _channel(server: ServerProcess, owner: str, **fields: Any) -> Any:
    body = {"name": f"c-{uuid.uuid4().hex[:8]}", "visibility": "public", **fields}
    return await _rest(server, "POST", "/api/channels", body, user=owner)


async def _channels_room_token(server: ServerProcess, user: str) -> str:
    reply = await _rest(server, "GET", "/api/channels?limit=1", user=user)
    token: str = reply["websockets"][0]["token"]
    return token


async def test_authenticate_answers_the_user(connect: Any) -> None:
    client = await connect()

    await client.sio.emit("authenticate", {"token": TOKENS.user_token("alice")})

    assert await client.expect("authenticated") == {"user": {"id": "alice"}}


@pytest.mark.parametrize(
    "payload",
    [
        {"token": "garbage"},
        {"token": ""},
        {},
        None,
        "just a string",
        {"token": jwt.encode({"sub": "a"}, "wrong-key-but-long-enough-for-tests!!")},
        {"token": jwt.encode({"sub": "a", "exp": int(time.time()) - 10}, SECRET)},
        {"token": "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhIn0."},
        {"token": ["not", "a", "string"]},
    ],
)
async def test_bad_authenticate_is_unauthorized_and_may_retry(
    connect: Any, payload: Any
) -> None:
    client = await connect()

    await client.sio.emit("authenticate", payload)
    reply = await client.expect("unauthorized")
    await client.authenticate("alice")

    assert isinstance(reply["message"], str) and reply["message"]


async def test_handshake_token_authenticates_at_once(
    live_server: ServerProcess,
) -> None:
    client = RealtimeClient(live_server)
    await client.connect(auth={"token": TOKENS.user_token("alice")})

    assert await client.expect("authenticated") == {"user": {"id": "alice"}}
    await client.close()


async def test_invalid_handshake_token_refuses_the_connection(
    live_server: ServerProcess,
) -> None:
    client = RealtimeClient(live_server)

    with pytest.raises(socketio.exceptions.ConnectionError):
        await client.connect(auth={"token": "garbage"})


async def test_join_before_authenticating_is_an_error(connect: Any) -> None:
    client = await connect()
    token = TOKENS.room_token("alice", "/channels")

    await client.sio.emit("realtime:join", {"name": "/channels", "token": token})

    assert await client.expect("realtime:join:error") == {
        "name": "/channels",
        "error": "not authenticated",
    }


@pytest.mark.parametrize(
    ("token_for", "reason"),
    [
        (lambda: "twake", "invalid room token"),
        (lambda: TOKENS.room_token("alice", "/channels/other"), "another room"),
        (lambda: TOKENS.room_token("bob", "/channels"), "another user"),
        (lambda: TOKENS.user_token("alice"), "invalid room token"),
        (
            lambda: jwt.encode(
                {
                    "sub": "alice",
                    "room": "/channels",
                    "aud": "roomcast:room",
                    "exp": int(time.time()) - 5,
                },
                SECRET,
            ),
            "expired",
        ),
    ],
)
async def test_join_with_a_wrong_room_token_is_an_error(
    connect: Any, token_for: Callable[[], str], reason: str
) -> None:
    client = await connect("alice")

    await client.sio.emit("realtime:join", {"name": "/channels", "token": token_for()})
    reply = await client.expect("realtime:join:error")

    assert reply["name"] == "/channels"
    assert reason in reply["error"]


@pytest.mark.parametrize(
    "payload",
    [None, "x", {"token": "t"}, {"name": 5, "token": "t"}, {"name": "", "token": "t"}],
)
async def test_malformed_join_is_an_error(connect: Any, payload: Any) -> None:
    client = await connect("alice")

    await client.sio.emit("realtime:join", payload)

    assert "error" in await client.expect("realtime:join:error")


async def test_channel_events_reach_the_rooms_in_order(
    connect: Any, live_server: ServerProcess
) -> None:
    watcher = await connect("bob")
    await watcher.join("/channels", await _channels_room_token(live_server, "bob"))

    created = await _channel(live_server, "alice")
    channel_id = created["resource"]["id"]
    member = await connect("alice")
    await member.join(created["websocket"]["room"], created["websocket"]["token"])
    await _rest(
        live_server,
        "PATCH",
        f"/api/channels/{channel_id}",
        {"name": "renamed"},
        user="alice",
    )
    await _rest(live_server, "DELETE", f"/api/channels/{channel_id}", user="alice")

    path = f"/channels/{channel_id}"
    watched = [await watcher.expect("realtime:resource") for _ in range(3)]
    assert [(e["action"], e["room"], e["type"], e["path"]) for e in watched] == [
        ("created", "/channels", "channel", path),
        ("updated", "/channels", "channel", path),
        ("deleted", "/channels", "channel", path),
    ]
    assert watched[1]["resource"]["name"] == "renamed"
    ids = [e["event_id"] for e in watched]
    assert ids == sorted(ids) and len(set(ids)) == 3
    in_room = [await member.expect("realtime:resource") for _ in range(2)]
    assert [(e["action"], e["room"]) for e in in_room] == [
        ("updated", path),
        ("deleted", path),
    ]
    await watcher.nothing()
    await member.nothing()


async def test_message_events_reach_the_channel_room(
    connect: Any, live_server: ServerProcess
) -> None:
    created = await _channel(live_server, "alice", members=["bob"])
    channel_id = created["resource"]["id"]
    bob = await connect("bob")
    room = await _rest(live_server, "GET", f"/api/channels/{channel_id}", user="bob")
    await bob.join(room["websocket"]["room"], room["websocket"]["token"])

    base = f"/api/channels/{channel_id}/messages"
    posted = await _rest(live_server, "POST", base, {"text": "hello"}, user="alice")
    message_id = posted["resource"]["id"]
    await _rest(
        live_server, "PATCH", f"{base}/{message_id}", {"text": "hi"}, user="alice"
    )
    await _rest(live_server, "DELETE", f"{base}/{message_id}", user="alice")

    events = [await bob.expect("realtime:resource") for _ in range(3)]
    path = f"/channels/{channel_id}/messages/{message_id}"
    assert [(e["action"], e["type"], e["path"], e["room"]) for e in events] == [
        ("created", "message", path, f"/channels/{channel_id}"),
        ("updated", "message", path, f"/channels/{channel_id}"),
        ("deleted", "message", path, f"/channels/{channel_id}"),
    ]
    assert events[0]["resource"]["text"] == "hello"
    assert events[1]["resource"]["text"] == "hi"
    await bob.nothing()


async def test_private_channel_reaches_members_only(
    connect: Any, live_server: ServerProcess
) -> None:
    outsider = await connect("eve")
    await outsider.join("/channels", await _channels_room_token(live_server, "eve"))
    created = await _channel(
        live_server, "alice", visibility="private", members=["bob"]
    )
    channel_id = created["resource"]["id"]
    room = f"/channels/{channel_id}"

    bob = await connect("bob")
    reply = await _rest(live_server, "GET", f"/api/channels/{channel_id}", user="bob")
    await bob.join(room, reply["websocket"]["token"])
    await outsider.sio.emit(
        "realtime:join", {"name": room, "token": reply["websocket"]["token"]}
    )
    assert "another user" in (await outsider.expect("realtime:join:error"))["error"]
    forged = TOKENS.room_token("eve", room)
    await outsider.sio.emit("realtime:join", {"name": room, "token": forged})
    assert (await outsider.expect("realtime:join:error"))["error"] == (
        "not allowed in this room"
    )

    await _rest(
        live_server,
        "POST",
        f"/api/channels/{channel_id}/messages",
        {"text": "psst"},
        user="bob",
    )
    assert (await bob.expect("realtime:resource"))["resource"]["text"] == "psst"
    await outsider.nothing()


async def test_visibility_changes_show_in_the_public_list(
    connect: Any, live_server: ServerProcess
) -> None:
    watcher = await connect("eve")
    await watcher.join("/channels", await _channels_room_token(live_server, "eve"))
    created = await _channel(live_server, "alice", visibility="private")
    channel_id = created["resource"]["id"]
    path = f"/api/channels/{channel_id}"

    await _rest(live_server, "PATCH", path, {"visibility": "public"}, user="alice")
    await _rest(live_server, "PATCH", path, {"name": "still public"}, user="alice")
    await _rest(live_server, "PATCH", path, {"visibility": "private"}, user="alice")
    await _rest(live_server, "PATCH", path, {"name": "hidden again"}, user="alice")

    events = [await watcher.expect("realtime:resource") for _ in range(3)]
    assert [e["action"] for e in events] == ["created", "updated", "deleted"]
    await watcher.nothing()


async def test_removed_member_stops_receiving(
    connect: Any, live_server: ServerProcess
) -> None:
    created = await _channel(
        live_server, "alice", visibility="private", members=["bob"]
    )
    channel_id = created["resource"]["id"]
    bob = await connect("bob")
    reply = await _rest(live_server, "GET", f"/api/channels/{channel_id}", user="bob")
    await bob.join(reply["websocket"]["room"], reply["websocket"]["token"])

    await _rest(
        live_server,
        "PATCH",
        f"/api/channels/{channel_id}",
        {"members": []},
        user="alice",
    )
    await _rest(
        live_server,
        "POST",
        f"/api/channels/{channel_id}/messages",
        {"text": "bye"},
        user="alice",
    )

    removed = await bob.expect("realtime:leave:success")
    assert removed == {"name": f"/channels/{channel_id}"}
    await bob.nothing(0.5)


async def test_leave_stops_events_and_unknown_rooms_leave_fine(
    connect: Any, live_server: ServerProcess
) -> None:
    client = await connect("alice")
    await client.join("/channels", await _channels_room_token(live_server, "alice"))

    await client.sio.emit("realtime:leave", {"name": "/channels"})
    assert await client.expect("realtime:leave:success") == {"name": "/channels"}
    await client.sio.emit("realtime:leave", {"name": "/never-joined"})
    assert await client.expect("realtime:leave:success") == {"name": "/never-joined"}
    await client.sio.emit("realtime:leave", {"nom": "x"})
    assert "error" in await client.expect("realtime:leave:error")

    await _channel(live_server, "bob")
    await client.nothing()


async def test_join_since_replays_missed_events(
    connect: Any, live_server: ServerProcess
) -> None:
    token = await _channels_room_token(live_server, "alice")
    first = await connect("alice")
    await first.join("/channels", token)
    await _channel(live_server, "bob")
    last_seen = (await first.expect("realtime:resource"))["event_id"]
    await first.close()

    missed = [(await _channel(live_server, "bob"))["resource"]["id"] for _ in range(3)]
    second = await connect("alice")
    joined = await second.join("/channels", token, since=last_seen)
    replayed = [await second.expect("realtime:resource") for _ in range(3)]
    live = await _channel(live_server, "bob")

    assert joined == {"name": "/channels", "recovered": True}
    assert [e["resource"]["id"] for e in replayed] == missed
    assert (await second.expect("realtime:resource"))["resource"]["id"] == live[
        "resource"
    ]["id"]
    await second.nothing()


async def test_join_since_an_invalid_id_is_an_error(
    connect: Any, live_server: ServerProcess
) -> None:
    client = await connect("alice")
    token = await _channels_room_token(live_server, "alice")

    await client.sio.emit(
        "realtime:join", {"name": "/channels", "token": token, "since": "nope"}
    )

    assert "since" in (await client.expect("realtime:join:error"))["error"]


async def test_unauthenticated_socket_is_disconnected_after_the_timeout(
    start_server: type[ServerProcess],
) -> None:
    server = start_server(ROOMCAST_AUTH_TIMEOUT="0.5").start()
    client = await RealtimeClient(server).connect()

    reply = await client.expect("unauthorized", timeout=5)
    await asyncio.wait_for(client.disconnected.wait(), 5)

    assert "timed out" in reply["message"]


async def test_expired_user_token_is_told_and_loses_its_rooms(
    connect: Any, live_server: ServerProcess
) -> None:
    client = await connect()
    short = jwt.encode({"sub": "alice", "exp": int(time.time()) + 2}, SECRET)
    await client.sio.emit("authenticate", {"token": short})
    await client.expect("authenticated")
    await client.join("/channels", await _channels_room_token(live_server, "alice"))

    reply = await client.expect("unauthorized", timeout=6)
    await _channel(live_server, "bob")

    assert reply == {"message": "token has expired"}
    await client.nothing()


async def test_reauthenticating_replaces_the_expiring_token(
    connect: Any, live_server: ServerProcess
) -> None:
    client = await connect()
    short = jwt.encode({"sub": "alice", "exp": int(time.time()) + 2}, SECRET)
    await client.sio.emit("authenticate", {"token": short})
    await client.expect("authenticated")
    await client.join("/channels", await _channels_room_token(live_server, "alice"))

    await client.sio.emit("authenticate", {"token": TOKENS.user_token("alice")})
    assert await client.expect("authenticated") == {"user": {"id": "alice"}}
    await asyncio.sleep(3)
    created = await _channel(live_server, "bob")

    event = await client.expect("realtime:resource")
    assert event["resource"]["id"] == created["resource"]["id"]
    await client.nothing()
