"""The example application's REST API, against a real server process."""

from __future__ import annotations

import http.client
import uuid

import pytest

from tests.support import TOKENS, ServerProcess


def _channel(
    server: ServerProcess, owner: str, visibility: str = "public", **fields: object
) -> dict[str, object]:
    body = {"name": f"c-{uuid.uuid4().hex[:8]}", "visibility": visibility, **fields}
    status, reply = server.request("POST", "/api/channels", body, user=owner)
    assert status == 201, reply
    resource: dict[str, object] = reply["resource"]
    return resource


def test_health_answers_ok(live_server: ServerProcess) -> None:
    assert live_server.request("GET", "/api/health") == (
        200,
        {"status": "ok", "database": "ok"},
    )


def test_every_api_call_needs_a_user_token(live_server: ServerProcess) -> None:
    status, reply = live_server.request("GET", "/api/channels")

    assert status == 401
    assert reply["error"]["code"] == "unauthorized"


def test_a_room_token_is_not_a_user_token(live_server: ServerProcess) -> None:
    room_token = TOKENS.room_token("alice", "/channels")

    status, _ = live_server.request("GET", "/api/channels", token=room_token)

    assert status == 401


def test_create_channel_answers_resource_and_room_token(
    live_server: ServerProcess,
) -> None:
    status, reply = live_server.request(
        "POST",
        "/api/channels",
        {"name": "general", "visibility": "public", "members": ["bob", "alice"]},
        user="alice",
    )

    assert status == 201
    resource = reply["resource"]
    assert resource["name"] == "general"
    assert resource["owner"] == "alice"
    assert resource["members"] == ["alice", "bob"]
    assert resource["created_at"].endswith("Z")
    assert reply["websocket"]["room"] == f"/channels/{resource['id']}"
    TOKENS.check_room(reply["websocket"]["token"], "alice", reply["websocket"]["room"])


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"name": ""},
        {"name": 5},
        {"name": "x", "visibility": "secret"},
        {"name": "x", "members": "bob"},
        {"name": "x", "members": [1]},
        {"name": "x", "topic": "unknown field"},
        {"name": {"$gt": ""}},
        {"name": "x" * 201},
    ],
)
def test_invalid_channel_is_a_400(live_server: ServerProcess, body: object) -> None:
    status, reply = live_server.request("POST", "/api/channels", body, user="alice")

    assert status == 400
    assert reply["error"]["code"] == "bad_request"


@pytest.mark.parametrize("raw", [b"{", b"[]", b'"text"', b"\xff\xfe", b""])
def test_malformed_json_is_a_400(live_server: ServerProcess, raw: bytes) -> None:
    status, reply = live_server.request("POST", "/api/channels", raw=raw, user="alice")

    assert status == 400
    assert "JSON" in reply["error"]["message"]


def test_sql_and_cql_metacharacters_are_stored_verbatim(
    live_server: ServerProcess,
) -> None:
    name = "x'); DROP TABLE channels; -- \" ; $where {}"
    channel = _channel(live_server, "alice", name=name)

    status, reply = live_server.request(
        "GET", f"/api/channels/{channel['id']}", user="alice"
    )

    assert status == 200
    assert reply["resource"]["name"] == name


def test_oversized_body_is_a_413_json_answer(start_server: type[ServerProcess]) -> None:
    server = start_server(ROOMCAST_MAX_BODY="1000").start()

    status, reply = server.request(
        "POST", "/api/channels", {"name": "x" * 5000}, user="alice"
    )

    assert status == 413
    assert reply["error"]["code"] == "payload_too_large"
    assert server.request("GET", "/api/health")[0] == 200


def test_oversized_chunked_body_is_a_413(start_server: type[ServerProcess]) -> None:
    server = start_server(ROOMCAST_MAX_BODY="1000").start()
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    connection.putrequest("POST", "/api/channels")
    connection.putheader("Authorization", f"Bearer {TOKENS.user_token('alice')}")
    connection.putheader("Transfer-Encoding", "chunked")
    connection.endheaders()
    for _ in range(10):
        chunk = b"x" * 500
        connection.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
    connection.send(b"0\r\n\r\n")

    response = connection.getresponse()

    assert response.status == 413
    assert b"payload_too_large" in response.read()
    connection.close()


def test_channel_list_pages_and_room_token(start_server: type[ServerProcess]) -> None:
    server = start_server().start()
    created = [_channel(server, "alice")["id"] for _ in range(7)]

    seen: list[str] = []
    token = None
    pages = 0
    while True:
        query = "?limit=3" + (f"&page_token={token}" if token else "")
        status, reply = server.request("GET", f"/api/channels{query}", user="bob")
        assert status == 200
        seen += [c["id"] for c in reply["resources"]]
        assert reply["websockets"][0]["room"] == "/channels"
        pages += 1
        token = reply["next_page_token"]
        if token is None:
            break

    assert seen == created
    assert pages == 3


