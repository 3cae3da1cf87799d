"""Hostile REST calls, on every backend: refused cleanly, data kept intact."""

from __future__ import annotations

import asyncio
import http.client
import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from tests.security.attack import assert_clean_error, channel, connect, rest, unique
from tests.support import TOKENS, ServerProcess

CHANNEL = "00000000-0000-1000-8000-000000000000"


async def _witness(server: ServerProcess) -> tuple[str, Any, Any]:
    """A channel and a message of someone else's, to find intact afterwards."""
    owner = unique("witness")
    created = (await channel(server, owner, members=[]))["resource"]
    path = f"/api/channels/{created['id']}/messages"
    _, message = await rest(server, "POST", path, {"text": "kept"}, user=owner)
    return owner, created, message["resource"]


async def _assert_intact(server: ServerProcess, witness: tuple[str, Any, Any]) -> None:
    owner, created, message = witness
    path = f"/api/channels/{created['id']}"
    status, read = await rest(server, "GET", path, user=owner)
    assert (status, read["resource"]) == (200, created)
    status, listed = await rest(server, "GET", f"{path}/messages", user=owner)
    assert (status, listed["resources"]) == (200, [message])


ENDPOINTS = [
    ("GET", "/api/channels"),
    ("POST", "/api/channels"),
    ("GET", f"/api/channels/{CHANNEL}"),
    ("PATCH", f"/api/channels/{CHANNEL}"),
    ("DELETE", f"/api/channels/{CHANNEL}"),
    ("GET", f"/api/channels/{CHANNEL}/messages"),
    ("POST", f"/api/channels/{CHANNEL}/messages"),
    ("PATCH", f"/api/channels/{CHANNEL}/messages/{CHANNEL}"),
    ("DELETE", f"/api/channels/{CHANNEL}/messages/{CHANNEL}"),
]


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
async def test_no_token_no_access(
    target: ServerProcess, method: str, path: str
) -> None:
    body = {"name": "x"} if method in ("POST", "PATCH") else None

    status, reply = await rest(target, method, path, body)

    assert status == 401
    assert_clean_error(reply, "unauthorized")


MALFORMED = {
    "truncated": b'{"name": "x", ',
    "list": b'[{"name": "x"}]',
    "string": b'"name"',
    "number": b"5",
    "null": b"null",
    "empty": b"",
    "invalid-utf8": b'{"name": "\xff\xfe", "visibility": "public"}',
    "nan": b'{"name": NaN, "visibility": "public"}',
    "duplicate-key": b'{"name": "x", "name": {"$gt": ""}}',
    "deep": b'{"name": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
}


@pytest.mark.parametrize("body", list(MALFORMED.values()), ids=list(MALFORMED))
async def test_malformed_json_is_a_400(target: ServerProcess, body: bytes) -> None:
    witness = await _witness(target)

    status, reply = await rest(target, "POST", "/api/channels", raw=body, user="m")

    assert status == 400
    assert_clean_error(reply, "bad_request")
    await _assert_intact(target, witness)


OPERATORS: list[tuple[str, dict[str, Any]]] = [
    ("name", {"name": {"$gt": ""}, "visibility": "public"}),
    ("name-ne", {"name": {"$ne": None}, "visibility": "public"}),
    ("visibility", {"name": "x", "visibility": {"$ne": "private"}}),
    ("visibility-in", {"name": "x", "visibility": {"$in": ["public", "private"]}}),
    ("members", {"name": "x", "visibility": "private", "members": {"$gt": ""}}),
    ("member", {"name": "x", "visibility": "private", "members": [{"$gt": ""}]}),
    ("where", {"name": "x", "visibility": "public", "$where": "1"}),
]


@pytest.mark.parametrize(
    "body", [b for _, b in OPERATORS], ids=[case for case, _ in OPERATORS]
)
async def test_operator_objects_in_a_new_channel_are_a_400(
    api: ServerProcess, body: dict[str, Any]
) -> None:
    witness = await _witness(api)

    status, reply = await rest(api, "POST", "/api/channels", body, user="m")

    assert status == 400
    assert_clean_error(reply, "bad_request")
    await _assert_intact(api, witness)


@pytest.mark.parametrize(
    "patch",
    [
        {"name": {"$gt": ""}},
        {"visibility": {"$ne": None}},
        {"members": {"$in": ["x"]}},
        {"members": [{"$gt": ""}]},
    ],
    ids=["name", "visibility", "members", "member"],
)
async def test_operator_objects_in_a_change_are_a_400(
    api: ServerProcess, patch: dict[str, Any]
) -> None:
    owner, created, _ = witness = await _witness(api)

    status, reply = await rest(
        api, "PATCH", f"/api/channels/{created['id']}", patch, user=owner
    )

    assert status == 400
    assert_clean_error(reply, "bad_request")
    await _assert_intact(api, witness)


