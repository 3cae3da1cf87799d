"""The servers the fan-out benchmarks measure, each in a process of its own.

``python -m benchmarks.nodes KIND [options]`` starts one and prints one JSON
line, ``{"port": ..., "pid": ..., "room": ...}``, once it listens on
127.0.0.1. It then reads commands as JSON lines on stdin and answers each
with one JSON line on stdout:

``{"cmd": "emit", "count": M, "gap": seconds}``
    write M events ``gap`` seconds apart: 540-byte ``realtime:resource``
    frames, a new chat message of about 270 bytes in roomcast's event
    envelope, whose text carries the monotonic clock at its write;
    answers ``{"first_ns", "last_ns", "frame_bytes"}`` once written.
``{"cmd": "quit"}``
    stop.

Kinds:

``roomcast``
    ``server.Server``, the real node (SQLite, Socket.IO gateway, change feed,
    optionally the Redis bus). Events are published in-process through the
    change feed, exactly as a ``realtime_created`` service call publishes
    (``feed.publish`` of a ``Message`` entity to its channel's room, then
    ``feed.flush``), without the HTTP request and database write around it,
    which are not fan-out.
``socketio``
    a bare python-socketio ``AsyncServer`` in Tornado mode: every connection
    enters one room, an event is ``sio.emit(..., room=...)``.
``tornado``
    a bare Tornado WebSocket server speaking just enough Engine.IO to open
    and connect; an event is encoded once and written to every socket with
    ``write_message``: the practical ceiling.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import resource
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import tornado.httpserver
import tornado.netutil
import tornado.web
import tornado.websocket

from .common import SECRET

SOCKET_PATH = "/socket/"
BARE_ROOM = "bench"
# A chat message of realistic length; the write time goes in front of it.
FILLER = "see you at the stand-up; the deploy went out fine, thanks all"
AUTHOR = "user-00042"

Emit = Callable[[], Awaitable[int]]


def stamped_text() -> str:
    return f"@@{time.monotonic_ns()}@@ {FILLER}"


def raise_file_limit() -> int:
    """Raise the soft limit on open files to the hard one; returns it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def bare_payload() -> dict[str, Any]:
    """What the baselines send: the fields roomcast sends for a new message."""
    channel_id = uuid.uuid4()
    message_id = uuid.uuid1()
    now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return {
        "action": "created",
        "room": f"/channels/{channel_id}",
        "type": "message",
        "path": f"/channels/{channel_id}/messages/{message_id}",
        "resource": {
            "channel_id": str(channel_id),
            "id": str(message_id),
            "author": AUTHOR,
            "text": stamped_text(),
            "created_at": now,
            "updated_at": None,
        },
        "event_id": f"{time.time_ns() // 1_000_000:012x}-000000-0badcafe",
    }


# -- roomcast -------------------------------------------------------------------


async def start_roomcast(args: argparse.Namespace) -> tuple[int, str, Emit]:
    import orm
    from server import Server, Settings
    from server.chat import Channel, Message
    from server.chat.entities import WORKSPACE
    from server.chat.rooms import channel_room, message_path, message_room

    settings = Settings(
        host="127.0.0.1",
        port=0,
        database_url=f"sqlite:///{args.workdir}/roomcast.db",
        redis_url=args.redis,
        redis_channel=args.redis_channel,
        jwt_secret=SECRET,
        secret_file=f"{args.workdir}/secret",
        auth_timeout=120.0,
    )
    node = Server(settings)
    if args.no_feed:
        # Only to measure what the durable feed costs: nothing is recorded.
        node.db.set_recorder(None)
        node.feed.store = None
    await node.start()
    assert node.port is not None

    # One public channel, the same on every node (they share the database).
    now = datetime.now(UTC)
    channel = Channel(
        workspace_id=WORKSPACE,
        id=orm.TimeUUID(uuid.UUID(args.channel)),
        name="fan-out",
        visibility="public",
        owner=AUTHOR,
        members=[AUTHOR],
        created_at=now,
        updated_at=now,
    )
    await node.db.repository(Channel).save(channel)
    await node.feed.flush()

    async def emit() -> int:
        message = Message(
            channel_id=channel.id,
            id=orm.time_uuid(),
            author=AUTHOR,
            text=stamped_text(),
            created_at=datetime.now(UTC),
        )
        events = node.feed.publish(
            "created", "message", message, room=message_room, path=message_path
        )
        await node.feed.flush()
        if not sizes:  # measured once: encoding is the server's job, not ours
            sizes.append(len(frame_of(events[0].payload())))
        return sizes[0]

    sizes: list[int] = []

    return node.port, channel_room(channel), emit


# -- bare python-socketio ----------------------------------------------------------


