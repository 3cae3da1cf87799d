"""Hostile user and room tokens: every one refused, with a reason, everywhere."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.security.attack import (
    OTHER_SECRET,
    assert_clean_error,
    b64,
    channel,
    claims,
    connect,
    forge,
    rest,
    room_claims,
    unique,
)
from tests.security.wire import RawSocketIO
from tests.support import TOKENS, ServerProcess

USER = "mallory"


def _tampered() -> str:
    # alice's genuine token with bob's name put in, signature kept.
    head, _, signature = TOKENS.user_token("alice").split(".")
    body = b64(json.dumps({"sub": "bob"}).encode())
    return f"{head}.{body}.{signature}"


def _without_alg() -> str:
    head = b64(json.dumps({"typ": "JWT"}).encode())
    body = b64(json.dumps({"sub": USER}).encode())
    return f"{head}.{body}.{b64(b'x' * 32)}"


# (case, token, what the refusal says)
USER_TOKENS: list[tuple[str, Callable[[], str], str]] = [
    (
        "alg-none",
        lambda: forge(claims(USER), header={"alg": "none"}, key=None),
        "HS256",
    ),
    ("alg-none-signed", lambda: forge(claims(USER), header={"alg": "none"}), "HS256"),
    (
        "alg-None",
        lambda: forge(claims(USER), header={"alg": "None"}, key=None),
        "HS256",
    ),
    (
        "alg-hs256-lowercase",
        lambda: forge(claims(USER), header={"alg": "hs256"}),
        "HS256",
    ),
    (
        "alg-hs384",
        lambda: forge(claims(USER), header={"alg": "HS384"}, digest="sha384"),
        "HS256",
    ),
    (
        "alg-hs512",
        lambda: forge(claims(USER), header={"alg": "HS512"}, digest="sha512"),
        "HS256",
    ),
    ("alg-rs256", lambda: forge(claims(USER), header={"alg": "RS256"}), "HS256"),
    ("alg-es256", lambda: forge(claims(USER), header={"alg": "ES256"}), "HS256"),
    ("alg-ps256", lambda: forge(claims(USER), header={"alg": "PS256"}), "HS256"),
    ("alg-eddsa", lambda: forge(claims(USER), header={"alg": "EdDSA"}), "HS256"),
    ("alg-missing", _without_alg, "HS256"),
    ("kid", lambda: forge(claims(USER), header={"kid": "../../../dev/null"}), "keys"),
    (
        "jku",
        lambda: forge(claims(USER), header={"jku": "http://127.0.0.1:9/k"}),
        "keys",
    ),
    (
        "jwk",
        lambda: forge(claims(USER), header={"jwk": {"kty": "oct", "k": "AA"}}),
        "keys",
    ),
    (
        "x5u",
        lambda: forge(claims(USER), header={"x5u": "http://127.0.0.1:9/c"}),
        "keys",
    ),
    ("expired", lambda: forge(claims(USER, exp=int(time.time()) - 30)), "expired"),
    (
        "not-yet-valid",
        lambda: forge(claims(USER, nbf=int(time.time()) + 600)),
        "not valid yet",
    ),
    ("exp-not-a-number", lambda: forge(claims(USER, exp="never")), "invalid"),
    ("huge", lambda: forge(claims(USER, pad="x" * 20_000)), "too long"),
    ("sub-number", lambda: forge(claims(USER, sub=12345)), "invalid"),
    ("sub-list", lambda: forge(claims(USER, sub=["alice"])), "invalid"),
    ("sub-operator", lambda: forge(claims(USER, sub={"$ne": ""})), "invalid"),
    ("sub-null", lambda: forge(claims(USER, sub=None)), "invalid"),
    ("sub-missing", lambda: forge({"exp": int(time.time()) + 60}), "no user"),
    ("sub-empty", lambda: forge(claims("")), "no valid user"),
    ("sub-too-long", lambda: forge(claims("u" * 1000)), "no valid user"),
    ("other-key", lambda: forge(claims(USER), key=OTHER_SECRET), "signature"),
    ("tampered", _tampered, "signature"),
    ("room-token", lambda: TOKENS.room_token(USER, "/channels"), "expected kind"),
    ("not-a-jwt", lambda: "not.a.jwt", "invalid"),
    ("two-segments", lambda: "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJtIn0", "invalid"),
]


@pytest.mark.parametrize(
    ("token_for", "says"),
    [pytest.param(make, says, id=case) for case, make, says in USER_TOKENS],
)
async def test_hostile_user_token_is_refused_everywhere(
    target: ServerProcess, token_for: Callable[[], str], says: str
) -> None:
    token = token_for()

    status, reply = await rest(target, "GET", "/api/channels", token=token)
    client = await connect(target)
    await client.sio.emit("authenticate", {"token": token})
    told = await client.expect("unauthorized")
    refused = await RawSocketIO.refused(target.port, {"token": token})
    # The socket stays usable: a genuine token still authenticates it.
    await client.authenticate(unique("after"))
    await client.close()

    assert status == 401
    assert says in assert_clean_error(reply, "unauthorized")
    assert says in told["message"]
    assert says in refused["message"]


async def test_user_token_in_the_query_string_is_not_accepted(
    target: ServerProcess,
) -> None:
    token = TOKENS.user_token(USER)

    status, reply = await rest(target, "GET", f"/api/channels?access_token={token}")

    assert status == 401
    assert_clean_error(reply, "unauthorized")


@pytest.mark.parametrize(
    "header",
    ["Basic bWFsbG9yeTpwdw==", "Bearer", "Bearer    ", "Token abc", "bearer\tx"],
)
async def test_malformed_authorization_header_is_a_401(
    target: ServerProcess, header: str
) -> None:
    status, reply = await rest(
        target, "GET", "/api/channels", headers={"Authorization": header}
    )

    assert status == 401
    assert_clean_error(reply, "unauthorized")


def _room_tokens(user: str, room: str) -> list[tuple[str, Any, str]]:
    """(case, token, what the refusal says) for ``user`` joining ``room``."""
    now = int(time.time())
    genuine = TOKENS.room_token(user, room)
    head, _, signature = genuine.split(".")
    other_room = TOKENS.room_token(user, "/channels/elsewhere")
    swapped = f"{head}.{other_room.split('.')[1]}.{signature}"
    return [
        ("other-room", other_room, "another room"),
        ("other-user", TOKENS.room_token("alice", room), "another user"),
        ("expired", forge(room_claims(user, room, exp=now - 5)), "expired"),
        ("tampered", swapped, "signature"),
        ("other-key", forge(room_claims(user, room), key=OTHER_SECRET), "signature"),
        ("user-token", TOKENS.user_token(user), "lacks"),
        ("no-audience", forge(claims(user, room=room)), "aud"),
        ("user-audience", forge(room_claims(user, room, aud="roomcast:user")), "kind"),
        ("no-room", forge(claims(user, aud="roomcast:room")), "room"),
        (
            "no-expiry",
            forge({"sub": user, "room": room, "aud": "roomcast:room"}),
            "exp",
        ),
        (
            "room-list",
            forge({**room_claims(user, room), "room": [room]}),
            "another room",
        ),
        ("alg-none", forge(room_claims(user, room), header={"alg": "none"}), "HS256"),
        ("kid", forge(room_claims(user, room), header={"kid": "x"}), "keys"),
        ("huge", forge(room_claims(user, room, pad="y" * 20_000)), "too long"),
        ("not-a-string", 12345, "missing"),
    ]


ROOM_CASES = [case for case, _, _ in _room_tokens("u", "/r")]


@pytest.mark.parametrize("case", ROOM_CASES)
async def test_hostile_room_token_joins_nothing(
    target: ServerProcess, case: str
) -> None:
    user = unique("joiner")
    control = await channel(target, user)
    client = await connect(target, user)
    token, says = next(
        (t, s) for c, t, s in _room_tokens(user, "/channels") if c == case
    )

    await client.sio.emit("realtime:join", {"name": "/channels", "token": token})
    refused = await client.expect("realtime:join:error")
    await client.join(control["websocket"]["room"], control["websocket"]["token"])
    # A change in the room it failed to join, then one in the room it is in:
    # the second is the first thing it hears.
    await channel(target, unique("owner"))
    path = f"/api/channels/{control['resource']['id']}/messages"
    _, posted = await rest(target, "POST", path, {"text": "control"}, user=user)
    heard = await client.expect("realtime:resource")
    await client.close()

    assert refused["name"] == "/channels"
    assert refused["error"].startswith("invalid room token")
    assert says in refused["error"]
    assert heard["resource"]["id"] == posted["resource"]["id"]


async def _private(server: ServerProcess, owner: str, *members: str) -> Any:
    return await channel(server, owner, visibility="private", members=list(members))


async def test_room_token_of_a_removed_member_joins_nothing(
    target: ServerProcess,
) -> None:
    owner, member = unique("owner"), unique("member")
    created = await _private(target, owner, member)
    room = created["websocket"]["room"]
    kept = TOKENS.room_token(member, room)
    path = f"/api/channels/{created['resource']['id']}"
    status, _ = await rest(target, "PATCH", path, {"members": []}, user=owner)
    client = await connect(target, member)

    await client.sio.emit("realtime:join", {"name": room, "token": kept})
    refused = await client.expect("realtime:join:error")
    await rest(target, "POST", f"{path}/messages", {"text": "secret"}, user=owner)
    await client.nothing()
    await client.close()

    assert status == 200
    assert refused == {"name": room, "error": "not allowed in this room"}


async def test_room_token_of_a_deleted_channel_joins_nothing(
    target: ServerProcess,
) -> None:
    owner = unique("owner")
    created = await channel(target, owner)
    room = created["websocket"]
    status, _ = await rest(
        target, "DELETE", f"/api/channels/{created['resource']['id']}", user=owner
    )
    client = await connect(target, owner)

    await client.sio.emit(
        "realtime:join", {"name": room["room"], "token": room["token"]}
    )
    refused = await client.expect("realtime:join:error")
    await client.close()

    assert status == 200
    assert refused["error"] == "not allowed in this room"


async def test_forged_room_token_for_a_private_channel_joins_nothing(
    target: ServerProcess,
) -> None:
    # Even a room token this server would sign does not let a non-member in.
    owner, outsider = unique("owner"), unique("outsider")
    created = await _private(target, owner)
    room = created["websocket"]["room"]
    client = await connect(target, outsider)

    await client.sio.emit(
        "realtime:join", {"name": room, "token": TOKENS.room_token(outsider, room)}
    )
    refused = await client.expect("realtime:join:error")
    path = f"/api/channels/{created['resource']['id']}/messages"
    await rest(target, "POST", path, {"text": "secret"}, user=owner)
    await client.nothing()
    await client.close()

    assert refused["error"] == "not allowed in this room"