@pytest.mark.parametrize(
    "body",
    [{"text": {"$gt": ""}}, {"text": {"$regex": ".*"}}, {"text": ["a"]}, {"text": 5}],
    ids=["gt", "regex", "list", "number"],
)
async def test_operator_objects_in_a_message_are_a_400(
    api: ServerProcess, body: dict[str, Any]
) -> None:
    owner, created, message = witness = await _witness(api)
    path = f"/api/channels/{created['id']}/messages"

    posted = await rest(api, "POST", path, body, user=owner)
    patched = await rest(api, "PATCH", f"{path}/{message['id']}", body, user=owner)

    for status, reply in (posted, patched):
        assert status == 400
        assert_clean_error(reply, "bad_request")
    await _assert_intact(api, witness)


@pytest.mark.parametrize(
    "query",
    [
        "limit=%7B%22%24gt%22%3A%22%22%7D",
        "limit[$gt]=0",
        "page_token=%7B%22%24gt%22%3A%22%22%7D",
        "page_token[$ne]=x",
        "page_token=%27%20OR%201%3D1%20--",
        "limit=1%3BDROP%20TABLE%20channels",
    ],
)
async def test_operators_in_the_query_are_refused_or_ignored(
    target: ServerProcess, query: str
) -> None:
    witness = await _witness(target)

    status, reply = await rest(target, "GET", f"/api/channels?{query}", user="m")

    if status == 200:  # a parameter of no meaning here is ignored
        assert set(reply) == {"resources", "next_page_token", "websockets"}
    else:
        assert status == 400
        assert_clean_error(reply, "bad_request")
    await _assert_intact(target, witness)


@pytest.mark.parametrize("query", ["limit=%C2%B2", "limit=%E2%91%A0"], ids=["²", "①"])
async def test_unicode_digits_as_limit_are_a_400(
    start_server: Callable[..., ServerProcess], query: str
) -> None:
    # str.isdigit() holds for "²" and "①", which int() refuses. (A server of
    # its own: a failure here leaves an error in the log it is checked for.)
    server = start_server().start()

    status, reply = await rest(server, "GET", f"/api/channels?{query}", user="m")

    assert status == 400
    assert_clean_error(reply, "bad_request")


METACHARACTERS = [
    "'; DROP TABLE channels; --",
    'x" OR "1"="1',
    "Robert'); DELETE FROM messages WHERE ('1'='1",
    "' ALLOW FILTERING; TRUNCATE messages; --",
    "'); BEGIN BATCH DELETE FROM channels WHERE workspace_id='default'; APPLY BATCH;",
    '{"$gt": ""}',
    "$where: function() { return true; }",
    "\\'\\\"\\\\%s%d{0}${jndi:ldap://127.0.0.1/a}",
    "nul\x00byte",
    "\u202eevil\u202c and 🧨 and ﷽",
    "/* comment */ -- dash # hash ; semicolon",
]


@pytest.mark.parametrize("text", METACHARACTERS)
async def test_query_metacharacters_are_stored_verbatim(
    api: ServerProcess, text: str
) -> None:
    owner = unique("meta")
    witness = await _witness(api)
    members = [text[:200], unique("m")]

    created = await channel(api, owner, name=text[:200], members=members)
    channel_path = f"/api/channels/{created['resource']['id']}"
    _, posted = await rest(
        api, "POST", f"{channel_path}/messages", {"text": text}, user=owner
    )
    _, renamed = await rest(
        api, "PATCH", channel_path, {"name": text[::-1]}, user=owner
    )
    _, read = await rest(api, "GET", channel_path, user=owner)
    _, listed = await rest(api, "GET", f"{channel_path}/messages", user=owner)

    assert created["resource"]["name"] == text[:200]
    assert created["resource"]["members"] == [owner, *members]
    assert posted["resource"]["text"] == text
    assert renamed["resource"]["name"] == read["resource"]["name"] == text[::-1]
    assert [m["text"] for m in listed["resources"]] == [text]
    await _assert_intact(api, witness)