async def start_socketio(args: argparse.Namespace) -> tuple[int, str, Emit]:
    import socketio

    # With --redis, nodes are joined by python-socketio's own Redis manager:
    # the alternative to roomcast's bus that issue 5 asked to measure.
    manager = None
    if args.redis:
        manager = socketio.AsyncRedisManager(args.redis, channel=args.redis_channel)
    sio = socketio.AsyncServer(
        async_mode="tornado",
        logger=False,
        engineio_logger=False,
        client_manager=manager,
    )

    async def connect(sid: str, environ: Any, auth: Any = None) -> None:
        await sio.enter_room(sid, BARE_ROOM)

    sio.on("connect", connect)
    app = tornado.web.Application([(SOCKET_PATH, socketio.get_tornado_handler(sio))])
    port = listen(app)

    async def emit() -> int:
        payload = bare_payload()
        await sio.emit("realtime:resource", payload, room=BARE_ROOM)
        return len(frame_of(payload))

    return port, BARE_ROOM, emit


# -- bare Tornado -----------------------------------------------------------------


class EngineIOHandler(tornado.websocket.WebSocketHandler):
    """Just enough Engine.IO v4 / Socket.IO v5 to open and join."""

    members: set[EngineIOHandler] = set()  # noqa: RUF012 (one set for all)

    def check_origin(self, origin: str) -> bool:
        return True

    def open(self, *args: Any, **kwargs: Any) -> None:
        sid = uuid.uuid4().hex
        opening = {
            "sid": sid,
            "upgrades": [],
            "pingInterval": 25000,
            "pingTimeout": 20000,
            "maxPayload": 1000000,
        }
        self.write_message("0" + json.dumps(opening))

    def on_message(self, message: str | bytes) -> None:
        if isinstance(message, str) and message.startswith("40"):
            self.write_message('40{"sid":"%s"}' % uuid.uuid4().hex)  # noqa: UP031
            self.members.add(self)

    def on_close(self) -> None:
        self.members.discard(self)


def frame_of(payload: dict[str, Any]) -> str:
    return "42" + json.dumps(["realtime:resource", payload], separators=(",", ":"))


async def start_tornado(args: argparse.Namespace) -> tuple[int, str, Emit]:
    app = tornado.web.Application([(SOCKET_PATH, EngineIOHandler)])
    port = listen(app)

    async def emit() -> int:
        frame = frame_of(bare_payload())
        for member in list(EngineIOHandler.members):
            try:
                member.write_message(frame)
            except tornado.websocket.WebSocketClosedError:
                EngineIOHandler.members.discard(member)
        return len(frame)

    return port, BARE_ROOM, emit


def listen(app: tornado.web.Application) -> int:
    sockets = tornado.netutil.bind_sockets(0, "127.0.0.1", backlog=1024)
    tornado.httpserver.HTTPServer(app).add_sockets(sockets)
    port: int = sockets[0].getsockname()[1]
    return port


# -- the command loop --------------------------------------------------------------

STARTERS = {
    "roomcast": start_roomcast,
    "socketio": start_socketio,
    "tornado": start_tornado,
}


def say(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


async def emit_many(emit: Emit, count: int, gap: float) -> dict[str, Any]:
    first = time.monotonic_ns()
    size = 0
    for n in range(count):
        if n and gap:
            await asyncio.sleep(gap)
        size = await emit()
        # Let the loop write what is queued, as between two requests.
        await asyncio.sleep(0)
    return {"first_ns": first, "last_ns": time.monotonic_ns(), "frame_bytes": size}


async def serve(args: argparse.Namespace) -> None:
    limit = raise_file_limit()
    port, room, emit = await STARTERS[args.kind](args)
    say({"port": port, "pid": os.getpid(), "room": room, "file_limit": limit})

    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), sys.stdin
    )
    while line := await reader.readline():
        command = json.loads(line)
        if command["cmd"] == "emit":
            say(await emit_many(emit, command["count"], command["gap"]))
        elif command["cmd"] == "quit":
            break


def main() -> None:
    parser = argparse.ArgumentParser(description="a server for the benchmarks")
    parser.add_argument("kind", choices=sorted(STARTERS))
    parser.add_argument("--workdir", type=Path, default=Path("."))
    parser.add_argument("--channel", default=str(uuid.uuid1()))
    parser.add_argument("--redis", default=None)
    parser.add_argument("--redis-channel", default="roomcast:bench")
    parser.add_argument(
        "--no-feed", action="store_true", help="roomcast without its durable feed"
    )
    parser.add_argument(
        "--profile", type=Path, help="write a pyinstrument profile (HTML) here"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    if args.profile is None:
        asyncio.run(serve(args))
        return

    from pyinstrument import Profiler

    profiler = Profiler(async_mode="disabled", interval=0.0005)
    profiler.start()
    try:
        asyncio.run(serve(args))
    finally:
        profiler.stop()
        args.profile.write_text(profiler.output_html())
        text = profiler.output_text(unicode=False, show_all=False)
        args.profile.with_suffix(".txt").write_text(text)


if __name__ == "__main__":
    main()
