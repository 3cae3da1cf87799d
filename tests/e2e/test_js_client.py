"""The official JavaScript client (socket.io-client on Node.js) against the
real server, running the seed's client examples with real tokens.

Each script in ``tests/js`` prints one JSON line per event it receives
(``{"event": ..., "data": ...}``) and ends on its own, with a last
``{"event": "end", "data": <exit code>}`` line. The tests drive the REST API
while the scripts listen, then compare what the scripts heard.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import queue
import shutil
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from server import Tokens
from tests.support import ROOT, SECRET, TOKENS, ServerProcess

pytestmark = pytest.mark.e2e

JS_DIR = ROOT / "tests" / "js"
NODE = shutil.which("node") or "node"
SCRIPT_TIMEOUT = 10  # seconds a script lives at most
WAIT = 8  # seconds a test waits for one event

# The token in the seed's examples: HS256 with "supersecret", claims {_id: 1}.
SEED_TOKEN = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJfaWQiOjEsImlhdCI6MTYwMzE5ODkzMn0"
    ".NvQoV9KeWuTNzRvzqbJ5uZCQ8Nmi2rCYQzcKk-WsJJ8"
)
SEED_SECRET = "supersecret"

TRANSPORTS: dict[str, list[str] | None] = {
    "default": None,
    "websocket": ["websocket"],
    "polling": ["polling"],
}

# The tests of tokens and of the protocol alone, which no database affects,
# run on the SQLite server only; those that store and change data run on
# every backend ``live_server`` offers.
sqlite_only = pytest.mark.parametrize(
    "live_server", ["sqlite"], indirect=True, scope="session"
)


class _Text:
    """Equal to any non-empty string: for messages whose wording is free."""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, str) and other != ""

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return "<any text>"


TEXT: Any = _Text()
CONNECT = {"event": "connect"}
END = {"event": "end", "data": 0}
JOINED = {"event": "joined"}
LEFT = {"event": "left"}


# -- tokens ---------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def signed_token(claims: dict[str, Any], secret: str, alg: str = "HS256") -> str:
    """A JWT signed by hand, so that any algorithm and key can be tried."""
    digest = {"HS256": hashlib.sha256, "HS512": hashlib.sha512}[alg]
    header = _b64(json.dumps({"alg": alg, "typ": "JWT"}).encode())
    payload = _b64(json.dumps(claims).encode())
    signature = hmac.new(secret.encode(), f"{header}.{payload}".encode(), digest)
    return f"{header}.{payload}.{_b64(signature.digest())}"


def unsigned_token(claims: dict[str, Any]) -> str:
    header = _b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    return f"{header}.{_b64(json.dumps(claims).encode())}."


def refused_tokens() -> dict[str, Any]:
    """User tokens the server must refuse, by what is wrong with them."""
    now = int(time.time())
    return {
        "bad-signature": Tokens("another-secret-also-32-bytes-long!!").user_token(
            "alice"
        ),
        "alg-none": unsigned_token({"sub": "alice", "iat": now}),
        "alg-hs512": signed_token({"sub": "alice", "iat": now}, SECRET, "HS512"),
        "expired": signed_token(
            {"sub": "alice", "iat": now - 60, "exp": now - 30}, SECRET
        ),
        "garbage": "not-a-jwt",
        "empty": "",
        "not-a-string": 42,
        "room-token": TOKENS.room_token("alice", "/channels"),
    }


# -- running the scripts --------------------------------------------------


def _events(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def run_js(script: str, **options: Any) -> list[dict[str, Any]]:
    """Run a script that ends by itself; every event it printed."""
    options.setdefault("timeout", SCRIPT_TIMEOUT)
    result = subprocess.run(
        [NODE, f"{script}.js", json.dumps(options)],
        cwd=JS_DIR,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=options["timeout"] + 5,
        check=False,
    )
    events = _events(result.stdout)
    # A script that ran to its end says so, with its exit code, last.
    assert events and events[-1]["event"] == "end", f"{script}: {result.stderr}"
    return events


class JsClient:
    """A script running beside the test, read as it prints; ``finish`` closes
    its stdin, which ends it, and returns everything it printed."""

    def __init__(self, script: str, **options: Any) -> None:
        options.setdefault("timeout", SCRIPT_TIMEOUT)
        self.script = script
        self.seen: list[dict[str, Any]] = []
        self._lines: queue.Queue[str | None] = queue.Queue()
        self.process = subprocess.Popen(
            [NODE, f"{script}.js", json.dumps(options)],
            cwd=JS_DIR,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if line.strip():
                self._lines.put(line)
        self._lines.put(None)

    def _take(self, timeout: float) -> bool:
        """Move one more printed line to ``seen``; False once the script ended."""
        line = self._lines.get(timeout=timeout)
        if line is None:
            self._lines.put(None)
            return False
        self.seen.append(json.loads(line))
        return True

    def wait_for(self, event: str, **fields: Any) -> dict[str, Any]:
        """The first event of that name whose data has these fields."""

        def matches(record: dict[str, Any]) -> bool:
            data = record.get("data")
            return record["event"] == event and all(
                isinstance(data, dict) and data.get(k) == v for k, v in fields.items()
            )

        deadline = time.monotonic() + WAIT
        while not any(matches(record) for record in self.seen):
            remaining = deadline - time.monotonic()
            try:
                running = remaining > 0 and self._take(remaining)
            except queue.Empty:
                running = False
            if not running:
                raise AssertionError(
                    f"{self.script} printed no {event} {fields} in {WAIT}s: "
                    f"{self.seen}\n{self._stderr()}"
                )
        return next(record for record in self.seen if matches(record))

    def finish(self) -> list[dict[str, Any]]:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(timeout=SCRIPT_TIMEOUT)
        self._reader.join(timeout=SCRIPT_TIMEOUT)
        while self._take(0):
            pass
        assert self.process.returncode == 0, f"{self.seen}\n{self._stderr()}"
        return self.seen

    def _stderr(self) -> str:
        if self.process.poll() is None or self.process.stderr is None:
            return ""
        return self.process.stderr.read()

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=SCRIPT_TIMEOUT)
        self._reader.join(timeout=SCRIPT_TIMEOUT)
        for pipe in (self.process.stdin, self.process.stdout, self.process.stderr):
            if pipe is not None and not pipe.closed:
                pipe.close()


@pytest.fixture
def js() -> Iterator[Callable[..., JsClient]]:
    """Start scripts that run beside the test; all stopped afterwards."""
    clients: list[JsClient] = []

    def start(script: str, **options: Any) -> JsClient:
        client = JsClient(script, **options)
        clients.append(client)
        return client

    yield start
    for client in clients:
        client.close()


# -- the REST side --------------------------------------------------------


def unique(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}"


def ok(answer: tuple[int, Any], status: int = 200) -> Any:
    code, body = answer
    assert status == code, body
    return body


def create_channel(
    server: ServerProcess,
    user: str,
    name: str,
    visibility: str = "public",
    members: list[str] | None = None,
    token: str | None = None,
) -> dict[str, Any]:
    body = {"name": unique(name), "visibility": visibility, "members": members or []}
    if token is None:
        token = TOKENS.user_token(user)
    created: dict[str, Any] = ok(
        server.request("POST", "/api/channels", body, token=token), 201
    )
    return created


def channels_room(server: ServerProcess, user: str) -> dict[str, Any]:
    """A ``realtime:join`` payload for ``/channels``, from GET /api/channels."""
    body = ok(server.request("GET", "/api/channels", user=user))
    [websocket] = body["websockets"]
    assert websocket["room"] == "/channels"
    return {"name": websocket["room"], "token": websocket["token"]}


def join_payload(websocket: dict[str, str]) -> dict[str, str]:
    return {"name": websocket["room"], "token": websocket["token"]}


def resource_event(
    action: str, room: str, type: str, path: str, resource: dict[str, Any]
) -> dict[str, Any]:
    return {
        "event": "realtime:resource",
        "data": {
            "action": action,
            "room": room,
            "type": type,
            "path": path,
            "resource": resource,
            "event_id": TEXT,
        },
    }


def channel_event(action: str, room: str, channel: dict[str, Any]) -> dict[str, Any]:
    return resource_event(
        action, room, "channel", f"/channels/{channel['id']}", channel
    )


def message_event(action: str, message: dict[str, Any]) -> dict[str, Any]:
    channel_id = message["channel_id"]
    return resource_event(
        action,
        f"/channels/{channel_id}",
        "message",
        f"/channels/{channel_id}/messages/{message['id']}",
        message,
    )


def resources(events: list[dict[str, Any]], room: str) -> list[dict[str, Any]]:
    return [
        e
        for e in events
        if e["event"] == "realtime:resource" and e["data"]["room"] == room
    ]


def assert_ordered_ids(events: list[dict[str, Any]]) -> None:
    ids = [e["data"]["event_id"] for e in events]
    assert sorted(set(ids)) == ids


def authenticated(user: str) -> dict[str, Any]:
    return {"event": "authenticated", "data": {"user": {"id": user}}}


def join_success(name: str) -> dict[str, Any]:
    return {"event": "realtime:join:success", "data": {"name": name}}


def join_error(name: str | None) -> dict[str, Any]:
    return {"event": "realtime:join:error", "data": {"name": name, "error": TEXT}}


def leave_success(name: str) -> dict[str, Any]:
    return {"event": "realtime:leave:success", "data": {"name": name}}


def unauthorized() -> dict[str, Any]:
    return {"event": "unauthorized", "data": {"message": TEXT}}


# -- 1. authenticate ------------------------------------------------------


@sqlite_only
@pytest.mark.parametrize("transports", TRANSPORTS.values(), ids=TRANSPORTS.keys())
def test_authenticate_with_a_user_token(
    live_server: ServerProcess, transports: list[str] | None
) -> None:
    events = run_js(
        "seed_authenticate",
        url=live_server.url,
        transports=transports,
        attempts=[{"token": TOKENS.user_token("alice")}],
    )

    assert [CONNECT, authenticated("alice"), END] == events


@sqlite_only
@pytest.mark.parametrize("kind", refused_tokens().keys())
def test_refused_token_answers_unauthorized_and_the_socket_may_retry(
    live_server: ServerProcess, kind: str
) -> None:
    events = run_js(
        "seed_authenticate",
        url=live_server.url,
        attempts=[
            {"token": refused_tokens()[kind]},
            {"token": TOKENS.user_token("bo")},
        ],
    )

    assert [CONNECT, unauthorized(), authenticated("bo"), END] == events


@sqlite_only
def test_refusals_say_why(live_server: ServerProcess) -> None:
    tokens = refused_tokens()
    events = run_js(
        "seed_authenticate",
        url=live_server.url,
        attempts=[{"token": tokens["expired"]}, {"token": tokens["bad-signature"]}],
    )

    messages = [e["data"]["message"] for e in events if e["event"] == "unauthorized"]
    assert len(messages) == 2
    assert "expired" in messages[0]
    assert "signature" in messages[1]


@sqlite_only
def test_many_refusals_then_success_on_one_socket(live_server: ServerProcess) -> None:
    bad = [{"token": token} for token in refused_tokens().values()]
    malformed: list[Any] = [{}, {"token": None}, "just text", None, [1, 2]]
    attempts = [*bad, *malformed, {"token": TOKENS.user_token("carol")}]

    events = run_js("seed_authenticate", url=live_server.url, attempts=attempts)

    refusals = [unauthorized()] * (len(attempts) - 1)
    assert [CONNECT, *refusals, authenticated("carol"), END] == events


# -- 2. the "done when" flow ----------------------------------------------


def test_seed_flow_join_then_hear_a_created_channel(
    live_server: ServerProcess, js: Callable[..., JsClient]
) -> None:
    seed_flow(live_server, js, None)


@sqlite_only
@pytest.mark.parametrize(
    "transports", [["websocket"], ["polling"]], ids="{0[0]}".format
)
def test_seed_flow_on_one_transport(
    live_server: ServerProcess, js: Callable[..., JsClient], transports: list[str]
) -> None:
    seed_flow(live_server, js, transports)


def seed_flow(
    server: ServerProcess, js: Callable[..., JsClient], transports: list[str] | None
) -> None:
    """SPEC's "done when": the seed's joins, then a channel made over REST."""
    join = channels_room(server, "alice")
    client = js(
        "seed_resource",
        url=server.url,
        transports=transports,
        token=TOKENS.user_token("alice"),
        joins=[{"name": "/channels", "token": "twake"}, join],
    )
    client.wait_for("joined")

    created = create_channel(server, "alice", "seed-flow")
    channel = created["resource"]
    client.wait_for("realtime:resource", path=f"/channels/{channel['id']}")
    events = client.finish()

    assert [
        CONNECT,
        authenticated("alice"),
        join_error("/channels"),
        join_success("/channels"),
        JOINED,
        channel_event("created", "/channels", channel),
        END,
    ] == events
    assert {"id", "name"} <= channel.keys()
    assert f"/channels/{channel['id']}" == created["websocket"]["room"]


# -- 3. the seed's own example token --------------------------------------


def test_seed_example_token_on_a_server_with_the_seed_secret(
    start_server: Callable[..., ServerProcess], js: Callable[..., JsClient]
) -> None:
    server = start_server(ROOMCAST_JWT_SECRET=SEED_SECRET).start()

    # The seed's first example, token and all.
    assert [CONNECT, authenticated("1"), END] == run_js(
        "seed_authenticate", url=server.url
    )

    # Its second and fourth: the room token comes from the REST API, which
    # takes the same user token.
    body = ok(server.request("GET", "/api/channels", token=SEED_TOKEN))
    [websocket] = body["websockets"]
    client = js(
        "seed_resource",
        url=server.url,
        joins=[{"name": "/channels", "token": "twake"}, join_payload(websocket)],
    )
    client.wait_for("joined")
    channel = create_channel(server, "1", "seed-own", token=SEED_TOKEN)["resource"]
    client.wait_for("realtime:resource", path=f"/channels/{channel['id']}")
    events = client.finish()

    assert [
        CONNECT,
        authenticated("1"),
        join_error("/channels"),
        join_success("/channels"),
        JOINED,
        channel_event("created", "/channels", channel),
        END,
    ] == events
    assert channel["owner"] == "1"
    assert any(
        " WARNING " in line and "secret" in line for line in server.log().splitlines()
    )


@sqlite_only
def test_seed_example_token_is_refused_under_another_secret(
    live_server: ServerProcess,
) -> None:
    events = run_js(
        "seed_authenticate",
        url=live_server.url,
        attempts=[{"token": SEED_TOKEN}],
    )

    assert [CONNECT, unauthorized(), END] == events


# -- 4. the token in the handshake ----------------------------------------


@sqlite_only
@pytest.mark.parametrize("transports", TRANSPORTS.values(), ids=TRANSPORTS.keys())
def test_handshake_token_authenticates_at_once(
    live_server: ServerProcess, transports: list[str] | None
) -> None:
    join = channels_room(live_server, "dave")

    events = run_js(
        "handshake",
        url=live_server.url,
        transports=transports,
        auth={"token": TOKENS.user_token("dave")},
        joins=[join],
    )

    assert [CONNECT, authenticated("dave"), join_success("/channels"), END] == events


@sqlite_only
@pytest.mark.parametrize("kind", refused_tokens().keys())
def test_invalid_handshake_token_is_a_connect_error(
    live_server: ServerProcess, kind: str
) -> None:
    events = run_js(
        "handshake", url=live_server.url, auth={"token": refused_tokens()[kind]}
    )

    assert events == [{"event": "connect_error", "data": {"message": TEXT}}, END]


# -- 5. leave -------------------------------------------------------------


def test_leaving_a_joined_room_stops_its_events(
    live_server: ServerProcess, js: Callable[..., JsClient]
) -> None:
    keep = create_channel(live_server, "alice", "leave-keep")
    kept = keep["resource"]
    client = js(
        "seed_leave",
        url=live_server.url,
        token=TOKENS.user_token("alice"),
        joins=[channels_room(live_server, "alice"), join_payload(keep["websocket"])],
        leaves=[{"name": "/channels"}],
    )
    client.wait_for("left")

    # A change in the room left, then one in the room kept: only the second
    # may arrive, and once it has, the first would have come before it.
    create_channel(live_server, "alice", "leave-gone")
    message = ok(
        live_server.request(
            "POST", f"/api/channels/{kept['id']}/messages", {"text": "hi"}, user="alice"
        ),
        201,
    )["resource"]
    client.wait_for("realtime:resource", room=f"/channels/{kept['id']}")
    events = client.finish()

    assert [
        CONNECT,
        authenticated("alice"),
        join_success("/channels"),
        join_success(f"/channels/{kept['id']}"),
        leave_success("/channels"),
        LEFT,
        message_event("created", message),
        END,
    ] == events


@sqlite_only
def test_leaving_rooms_never_joined_succeeds(
    live_server: ServerProcess, js: Callable[..., JsClient]
) -> None:
    never = f"/channels/{uuid.uuid1()}"
    client = js(
        "seed_leave",
        url=live_server.url,
        token=TOKENS.user_token("alice"),
        leaves=[{"name": "/channels"}, {"name": never}, {}, {"name": ""}],
    )
    client.wait_for("left")
    events = client.finish()

    leave_error = {
        "event": "realtime:leave:error",
        "data": {"name": None, "error": TEXT},
    }
    assert [
        CONNECT,
        authenticated("alice"),
        leave_success("/channels"),
        leave_success(never),
        leave_error,
        {"event": "realtime:leave:error", "data": {"name": "", "error": TEXT}},
        LEFT,
        END,
    ] == events


def test_join_then_leave_at_once_leaves_the_room(
    live_server: ServerProcess, js: Callable[..., JsClient]
) -> None:
    keep = create_channel(live_server, "alice", "quick-keep")
    kept = keep["resource"]
    quick = [create_channel(live_server, "alice", "quick") for _ in range(5)]
    client = js(
        "quick_leave",
        url=live_server.url,
        # Long-polling hands the server each join and its leave together.
        transports=["polling"],
        token=TOKENS.user_token("alice"),
        joins=[join_payload(keep["websocket"])],
        quick=[join_payload(c["websocket"]) for c in quick],
    )
    client.wait_for("left")

    for created in quick:
        channel_id = created["resource"]["id"]
        ok(
            live_server.request(
                "POST",
                f"/api/channels/{channel_id}/messages",
                {"text": "x"},
                user="alice",
            ),
            201,
        )
    ok(
        live_server.request(
            "POST", f"/api/channels/{kept['id']}/messages", {"text": "y"}, user="alice"
        ),
        201,
    )
    client.wait_for("realtime:resource", room=f"/channels/{kept['id']}")
    events = client.finish()

    # Each room was asked for in a join and then a leave: the socket must not
    # be in any of them afterwards, whatever order the answers came in.
    heard = {e["data"]["room"] for e in events if e["event"] == "realtime:resource"}
    assert {f"/channels/{kept['id']}"} == heard


def test_many_joins_at_once_over_long_polling(
    start_server: Callable[..., ServerProcess],
) -> None:
    server = start_server().start()
    rooms = [create_channel(server, "alice", "burst")["websocket"] for _ in range(20)]

    # The client packs what is emitted together into one long-polling request.
    events = run_js(
        "burst_join",
        url=server.url,
        timeout=3,
        transports=["polling"],
        token=TOKENS.user_token("alice"),
        joins=[join_payload(room) for room in rooms],
    )

    joined = {
        e["data"]["name"] for e in events if e["event"] == "realtime:join:success"
    }
    assert {room["room"] for room in rooms} == joined
    assert events[-1] == END


# -- 6. updates, deletions, messages, private channels ---------------------


def test_channel_and_message_changes_reach_the_client_in_order(
    live_server: ServerProcess, js: Callable[..., JsClient]
) -> None:
    created = create_channel(live_server, "alice", "changes")
    channel_id = created["resource"]["id"]
    room = f"/channels/{channel_id}"
    client = js(
        "seed_resource",
        url=live_server.url,
        token=TOKENS.user_token("alice"),
        joins=[channels_room(live_server, "alice"), join_payload(created["websocket"])],
    )
    client.wait_for("joined")

    def call(method: str, path: str, body: Any = None, status: int = 200) -> Any:
        answer = live_server.request(method, path, body, user="alice")
        return ok(answer, status)["resource"]

    base = f"/api/channels/{channel_id}"
    renamed = call("PATCH", base, {"name": unique("renamed")})
    posted = call("POST", f"{base}/messages", {"text": "first"}, 201)
    edited = call("PATCH", f"{base}/messages/{posted['id']}", {"text": "second"})
    removed = call("DELETE", f"{base}/messages/{posted['id']}")
    gone = call("DELETE", base)
    client.wait_for("realtime:resource", room=room, action="deleted", type="channel")
    client.wait_for("realtime:resource", room="/channels", action="deleted")
    events = client.finish()

    assert [
        channel_event("updated", room, renamed),
        message_event("created", posted),
        message_event("updated", edited),
        message_event("deleted", removed),
        channel_event("deleted", room, gone),
    ] == resources(events, room)
    assert [
        channel_event("updated", "/channels", renamed),
        channel_event("deleted", "/channels", gone),
    ] == resources(events, "/channels")
    assert_ordered_ids(resources(events, room))
    assert_ordered_ids(resources(events, "/channels"))
    assert edited["text"] == "second"


def test_private_channel_reaches_its_members_only(
    live_server: ServerProcess, js: Callable[..., JsClient]
) -> None:
    created = create_channel(live_server, "alice", "private", "private", ["carol"])
    channel_id = created["resource"]["id"]
    room = f"/channels/{channel_id}"
    base = f"/api/channels/{channel_id}"

    # Bob cannot see the channel, so gets no room token for it.
    status, body = live_server.request("GET", base, user="bob")
    assert (status, body["error"]["code"]) == (404, "not_found")
    carol = ok(live_server.request("GET", base, user="carol"))["websocket"]
    assert room == carol["room"]

    bob_public = channels_room(live_server, "bob")
    stolen = [
        join_payload(created["websocket"]),  # the owner's room token
        join_payload(carol),  # another member's room token
        {"name": room, "token": bob_public["token"]},  # his token for another room
        {"name": room, "token": TOKENS.user_token("bob")},  # a user token
    ]
    bob = js(
        "seed_resource",
        url=live_server.url,
        token=TOKENS.user_token("bob"),
        joins=[bob_public, *stolen],
    )
    member = js(
        "seed_resource",
        url=live_server.url,
        token=TOKENS.user_token("carol"),
        joins=[join_payload(carol)],
    )
    bob.wait_for("joined")
    member.wait_for("joined")

    def call(method: str, path: str, body: Any = None, status: int = 200) -> Any:
        return ok(live_server.request(method, path, body, user="alice"), status)

    renamed = call("PATCH", base, {"name": unique("still-private")})["resource"]
    posted = call("POST", f"{base}/messages", {"text": "secret"}, 201)["resource"]
    edited = call("PATCH", f"{base}/messages/{posted['id']}", {"text": "more"})
    removed = call("DELETE", f"{base}/messages/{posted['id']}")["resource"]
    sentinel = create_channel(live_server, "alice", "after-private")["resource"]
    member.wait_for("realtime:resource", action="deleted", type="message")
    bob.wait_for("realtime:resource", path=f"/channels/{sentinel['id']}")

    assert [
        CONNECT,
        authenticated("bob"),
        join_success("/channels"),
        *[join_error(room)] * len(stolen),
        JOINED,
        channel_event("created", "/channels", sentinel),
        END,
    ] == bob.finish()
    assert [
        CONNECT,
        authenticated("carol"),
        join_success(room),
        JOINED,
        channel_event("updated", room, renamed),
        message_event("created", posted),
        message_event("updated", edited["resource"]),
        message_event("deleted", removed),
        END,
    ] == member.finish()


def test_channel_turning_private_drops_non_members(
    live_server: ServerProcess, js: Callable[..., JsClient]
) -> None:
    created = create_channel(live_server, "alice", "turning")
    channel_id = created["resource"]["id"]
    room = f"/channels/{channel_id}"
    base = f"/api/channels/{channel_id}"
    bob_token = ok(live_server.request("GET", base, user="bob"))["websocket"]
    bob = js(
        "seed_resource",
        url=live_server.url,
        token=TOKENS.user_token("bob"),
        joins=[channels_room(live_server, "bob"), join_payload(bob_token)],
    )
    bob.wait_for("joined")

    secret_name, friend = unique("secret-name"), unique("friend")
    patch = {"visibility": "private", "members": [friend], "name": secret_name}
    hidden = ok(live_server.request("PATCH", base, patch, user="alice"))["resource"]
    ok(
        live_server.request("POST", f"{base}/messages", {"text": "x"}, user="alice"),
        201,
    )
    sentinel = create_channel(live_server, "alice", "after-turning")["resource"]
    bob.wait_for("realtime:resource", path=f"/channels/{sentinel['id']}")
    events = bob.finish()

    # /channels says the channel is gone; its own room says nothing more.
    assert resources(events, room) == []
    [removal, added] = resources(events, "/channels")
    assert channel_event("created", "/channels", sentinel) == added
    assert ("deleted", f"/channels/{channel_id}", channel_id) == (
        removal["data"]["action"],
        removal["data"]["path"],
        removal["data"]["resource"]["id"],
    )
    assert hidden["visibility"] == "private"
    # Nothing a non-member hears may carry what was set as it turned private:
    # neither its new name nor who its members are.
    assert secret_name not in json.dumps(removal)
    assert friend not in json.dumps(removal)

    # Bob's room token, still unexpired, no longer lets him in.
    assert live_server.request("GET", base, user="bob")[0] == 404
    assert [
        CONNECT,
        authenticated("bob"),
        join_error(room),
        END,
    ] == run_js(
        "seed_join",
        url=live_server.url,
        token=TOKENS.user_token("bob"),
        joins=[join_payload(bob_token)],
    )


def test_join_with_since_replays_what_was_missed(
    live_server: ServerProcess, js: Callable[..., JsClient]
) -> None:
    created = create_channel(live_server, "alice", "since")
    channel_id = created["resource"]["id"]
    room = f"/channels/{channel_id}"
    join = join_payload(created["websocket"])

    def post(text: str) -> dict[str, Any]:
        answer = live_server.request(
            "POST", f"/api/channels/{channel_id}/messages", {"text": text}, user="alice"
        )
        resource: dict[str, Any] = ok(answer, 201)["resource"]
        return resource

    first_client = js(
        "seed_resource",
        url=live_server.url,
        token=TOKENS.user_token("alice"),
        joins=[join],
    )
    first_client.wait_for("joined")
    post("one")
    heard = first_client.wait_for("realtime:resource", room=room)
    first_client.finish()

    missed = [post("two"), post("three")]
    client = js(
        "seed_resource",
        url=live_server.url,
        token=TOKENS.user_token("alice"),
        joins=[{**join, "since": heard["data"]["event_id"]}],
    )
    client.wait_for("joined")
    live = post("four")
    client.wait_for("realtime:resource", path=f"{room}/messages/{live['id']}")
    events = client.finish()

    assert [
        CONNECT,
        authenticated("alice"),
        {"event": "realtime:join:success", "data": {"name": room, "recovered": True}},
        JOINED,  # printed by the script on the answer, before the replay
        message_event("created", missed[0]),
        message_event("created", missed[1]),
        message_event("created", live),
        END,
    ] == events
    assert_ordered_ids([heard, *resources(events, room)])


def test_join_with_since_older_than_the_feed_is_not_recovered(
    live_server: ServerProcess,
) -> None:
    created = create_channel(live_server, "alice", "since-old")
    join = join_payload(created["websocket"])
    room = join["name"]

    events = run_js(
        "seed_join",
        url=live_server.url,
        token=TOKENS.user_token("alice"),
        joins=[
            {**join, "since": "000000000000-000000-00000000"},
            {**join, "since": "not-an-event-id"},
        ],
    )

    # Whatever the feed still holds may be replayed, in order, in between.
    answers = [e for e in events if e["event"] != "realtime:resource"]
    assert [
        CONNECT,
        authenticated("alice"),
        {"event": "realtime:join:success", "data": {"name": room, "recovered": False}},
        join_error(room),
        END,
    ] == answers
    assert_ordered_ids(resources(events, room))


# -- 7. timeouts ----------------------------------------------------------


def test_socket_that_never_authenticates_is_disconnected(
    start_server: Callable[..., ServerProcess], js: Callable[..., JsClient]
) -> None:
    server = start_server(ROOMCAST_AUTH_TIMEOUT="1").start()
    join = channels_room(server, "alice")
    signed_in = js(
        "seed_resource",
        url=server.url,
        token=TOKENS.user_token("alice"),
        joins=[join],
    )

    started = time.monotonic()
    events = run_js("idle", url=server.url, joins=[join])
    elapsed = time.monotonic() - started

    # The server may say why before it drops the socket.
    said = [e for e in events if e["event"] == "unauthorized"]
    assert said in ([], [unauthorized()])
    assert [
        CONNECT,
        join_error("/channels"),
        {"event": "disconnect", "data": "io server disconnect"},
        END,
    ] == [e for e in events if e["event"] != "unauthorized"]
    assert 0.9 <= elapsed < 5

    # A socket that did authenticate stays, past the timeout.
    signed_in.wait_for("joined")
    time.sleep(max(0.0, 1.3 - (time.monotonic() - started)))
    channel = create_channel(server, "alice", "after-timeout")["resource"]
    signed_in.wait_for("realtime:resource", path=f"/channels/{channel['id']}")
    assert [
        CONNECT,
        authenticated("alice"),
        join_success("/channels"),
        JOINED,
        channel_event("created", "/channels", channel),
        END,
    ] == signed_in.finish()


def test_expired_room_token_is_refused(
    start_server: Callable[..., ServerProcess],
) -> None:
    server = start_server(ROOMCAST_ROOM_TOKEN_TTL="1").start()
    join = channels_room(server, "alice")
    payload = join["token"].split(".")[1]
    expires = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    time.sleep(max(0.0, expires["exp"] - time.time() + 0.1))

    events = run_js(
        "seed_join", url=server.url, token=TOKENS.user_token("alice"), joins=[join]
    )

    assert [CONNECT, authenticated("alice"), join_error("/channels"), END] == events
