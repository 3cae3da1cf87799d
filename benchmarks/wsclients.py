"""Cheap Socket.IO clients: many WebSockets in one process, driven over a pipe.

Each socket is an asyncio protocol around the ``websockets`` library's
sans-I/O client (which does the WebSocket handshake, framing and masking),
speaking the Engine.IO v4 / Socket.IO v5 text framing itself: the server
opens with ``0{...}``, the client connects with ``40`` (``40{"token": ...}``
to authenticate in the handshake), events are ``42["name", data]``, and the
server's ping ``2`` is answered with ``3``. There is no task per socket and
frames are not parsed beyond their first bytes and the write time the
benchmark servers put in each event's text, so a client costs a few
microseconds per frame and the server is what is measured.

``python -m benchmarks.wsclients`` reads commands as JSON lines on stdin and
answers with JSON lines on stdout:

``{"cmd": "connect", "url", "count", "roomcast", "room", "users_from"}``
    open ``count`` more sockets; with ``roomcast``, each authenticates as its
    own user in the handshake and joins ``room`` with a room token, as the
    roomcast protocol requires. Answers ``{"connected", "failed",
    "seconds", "errors"}``.
``{"cmd": "expect", "events": M, "timeout": T, "latency": bool}``
    answers ``{"armed": true}`` at once, then, when every socket has
    received M more ``realtime:resource`` events (or at the timeout),
    ``{"received", "complete", "last_ns", "latencies_us"?}``.
``{"cmd": "close"}``
    closes every socket; answers ``{"closed": n, "dropped": k}`` (``dropped``:
    sockets the server closed first).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import resource
import sys
import time
from typing import Any
from urllib.parse import urlsplit

from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.uri import parse_uri

RESOURCE = b'42["realtime:resource"'
STAMP = b"@@"
CONNECT_CONCURRENCY = 24
HANDSHAKE_TIMEOUT = 30.0


class HandshakeError(Exception):
    pass


class Counter:
    """What every socket of this process received since the last ``expect``."""

    def __init__(self) -> None:
        self.received = 0
        self.expected = 1 << 62
        self.last_ns = 0
        self.latencies: list[int] | None = None
        self.done = asyncio.Event()
        self.dropped = 0

    def resource(self, data: bytes) -> None:
        now = time.monotonic_ns()
        self.received += 1
        self.last_ns = now
        if self.latencies is not None:
            start = data.find(STAMP) + len(STAMP)
            written = int(data[start : data.index(STAMP, start)])
            self.latencies.append((now - written) // 1000)
        if self.received >= self.expected:
            self.done.set()


class Socket(asyncio.Protocol):
    """One Socket.IO client over one WebSocket, without a task of its own.

    ``steps`` are the frame prefixes to expect, in order, before the socket
    counts as ready; ``replies`` what to send after each.
    """

    def __init__(
        self, url: str, steps: list[tuple[bytes, str | None]], counter: Counter
    ) -> None:
        self.ws = ClientProtocol(parse_uri(url), max_size=None)
        self.steps = steps
        self.counter = counter
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.ws.send_request(self.ws.connect())
        self.flush()

    def flush(self) -> None:
        assert self.transport is not None
        for data in self.ws.data_to_send():
            if data:
                self.transport.write(data)
            else:
                self.transport.write_eof()

    def send(self, text: str) -> None:
        self.ws.send_text(text.encode())
        self.flush()

    def data_received(self, data: bytes) -> None:
        self.ws.receive_data(data)
        for event in self.ws.events_received():
            if isinstance(event, Frame):
                if event.opcode is Opcode.TEXT:
                    self.frame(bytes(event.data))
            elif isinstance(event, Response) and event.status_code != 101:
                self.fail(f"handshake answered {event.status_code}")
        self.flush()

    def frame(self, data: bytes) -> None:
        if data.startswith(RESOURCE):
            if self.ready.done():
                self.counter.resource(data)
        elif data == b"2":
            self.send("3")
        elif not self.ready.done():
            self.step(data)

    def step(self, data: bytes) -> None:
        expected, reply = self.steps[0]
        if not data.startswith(expected):
            self.fail(f"expected {expected!r}, got {data[:80]!r}")
            return
        self.steps.pop(0)
        if reply is not None:
            self.send(reply)
        if not self.steps:
            self.ready.set_result(None)

    def fail(self, reason: str) -> None:
        if not self.ready.done():
            self.ready.set_exception(HandshakeError(reason))
        self.close()

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.ready.done():
            self.ready.set_exception(HandshakeError(f"connection lost ({exc})"))
        elif not self.closed:
            self.counter.dropped += 1
        self.closed = True


class Fleet:
    """The sockets of this process."""

    def __init__(self) -> None:
        self.sockets: list[Socket] = []
        self.counter = Counter()

    async def connect(self, command: dict[str, Any]) -> dict[str, Any]:
        started = time.monotonic()
        gate = asyncio.Semaphore(CONNECT_CONCURRENCY)
        tokens = None
        if command.get("roomcast"):
            from server import Tokens

            from .common import SECRET

            tokens = Tokens(SECRET, room_token_ttl=24 * 3600)

        async def one(n: int) -> None:
            async with gate:
                user = f"user-{command['users_from'] + n}"
                steps = handshake(tokens, user, command["room"])
                self.sockets.append(await open_socket(command["url"], steps, self))

        outcomes = await asyncio.gather(
            *(one(n) for n in range(command["count"])), return_exceptions=True
        )
        failures = [e for e in outcomes if e is not None]
        errors = sorted({f"{type(e).__name__}: {e}" for e in failures})
        return {
            "connected": len(self.sockets),
            "failed": len(failures),
            "seconds": time.monotonic() - started,
            "errors": errors[:5],
        }

    async def expect(self, command: dict[str, Any]) -> dict[str, Any]:
        counter = self.counter
        counter.received = 0
        counter.last_ns = 0
        counter.expected = command["events"] * len(self.sockets)
        counter.latencies = [] if command.get("latency") else None
        counter.done.clear()
        if counter.expected == 0:
            counter.done.set()
        say({"armed": True})
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(counter.done.wait(), command["timeout"])
        result: dict[str, Any] = {
            "received": counter.received,
            "complete": counter.received >= counter.expected,
            "last_ns": counter.last_ns,
        }
        if counter.latencies is not None:
            result["latencies_us"] = counter.latencies
        counter.expected, counter.latencies = 1 << 62, None
        return result

    async def close(self) -> dict[str, Any]:
        closed, dropped = len(self.sockets), self.counter.dropped
        for sock in self.sockets:
            sock.closed = True
            sock.close()
        self.sockets = []
        self.counter.dropped = 0
        # Let the transports go before the next case opens new ones.
        await asyncio.sleep(0.2)
        return {"closed": closed, "dropped": dropped}


def handshake(tokens: Any, user: str, room: str) -> list[tuple[bytes, str | None]]:
    """The frames a socket waits for, and what it answers to each."""
    if tokens is None:
        return [(b"0", "40"), (b"40", None)]
    auth = json.dumps({"token": tokens.user_token(user)})
    join = {"name": room, "token": tokens.room_token(user, room)}
    return [
        (b"0", "40" + auth),
        (b"40", None),
        (b'42["authenticated"', "42" + json.dumps(["realtime:join", join])),
        (b'42["realtime:join:success"', None),
    ]


async def open_socket(
    url: str, steps: list[tuple[bytes, str | None]], fleet: Fleet
) -> Socket:
    parts = urlsplit(url)
    loop = asyncio.get_running_loop()
    full = url + "?EIO=4&transport=websocket"
    _, sock = await asyncio.wait_for(
        loop.create_connection(
            lambda: Socket(full, steps, fleet.counter),
            parts.hostname or "127.0.0.1",
            parts.port or 80,
        ),
        HANDSHAKE_TIMEOUT,
    )
    try:
        await asyncio.wait_for(asyncio.shield(sock.ready), HANDSHAKE_TIMEOUT)
    except BaseException:
        sock.close()
        raise
    return sock


def say(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


async def serve() -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    fleet = Fleet()
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=1 << 20)
    await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), sys.stdin
    )
    say({"ready": True})
    try:
        while line := await reader.readline():
            command = json.loads(line)
            if command["cmd"] == "connect":
                say(await fleet.connect(command))
            elif command["cmd"] == "expect":
                say(await fleet.expect(command))
            elif command["cmd"] == "close":
                say(await fleet.close())
            elif command["cmd"] == "quit":
                break
    finally:
        await fleet.close()


if __name__ == "__main__":
    asyncio.run(serve())
