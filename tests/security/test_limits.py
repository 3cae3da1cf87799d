"""Each limit, reached on the server with low limits (``conftest.LIMITS``)."""

from __future__ import annotations

import asyncio
import json
import secrets
import urllib.error
import urllib.request
from typing import Any

import pytest
import socketio

from server import Settings, SettingsError, load_settings
from tests.security.attack import channel, connect, rest, unique
from tests.security.wire import Closed, RawSocketIO
from tests.support import TOKENS, ServerProcess

NEW_LIMITS = {
    "ROOMCAST_MAX_JOINS_PER_MINUTE": ("max_joins_per_minute", 120),
    "ROOMCAST_MAX_SOCKETS_PER_USER": ("max_sockets_per_user", 20),
    "ROOMCAST_MAX_EVENTS_PER_SECOND": ("max_events_per_second", 50),
    "ROOMCAST_MAX_EVENT_BURST": ("max_event_burst", 200),
    "ROOMCAST_MAX_QUEUED_BYTES": ("max_queued_bytes", 8 * 1024 * 1024),
    "ROOMCAST_MAX_QUEUED_EVENTS": ("max_queued_events", 2000),
}


@pytest.mark.parametrize("variable", list(NEW_LIMITS))
def test_limit_settings_have_defaults_and_read_their_variable(variable: str) -> None:
    name, default = NEW_LIMITS[variable]

    assert getattr(Settings(), name) == default
    assert getattr(load_settings({}, {variable: "7"}), name) == 7
    for bad in ("0", "-1", "many", "1.5"):
        with pytest.raises(SettingsError, match=variable):
            load_settings({}, {variable: bad})


# -- largest WebSocket message ------------------------------------------------


async def test_websocket_message_over_the_limit_closes_with_1009(
    limited: ServerProcess,
) -> None:
    attacker = await RawSocketIO.connect(limited.port)

    attacker.emit("authenticate", {"token": "t" * 5000})
    closed = await attacker.ws.closed()

    assert (closed.code, closed.reason) == (1009, "message too big")


async def test_python_client_sending_too_much_is_disconnected(
    limited: ServerProcess,
) -> None:
    client = await connect(limited)

    await client.sio.emit("authenticate", {"token": "t" * 5000})

    await asyncio.wait_for(client.disconnected.wait(), 5)


async def test_message_just_under_the_limit_is_served(limited: ServerProcess) -> None:
    attacker = await RawSocketIO.connect(limited.port)

    attacker.emit("authenticate", {"token": "t" * 4000})
    told = await attacker.expect("unauthorized")
    attacker.close()

    assert told["message"] == "token is invalid (Not enough segments)"