@pytest.mark.parametrize("query", ["limit=0", "limit=101", "limit=x", "limit=-1"])
def test_invalid_limit_is_a_400(live_server: ServerProcess, query: str) -> None:
    status, _ = live_server.request("GET", f"/api/channels?{query}", user="alice")

    assert status == 400


@pytest.mark.parametrize("token", ["garbage", "eyJ9", "a" * 10000])
def test_invalid_page_token_is_a_400(live_server: ServerProcess, token: str) -> None:
    status, reply = live_server.request(
        "GET", f"/api/channels?page_token={token}", user="alice"
    )

    assert status == 400
    assert "page_token" in reply["error"]["message"]


def test_page_token_of_another_channel_is_a_400(live_server: ServerProcess) -> None:
    first = _channel(live_server, "alice")
    second = _channel(live_server, "alice")
    for _ in range(3):
        live_server.request(
            "POST",
            f"/api/channels/{first['id']}/messages",
            {"text": "hi"},
            user="alice",
        )
    _, page = live_server.request(
        "GET", f"/api/channels/{first['id']}/messages?limit=1", user="alice"
    )

    status, _ = live_server.request(
        "GET",
        f"/api/channels/{second['id']}/messages?page_token={page['next_page_token']}",
        user="alice",
    )

    assert status == 400


def test_private_channel_is_hidden_from_non_members(live_server: ServerProcess) -> None:
    channel = _channel(live_server, "alice", "private", members=["bob"])
    path = f"/api/channels/{channel['id']}"

    assert live_server.request("GET", path, user="bob")[0] == 200
    assert live_server.request("GET", path, user="eve")[0] == 404
    assert live_server.request("GET", f"{path}/messages", user="eve")[0] == 404
    assert (
        live_server.request("POST", f"{path}/messages", {"text": "hi"}, user="eve")[0]
        == 404
    )
    assert live_server.request("PATCH", path, {"name": "x"}, user="eve")[0] == 404
    assert live_server.request("DELETE", path, user="eve")[0] == 404
    _, listing = live_server.request("GET", "/api/channels?limit=100", user="eve")
    assert channel["id"] not in [c["id"] for c in listing["resources"]]


def test_only_the_owner_changes_or_deletes_a_channel(
    live_server: ServerProcess,
) -> None:
    channel = _channel(live_server, "alice", members=["bob"])
    path = f"/api/channels/{channel['id']}"

    assert live_server.request("PATCH", path, {"name": "n"}, user="bob")[0] == 403
    assert live_server.request("DELETE", path, user="bob")[0] == 403
    status, reply = live_server.request(
        "PATCH", path, {"name": "renamed", "members": []}, user="alice"
    )
    assert status == 200
    assert reply["resource"]["name"] == "renamed"
    assert reply["resource"]["members"] == ["alice"]
    assert live_server.request("DELETE", path, user="alice")[0] == 200
    assert live_server.request("GET", path, user="alice")[0] == 404


def test_messages_newest_first_and_only_the_author_edits(
    live_server: ServerProcess,
) -> None:
    channel = _channel(live_server, "alice", members=["bob"])
    base = f"/api/channels/{channel['id']}/messages"
    ids = []
    for i in range(5):
        status, reply = live_server.request("POST", base, {"text": f"m{i}"}, user="bob")
        assert status == 201
        ids.append(reply["resource"]["id"])

    _, first = live_server.request("GET", f"{base}?limit=2", user="alice")
    _, rest = live_server.request(
        "GET", f"{base}?limit=10&page_token={first['next_page_token']}", user="alice"
    )

    listed = [m["id"] for m in first["resources"] + rest["resources"]]
    assert listed == ids[::-1]
    assert rest["next_page_token"] is None
    message = f"{base}/{ids[0]}"
    assert live_server.request("PATCH", message, {"text": "x"}, user="alice")[0] == 403
    status, reply = live_server.request(
        "PATCH", message, {"text": "edited"}, user="bob"
    )
    assert (status, reply["resource"]["text"]) == (200, "edited")
    assert reply["resource"]["updated_at"] is not None
    assert live_server.request("DELETE", message, user="alice")[0] == 403
    assert live_server.request("DELETE", message, user="bob")[0] == 200
    assert live_server.request("GET", message, user="bob")[0] == 404


@pytest.mark.parametrize(
    "path",
    [
        "/api/channels/..%2F..%2Fetc%2Fpasswd",
        "/api/channels/not-a-uuid",
        "/api/channels/00000000-0000-4000-8000-000000000000",
        "/api/channels/../../etc/passwd",
        "/api/nothing-here",
    ],
)
def test_unknown_paths_are_404_json(live_server: ServerProcess, path: str) -> None:
    status, reply = live_server.request("GET", path, user="alice")

    assert status == 404
    assert reply["error"]["code"] == "not_found"


def test_unsupported_method_is_a_405_json(live_server: ServerProcess) -> None:
    status, reply = live_server.request("PUT", "/api/channels", {}, user="alice")

    assert status == 405
    assert reply["error"]["code"] == "method_not_allowed"