@pytest.mark.parametrize(
    "path",
    [
        "/api/channels/..",
        "/api/channels/..%2F..%2F..%2Fetc%2Fpasswd",
        "/api/channels/%2e%2e%2f%2e%2e%2fmessages",
        "/api/channels/%00",
        "/api/channels/" + "9" * 5000,
        "/api/channels/{CHANNEL}/messages/..",
        "/api/channels/{CHANNEL}/messages/..%2F..%2F",
        "/api/channels/{CHANNEL}/messages/%2e%2e%5c%2e%2e%5cwindows",
        "/api/channels/{CHANNEL}/../../health",
        "/api/channels/{OTHER}/messages/{MESSAGE}",
    ],
)
async def test_path_traversal_in_ids_finds_nothing(
    target: ServerProcess, path: str
) -> None:
    owner, created, message = witness = await _witness(target)
    other = (await channel(target, unique("other")))["resource"]
    path = path.format(CHANNEL=created["id"], OTHER=other["id"], MESSAGE=message["id"])

    status, reply = await rest(target, "GET", path, user=owner)

    assert status == 404
    assert_clean_error(reply, "not_found")
    await _assert_intact(target, witness)


UNKNOWN_FIELDS = [
    ("owner", {"name": "x", "visibility": "public", "owner": "mallory"}),
    ("id", {"name": "x", "visibility": "public", "id": CHANNEL}),
    ("workspace", {"name": "x", "visibility": "public", "workspace_id": "other"}),
    ("created_at", {"name": "x", "visibility": "public", "created_at": "2000-01-01"}),
    ("proto", {"name": "x", "visibility": "public", "__proto__": {"admin": True}}),
]


@pytest.mark.parametrize(
    "body", [b for _, b in UNKNOWN_FIELDS], ids=[c for c, _ in UNKNOWN_FIELDS]
)
async def test_unknown_fields_are_a_400(target: ServerProcess, body: Any) -> None:
    owner, created, _ = witness = await _witness(target)
    path = f"/api/channels/{created['id']}"
    extra = {k: v for k, v in body.items() if k not in ("name", "visibility")}

    posted = await rest(target, "POST", "/api/channels", body, user="mallory")
    patched = await rest(target, "PATCH", path, {"name": "y", **extra}, user=owner)
    message_path = f"{path}/messages"
    in_message = await rest(
        target, "POST", message_path, {"text": "x", **extra}, user=owner
    )

    for status, reply in (posted, patched, in_message):
        assert status == 400
        assert "unknown field" in assert_clean_error(reply, "bad_request")
    await _assert_intact(target, witness)


async def test_a_message_cannot_name_its_author_or_channel(
    target: ServerProcess,
) -> None:
    owner, created, message = witness = await _witness(target)
    path = f"/api/channels/{created['id']}/messages"

    for forged in ({"author": "someone"}, {"channel_id": CHANNEL}, {"id": CHANNEL}):
        status, reply = await rest(
            target, "POST", path, {"text": "x", **forged}, user=owner
        )
        assert status == 400
        assert_clean_error(reply, "bad_request")
        status, reply = await rest(
            target, "PATCH", f"{path}/{message['id']}", forged, user=owner
        )
        assert status == 400
    await _assert_intact(target, witness)


async def test_unknown_field_names_are_not_echoed_without_bound(
    target: ServerProcess,
) -> None:
    body = {"name": "x", "visibility": "public", "k" * 50_000: 1}

    status, reply = await rest(target, "POST", "/api/channels", body, user="m")

    assert status == 400
    assert_clean_error(reply, "bad_request")


@pytest.mark.parametrize(
    "body",
    [
        {"name": "n" * 201, "visibility": "public"},
        {"name": "x", "visibility": "public", "members": ["m"] * 1001},
        {"name": "x", "visibility": "public", "members": ["u" * 257]},
        {"name": "x", "visibility": "secret"},
        {"name": "   ", "visibility": "public"},
    ],
    ids=["long-name", "many-members", "long-member", "visibility", "blank-name"],
)
async def test_fields_over_their_bounds_are_a_400(
    target: ServerProcess, body: Any
) -> None:
    status, reply = await rest(target, "POST", "/api/channels", body, user="m")

    assert status == 400
    assert_clean_error(reply, "bad_request")


async def test_oversized_bodies_are_a_413(target: ServerProcess) -> None:
    witness = await _witness(target)
    big = json.dumps({"name": "x", "visibility": "public", "pad": "p" * 1_200_000})
    token = TOKENS.user_token("m")

    declared = await rest(target, "POST", "/api/channels", raw=big.encode(), user="m")
    chunked = await asyncio.to_thread(_chunked_post, target, big.encode(), token)
    text = {"text": "t" * 100_001}
    path = f"/api/channels/{witness[1]['id']}/messages"
    long_text = await rest(target, "POST", path, text, user=witness[0])

    assert declared[0] == 413
    assert_clean_error(declared[1], "payload_too_large")
    assert chunked[0] == 413
    assert_clean_error(chunked[1], "payload_too_large")
    assert long_text[0] == 400
    await _assert_intact(target, witness)