async def test_long_polling_body_over_the_limit_is_a_413(
    limited: ServerProcess,
) -> None:
    def post() -> int:
        url = f"{limited.url}/socket/?EIO=4&transport=polling"
        with urllib.request.urlopen(url, timeout=5) as response:
            sid = json.loads(response.read()[1:])["sid"]
        body = ("42" + json.dumps(["authenticate", {"token": "t" * 5000}])).encode()
        request = urllib.request.Request(f"{url}&sid={sid}", data=body, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return int(response.status)
        except urllib.error.HTTPError as error:
            return error.code

    assert await asyncio.to_thread(post) == 413


# -- rooms per socket, join attempts per minute -----------------------------


async def test_rooms_per_socket(limited: ServerProcess) -> None:
    user = unique("roomy")
    rooms = [(await channel(limited, user))["websocket"] for _ in range(4)]
    client = await connect(limited, user)

    for room in rooms[:3]:
        await client.join(room["room"], room["token"])
    await client.sio.emit(
        "realtime:join", {"name": rooms[3]["room"], "token": rooms[3]["token"]}
    )
    refused = await client.expect("realtime:join:error")
    await client.sio.emit("realtime:leave", {"name": rooms[0]["room"]})
    await client.expect("realtime:leave:success")
    await client.join(rooms[3]["room"], rooms[3]["token"])
    await client.close()

    assert refused == {
        "name": rooms[3]["room"],
        "error": "a socket may join at most 3 rooms",
    }


async def test_join_attempts_per_minute(limited: ServerProcess) -> None:
    user = unique("joiner")
    created = await channel(limited, user)
    client = await connect(limited, user)
    bad = {"name": "/channels", "token": "not a token"}

    for _ in range(5):
        await client.sio.emit("realtime:join", bad)
    answers = [await client.expect("realtime:join:error") for _ in range(5)]
    await client.sio.emit(
        "realtime:join",
        {"name": created["websocket"]["room"], "token": created["websocket"]["token"]},
    )
    over = await client.expect("realtime:join:error")
    await client.close()
    # Another socket has its own budget.
    other = await connect(limited, user)
    await other.join(created["websocket"]["room"], created["websocket"]["token"])
    await other.close()

    assert all(a["error"].startswith("invalid room token") for a in answers)
    assert over == {
        "name": created["websocket"]["room"],
        "error": "too many join attempts: at most 5 per minute",
    }


# -- sockets per user ----------------------------------------------------------


async def test_sockets_per_user(limited: ServerProcess) -> None:
    user = unique("many")
    token = TOKENS.user_token(user)
    clients = [await connect(limited, user) for _ in range(2)]
    clients.append(await connect(limited, auth={"token": token}))
    await clients[-1].expect("authenticated")

    in_handshake = await RawSocketIO.refused(limited.port, {"token": token})
    late = await connect(limited)
    await late.sio.emit("authenticate", {"token": token})
    told = await late.expect("unauthorized")
    await asyncio.wait_for(late.disconnected.wait(), 5)
    # Another user is not affected; a socket that leaves makes room.
    await (await connect(limited, unique("other"))).close()
    await clients.pop().close()
    await asyncio.sleep(0.2)
    clients.append(await connect(limited, user))
    for client in clients:
        await client.close()

    limit = "too many connections for this user: at most 3"
    assert in_handshake == {"message": limit}
    assert told == {"message": limit}


async def test_reauthenticating_as_oneself_is_not_another_socket(
    limited: ServerProcess,
) -> None:
    user = unique("same")
    clients = [await connect(limited, user) for _ in range(3)]

    for client in clients:
        await client.authenticate(user)
    for client in clients:
        await client.close()


async def test_python_client_refused_in_the_handshake(limited: ServerProcess) -> None:
    user = unique("full")
    token = TOKENS.user_token(user)
    clients = [await connect(limited, user) for _ in range(3)]

    with pytest.raises(socketio.exceptions.ConnectionError):
        await connect(limited, auth={"token": token})
    for client in clients:
        await client.close()


# -- events per second ----------------------------------------------------------


async def test_events_over_the_rate_are_refused_then_the_socket_is_sent_away(
    limited: ServerProcess,
) -> None:
    attacker = await RawSocketIO.connect(
        limited.port, {"token": TOKENS.user_token(unique("flood"))}
    )
    await attacker.expect("authenticated")

    for _ in range(200):
        attacker.emit("realtime:leave", {"name": "/nowhere"})
    answers: list[tuple[str, Any]] = []
    closed = None
    try:
        while True:
            answers.append(await attacker.next_event())
    except Closed as exc:
        closed = exc
    attacker.close()

    served = [a for a in answers if a[0] == "realtime:leave:success"]
    refused = [a for a in answers if a[0] == "realtime:leave:error"]
    # A burst of 20 (the connection took one) goes through, then as many
    # are refused, then it is over.
    assert 19 <= len(served) <= 23
    assert 20 <= len(refused) <= 24
    assert refused[0][1] == {
        "name": "/nowhere",
        "error": "too many events: at most 10 per second",
    }
    assert ("unauthorized", {"message": "too many events: disconnected"}) in answers
    assert closed is not None


async def test_events_at_the_rate_are_all_served(limited: ServerProcess) -> None:
    attacker = await RawSocketIO.connect(
        limited.port, {"token": TOKENS.user_token(unique("steady"))}
    )
    await attacker.expect("authenticated")

    # The burst (less the connection's own), then what the rate gives back
    # in half a second.
    for count in (19, 5):
        for _ in range(count):
            attacker.emit("realtime:leave", {"name": "/x"})
        names = [(await attacker.next_event())[0] for _ in range(count)]
        assert set(names) == {"realtime:leave:success"}
        await asyncio.sleep(0.6)
    attacker.close()


async def test_reentering_the_namespace_gives_no_fresh_allowance(
    limited: ServerProcess,
) -> None:
    token = TOKENS.user_token(unique("cycler"))
    attacker = await RawSocketIO.connect(limited.port, {"token": token})
    await attacker.expect("authenticated")

    # The allowance spent (and some refused), out of the namespace and in.
    for _ in range(30):
        attacker.emit("realtime:leave", {"name": "/x"})
    attacker.ws.send_text("41")
    attacker.ws.send_text("40" + json.dumps({"token": token}))
    answer = await attacker.ws.recv_text()
    while answer.startswith("42"):
        answer = await attacker.ws.recv_text()
    attacker.close()

    assert answer.startswith("44")
    assert json.loads(answer[2:])["message"].startswith("too many events")


async def test_unknown_events_count_towards_the_rate(limited: ServerProcess) -> None:
    attacker = await RawSocketIO.connect(
        limited.port, {"token": TOKENS.user_token(unique("noise"))}
    )
    await attacker.expect("authenticated")

    for _ in range(100):
        attacker.emit("noise", {})
    told = await attacker.next_event()
    closed = await attacker.ws.closed()

    assert told == ("unauthorized", {"message": "too many events: disconnected"})
    assert closed.code == 1008


# -- slow clients ------------------------------------------------------------------


async def test_a_client_that_stops_reading_is_cut_off_and_others_get_everything(
    limited: ServerProcess,
) -> None:
    owner = unique("owner")
    created = await channel(limited, owner)
    room = created["websocket"]["room"]
    slow_user, fast_user = unique("slow"), unique("fast")
    slow = await RawSocketIO.connect(
        limited.port, {"token": TOKENS.user_token(slow_user)}, receive_buffer=4096
    )
    await slow.expect("authenticated")
    slow.emit(
        "realtime:join", {"name": room, "token": TOKENS.room_token(slow_user, room)}
    )
    await slow.expect("realtime:join:success")
    fast = await connect(limited, fast_user)
    await fast.join(room, TOKENS.room_token(fast_user, room))

    # The slow one reads nothing from here on; 50 kB messages fill the
    # kernel's buffers first, then the server's (256 kB allowed).
    path = f"/api/channels/{created['resource']['id']}/messages"
    posted = []
    for _ in range(400):
        text = secrets.token_hex(25_000)
        _, reply = await rest(limited, "POST", path, {"text": text}, user=owner)
        posted.append(reply["resource"]["id"])
        if "too slow" in limited.log():
            break
    for _ in range(3):
        _, reply = await rest(limited, "POST", path, {"text": "after"}, user=owner)
        posted.append(reply["resource"]["id"])
    received = [
        (await fast.expect("realtime:resource"))["resource"]["id"] for _ in posted
    ]
    closed = await slow.ws.closed(timeout=10)
    await fast.close()

    assert "too slow: over 262144 bytes waiting" in limited.log()
    assert received == posted
    assert closed.code in (None, 1008)


async def test_a_long_polling_client_that_stops_polling_is_cut_off(
    limited: ServerProcess,
) -> None:
    owner, fast_user = unique("owner"), unique("fast")
    created = await channel(limited, owner)
    room = created["websocket"]["room"]
    poller = await asyncio.to_thread(_Poller, limited, unique("poller"))
    await asyncio.to_thread(poller.join, room)
    fast = await connect(limited, fast_user)
    await fast.join(room, TOKENS.room_token(fast_user, room))

    path = f"/api/channels/{created['resource']['id']}/messages"
    posted = []
    for i in range(40):  # more than the 30 packets a poller may leave waiting
        _, reply = await rest(limited, "POST", path, {"text": f"m{i}"}, user=owner)
        posted.append(reply["resource"]["id"])
    received = [
        (await fast.expect("realtime:resource"))["resource"]["id"] for _ in posted
    ]
    status = await asyncio.to_thread(poller.poll_status)
    await fast.close()

    assert received == posted
    assert status == 400
    assert "too slow, 30 packets waiting" in limited.log()


class _Poller:
    """A Socket.IO client over long-polling, by hand, that polls when told."""

    def __init__(self, server: ServerProcess, user: str) -> None:
        self.user = user
        self.base = f"{server.url}/socket/?EIO=4&transport=polling"
        opened = self._get()
        self.url = f"{self.base}&sid={json.loads(opened[1:])['sid']}"
        self._post("40" + json.dumps({"token": TOKENS.user_token(user)}))
        self._until('"authenticated"')

    def join(self, room: str) -> None:
        token = TOKENS.room_token(self.user, room)
        self._post("42" + json.dumps(["realtime:join", {"name": room, "token": token}]))
        self._until("realtime:join:success")

    def poll_status(self) -> int:
        try:
            self._get(self.url)
        except urllib.error.HTTPError as error:
            return error.code
        return 200

    def _until(self, marker: str) -> None:
        for _ in range(5):
            if marker in self._get(self.url):
                return
        raise AssertionError(f"no {marker} while polling")

    def _get(self, url: str | None = None) -> str:
        with urllib.request.urlopen(url or self.base, timeout=5) as response:
            return str(response.read().decode())

    def _post(self, body: str) -> None:
        request = urllib.request.Request(self.url, data=body.encode(), method="POST")
        with urllib.request.urlopen(request, timeout=5):
            pass
