"""Hostile Socket.IO payloads and raw frames: refused, the server unmoved."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from tests.security.attack import channel, connect, forge, room_claims, unique
from tests.security.wire import BINARY, TEXT, RawSocketIO, RawWebSocket
from tests.support import TOKENS, ServerProcess


def _nested(depth: int) -> Any:
    value: Any = "/channels"
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize(
    "payload",
    [
        "just text",
        5,
        ["a", "list"],
        None,
        {"token": 5},
        {"token": {"$ne": None}},
        {"token": ["x"]},
        {"token": "x" * 50_000},
        {"token": _nested(300)},
    ],
    ids=[
        "text",
        "number",
        "list",
        "null",
        "token-number",
        "token-operator",
        "token-list",
        "token-long",
        "token-nested",
    ],
)
async def test_bad_authenticate_payload_is_unauthorized(
    target: ServerProcess, payload: Any
) -> None:
    client = await connect(target)

    await client.sio.emit("authenticate", payload)
    told = await client.expect("unauthorized")
    await client.authenticate(unique("after"))
    await client.close()

    assert isinstance(told["message"], str) and 0 < len(told["message"]) < 200


def _join_payloads(token: str) -> dict[str, tuple[Any, Any]]:
    """case -> (payload, the name the error may repeat)."""
    return {
        "text": ("/channels", None),
        "number": (5, None),
        "list": (["/channels", token], None),
        "null": (None, None),
        "empty": ({}, None),
        "no-token": ({"name": "/channels"}, "/channels"),
        "no-name": ({"token": token}, None),
        "name-number": ({"name": 5, "token": token}, None),
        "name-list": ({"name": ["/channels"], "token": token}, None),
        "name-operator": ({"name": {"$gt": ""}, "token": token}, None),
        "name-nested": ({"name": _nested(300), "token": token}, None),
        "name-long": ({"name": "/" * 10_000, "token": token}, None),
        "token-number": ({"name": "/channels", "token": 5}, "/channels"),
        "token-operator": ({"name": "/channels", "token": {"$ne": 0}}, "/channels"),
        "since-number": (
            {"name": "/channels", "token": token, "since": 5},
            "/channels",
        ),
        "since-operator": (
            {"name": "/channels", "token": token, "since": {"$gt": ""}},
            "/channels",
        ),
        "since-long": (
            {"name": "/channels", "token": token, "since": "9" * 20_000},
            "/channels",
        ),
    }


@pytest.mark.parametrize("case", list(_join_payloads("t")))
async def test_bad_join_payload_is_a_join_error(
    target: ServerProcess, case: str
) -> None:
    user = unique("joiner")
    client = await connect(target, user)
    payload, echoed = _join_payloads(TOKENS.room_token(user, "/channels"))[case]

    await client.sio.emit("realtime:join", payload)
    refused = await client.expect("realtime:join:error")
    await client.close()

    assert set(refused) == {"name", "error"}
    assert refused["name"] == echoed
    assert isinstance(refused["error"], str) and len(refused["error"]) < 200


@pytest.mark.parametrize(
    "room",
    ["/channels\x00", "/channels/../channels", "/CHANNELS", "/channels/", "\u202e/"],
    ids=["nul", "dotdot", "case", "slash", "bidi"],
)
async def test_look_alike_room_names_are_not_the_room(
    target: ServerProcess, room: str
) -> None:
    # A token the server would sign for the look-alike does not open it.
    user = unique("joiner")
    client = await connect(target, user)

    await client.sio.emit(
        "realtime:join", {"name": room, "token": TOKENS.room_token(user, room)}
    )
    refused = await client.expect("realtime:join:error")
    await client.close()

    assert refused == {"name": room, "error": "not allowed in this room"}


@pytest.mark.parametrize(
    "payload",
    [
        "/channels",
        5,
        None,
        {},
        {"name": 5},
        {"name": {"$gt": ""}},
        {"name": "x" * 9999},
    ],
    ids=["text", "number", "null", "empty", "number-name", "operator", "long"],
)
async def test_bad_leave_payload_is_a_leave_error(
    target: ServerProcess, payload: Any
) -> None:
    client = await connect(target, unique("leaver"))

    await client.sio.emit("realtime:leave", payload)
    refused = await client.expect("realtime:leave:error")
    await client.close()

    assert set(refused) == {"name", "error"} and refused["name"] is None


async def test_unknown_events_and_extra_arguments_are_harmless(
    target: ServerProcess,
) -> None:
    user = unique("odd")
    client = await connect(target)

    for event in ("whatever", "realtime:resource", "authenticated", "error", "?"):
        await client.sio.emit(event, {"token": TOKENS.user_token(user)})
    # A tuple is sent as several arguments.
    await client.sio.emit("authenticate", ({"token": TOKENS.user_token(user)}, 1, [2]))
    told = await client.expect("authenticated")
    await client.close()

    assert told == {"user": {"id": user}}


# Frames that are not what Engine.IO and Socket.IO clients send.
BAD_PACKETS = {
    "empty": "",
    "engineio-garbage": "Z",
    "engineio-json": '4["authenticate"]',
    "engineio-open": "0{}",
    "base64": "bQUJD",
    "deep-engineio": "2" + "[" * 5000,
    "event-not-a-list": '42{"token":"x"}',
    "event-no-name": "42[]",
    "event-name-number": "42[5]",
    "event-name-list": '42[["authenticate"]]',
    "event-truncated": '42["authenticate",{"token":',
    "event-deep": '42["authenticate",' + "[" * 5000 + "]" * 5000 + "]",
    "event-huge-int": '42["authenticate",' + "9" * 5000 + "]",
    "event-binary": '451-["authenticate",{"_placeholder":true,"num":0}]',
    "ack-not-a-list": '431{"a":1}',
    "connect-error": '44{"message":"x"}',
    "packet-type-9": "49",
    "long-ack-id": "42" + "1" * 200 + '["x"]',
    "reserved-connect": '42["connect",{},{"token":"x"}]',
    "reserved-disconnect": '42["disconnect","transport close"]',
    "catch-all-name": '42["*",{"token":"x"}]',
}


@pytest.mark.parametrize("frame", list(BAD_PACKETS.values()), ids=list(BAD_PACKETS))
async def test_bad_packet_closes_the_connection_with_a_reason(
    target: ServerProcess, frame: str
) -> None:
    attacker = await RawSocketIO.connect(target.port)
    attacker.emit("authenticate", {"token": TOKENS.user_token(unique("raw"))})
    await attacker.expect("authenticated")

    attacker.ws.send_text(frame)
    closed = await attacker.ws.closed()

    assert closed.code == 1002
    assert closed.reason.startswith("bad")


async def test_reserved_event_cannot_fake_a_disconnection(
    target: ServerProcess,
) -> None:
    # A client sending "disconnect" used to drop its session but keep its
    # rooms, escaping token expiry and every limit; now it loses its
    # connection.
    user = unique("faker")
    attacker = await RawSocketIO.connect(
        target.port, {"token": TOKENS.user_token(user)}
    )
    await attacker.expect("authenticated")
    token = TOKENS.room_token(user, "/channels")
    attacker.emit("realtime:join", {"name": "/channels", "token": token})
    await attacker.expect("realtime:join:success")

    attacker.emit("disconnect", "client namespace disconnect")
    closed = await attacker.ws.closed()

    assert (closed.code, closed.reason) == (
        1002,
        "bad packet: 'disconnect' is reserved",
    )


@pytest.mark.parametrize(
    ("opcode", "payload", "code"),
    [
        (TEXT, b'42["authenticate",{"token":"\xff\xfe"}]', None),
        (TEXT, b"\xc3\x28", None),
        (BINARY, b'42["authenticate",{}]', 1003),
        (BINARY, b"\x00\x01\x02", 1003),
    ],
    ids=["utf8-in-event", "utf8-bare", "binary-event", "binary-junk"],
)
async def test_invalid_utf8_and_binary_frames_close_the_connection(
    target: ServerProcess, opcode: int, payload: bytes, code: int | None
) -> None:
    attacker = await RawSocketIO.connect(target.port)

    attacker.ws.send_frame(opcode, payload)
    closed = await attacker.ws.closed()

    assert closed.code == code


@pytest.mark.parametrize(
    "frame",
    [b"\xc1\x82" + bytes(4) + b"40", b"\x89\xfe\x00\xc8" + bytes(4) + b"p" * 200],
    ids=["reserved-bits", "long-ping"],
)
async def test_frame_breaking_websocket_rules_closes_the_connection(
    target: ServerProcess, frame: bytes
) -> None:
    attacker = await RawSocketIO.connect(target.port)

    attacker.ws.writer.write(frame)
    closed = await attacker.ws.closed()

    assert closed.code is None


async def test_other_namespace_is_refused(target: ServerProcess) -> None:
    ws = await RawWebSocket.open(target.port)
    await ws.recv_text()

    ws.send_text("40/admin,")
    answer = await ws.recv_text()
    ws.close()

    assert answer == '44/admin,"Unable to connect"'


@pytest.mark.parametrize(
    "body",
    [b"Z", b"4", b'4["x"]', b"b4QUJD", b"\xff\xfe", b'42["a"]\x1eZ'],
    ids=["garbage", "empty-message", "engineio-json", "base64", "utf8", "second"],
)
async def test_bad_long_polling_body_is_a_400(
    target: ServerProcess, body: bytes
) -> None:
    sid = await _polling_session(target)

    status = await _post(target, sid, body)

    assert status == 400


async def test_unknown_long_polling_session_is_a_400(target: ServerProcess) -> None:
    assert await _post(target, "no-such-session", b"40") == 400


async def test_connection_flood_leaves_nothing_behind(target: ServerProcess) -> None:
    async def one() -> None:
        client = await RawSocketIO.connect(target.port)
        client.emit("authenticate", {"token": "garbage"})
        await client.expect("unauthorized")
        client.close()

    await asyncio.gather(*(one() for _ in range(60)))
    user = unique("after-flood")
    created = await channel(target, user)

    assert created["resource"]["owner"] == user


async def test_join_flood_with_bad_tokens_joins_nothing(target: ServerProcess) -> None:
    user = unique("flooder")
    attacker = await RawSocketIO.connect(
        target.port, {"token": TOKENS.user_token(user)}
    )
    await attacker.expect("authenticated")
    forged = forge(room_claims(user, "/channels"), key="x" * 40)

    for _ in range(100):
        attacker.emit("realtime:join", {"name": "/channels", "token": forged})
    answers = [await attacker.next_event() for _ in range(100)]
    await channel(target, unique("owner"))
    with pytest.raises(TimeoutError):
        await attacker.next_event(timeout=0.3)
    attacker.close()

    assert {name for name, _ in answers} == {"realtime:join:error"}


# -- long-polling by hand ------------------------------------------------------


async def _polling_session(server: ServerProcess) -> str:
    import urllib.request

    def handshake() -> str:
        url = f"{server.url}/socket/?EIO=4&transport=polling"
        with urllib.request.urlopen(url, timeout=5) as response:
            opened = response.read().decode()
        sid: str = json.loads(opened[1:])["sid"]
        return sid

    return await asyncio.to_thread(handshake)


async def _post(server: ServerProcess, sid: str, body: bytes) -> int:
    import urllib.error
    import urllib.request

    def post() -> int:
        url = f"{server.url}/socket/?EIO=4&transport=polling&sid={sid}"
        request = urllib.request.Request(url, data=body, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return int(response.status)
        except urllib.error.HTTPError as error:
            return error.code

    return await asyncio.to_thread(post)