def _chunked_post(server: ServerProcess, body: bytes, token: str) -> tuple[int, Any]:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        connection.request(
            "POST",
            "/api/channels",
            body=iter([body[i : i + 65536] for i in range(0, len(body), 65536)]),
            headers={"Authorization": f"Bearer {token}"},
            encode_chunked=True,
        )
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


async def test_non_member_reads_lists_writes_and_joins_nothing(
    api: ServerProcess,
) -> None:
    owner, member, outsider = unique("owner"), unique("member"), unique("outsider")
    created = await channel(api, owner, visibility="private", members=[member])
    channel_id = created["resource"]["id"]
    path = f"/api/channels/{channel_id}"
    _, message = await rest(api, "POST", f"{path}/messages", {"text": "s"}, user=member)
    message_path = f"{path}/messages/{message['resource']['id']}"
    watcher = await connect(api, outsider)
    _, listing = await rest(api, "GET", "/api/channels?limit=1", user=outsider)
    await watcher.join("/channels", listing["websockets"][0]["token"])

    attempts = [
        ("GET", path, None),
        ("GET", f"{path}/messages", None),
        ("GET", message_path, None),
        ("POST", f"{path}/messages", {"text": "intruder"}),
        ("PATCH", path, {"members": [outsider]}),
        ("PATCH", path, {"visibility": "public"}),
        ("DELETE", path, None),
        ("PATCH", message_path, {"text": "defaced"}),
        ("DELETE", message_path, None),
    ]
    answers = [await rest(api, m, p, b, user=outsider) for m, p, b in attempts]
    seen = await _every_channel_id(api, outsider)
    await watcher.sio.emit(
        "realtime:join",
        {
            "name": f"/channels/{channel_id}",
            "token": TOKENS.room_token(outsider, f"/channels/{channel_id}"),
        },
    )
    refused = await watcher.expect("realtime:join:error")
    await rest(api, "POST", f"{path}/messages", {"text": "s2"}, user=member)
    await rest(api, "PATCH", path, {"name": "renamed"}, user=owner)
    await watcher.nothing(0.3)
    await watcher.close()
    _, kept = await rest(api, "GET", f"{path}/messages", user=member)

    for (status, reply), (method, attempted, _) in zip(answers, attempts, strict=True):
        assert status == 404, (method, attempted, reply)
        assert_clean_error(reply, "not_found")
    assert channel_id not in seen
    assert refused["error"] == "not allowed in this room"
    assert [m["text"] for m in kept["resources"]] == ["s2", "s"]


async def _every_channel_id(server: ServerProcess, user: str) -> set[str]:
    seen: set[str] = set()
    query = "limit=100"
    while True:
        _, page = await rest(server, "GET", f"/api/channels?{query}", user=user)
        seen.update(c["id"] for c in page["resources"])
        if page["next_page_token"] is None:
            return seen
        query = f"limit=100&page_token={page['next_page_token']}"


async def test_a_member_cannot_remove_the_owner(target: ServerProcess) -> None:
    owner, member = unique("owner"), unique("member")
    created = await channel(target, owner, visibility="private", members=[member])
    path = f"/api/channels/{created['resource']['id']}"

    by_member = await rest(target, "PATCH", path, {"members": [member]}, user=member)
    by_owner = await rest(target, "PATCH", path, {"members": [member]}, user=owner)

    assert by_member[0] == 403
    assert_clean_error(by_member[1], "forbidden")
    assert by_owner[1]["resource"]["members"] == [owner, member]


def _uuid_variants(value: str) -> list[str]:
    parsed = uuid.UUID(value)
    return [str(parsed).upper(), f"{{{parsed}}}", f"urn:uuid:{parsed}", parsed.hex]


async def test_other_spellings_of_an_id_reach_only_what_the_id_does(
    target: ServerProcess,
) -> None:
    owner, outsider = unique("owner"), unique("outsider")
    created = await channel(target, owner, visibility="private")

    for spelling in _uuid_variants(created["resource"]["id"]):
        status, reply = await rest(
            target, "GET", f"/api/channels/{spelling}", user=outsider
        )
        assert status == 404
        assert_clean_error(reply, "not_found")
