"""A raw WebSocket client speaking Engine.IO/Socket.IO by hand.

Real clients refuse to send what the attack suite needs (invalid UTF-8, bad
packets, frames over the limit), and they always read what they are sent;
this one does only what it is told, over a plain TCP socket whose receive
buffer can be made small.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import struct
from typing import Any

TEXT = 0x1
BINARY = 0x2
CLOSE = 0x8
PING = 0x9
PONG = 0xA


class Closed(Exception):
    """The server closed the connection; ``code`` and ``reason`` from its
    close frame, if it sent one."""

    def __init__(self, code: int | None = None, reason: str = "") -> None:
        super().__init__(f"closed ({code}) {reason}".strip())
        self.code = code
        self.reason = reason


class RawWebSocket:
    """One WebSocket connection; ``await RawWebSocket.open(port, ...)``."""

    # Every connection opened, for ``close_all`` to end after a test.
    opened: list[RawWebSocket] = []  # noqa: RUF012

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader = reader
        self.writer = writer
        RawWebSocket.opened.append(self)

    @classmethod
    def close_all(cls) -> None:
        while cls.opened:
            cls.opened.pop().close()

    @classmethod
    async def open(
        cls,
        port: int,
        path: str = "/socket/?EIO=4&transport=websocket",
        *,
        receive_buffer: int | None = None,
    ) -> RawWebSocket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if receive_buffer is not None:
            # Before connecting, so that the window the server sees is small.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
        # A small limit: the reader stops taking data from the socket as soon
        # as it holds more than twice that and nobody reads it.
        reader, writer = await asyncio.open_connection(sock=sock, limit=2**16)
        key = base64.b64encode(os.urandom(16)).decode()
        request = (
            f"GET {path} HTTP/1.1\r\n"
            f"Host: 127.0.0.1:{port}\r\n"
            "Upgrade: websocket\r\n"
            "Connection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        )
        writer.write(request.encode())
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        status = head.split(b"\r\n", 1)[0]
        if b" 101 " not in status:
            writer.close()
            raise ConnectionError(status.decode(errors="replace"))
        return cls(reader, writer)

    def send_frame(self, opcode: int, payload: bytes, *, fin: bool = True) -> None:
        """One masked frame, whatever its payload holds."""
        head = bytearray([(0x80 if fin else 0) | opcode])
        size = len(payload)
        if size < 126:
            head.append(0x80 | size)
        elif size < 2**16:
            head.append(0x80 | 126)
            head += struct.pack(">H", size)
        else:
            head.append(0x80 | 127)
            head += struct.pack(">Q", size)
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.writer.write(bytes(head) + mask + masked)

    def send_text(self, text: str) -> None:
        self.send_frame(TEXT, text.encode())

    async def recv_frame(self, timeout: float = 5) -> tuple[int, bytes]:
        """The next frame; pings are answered, a close frame raises ``Closed``."""
        while True:
            try:
                first, second = await asyncio.wait_for(
                    self.reader.readexactly(2), timeout
                )
            except (asyncio.IncompleteReadError, ConnectionError):
                self.close()
                raise Closed() from None
            opcode = first & 0x0F
            size = second & 0x7F
            if size == 126:
                (size,) = struct.unpack(">H", await self.reader.readexactly(2))
            elif size == 127:
                (size,) = struct.unpack(">Q", await self.reader.readexactly(8))
            payload = await asyncio.wait_for(self.reader.readexactly(size), timeout)
            if opcode == CLOSE:
                self.close()
                code = (
                    struct.unpack(">H", payload[:2])[0] if len(payload) >= 2 else None
                )
                raise Closed(code, payload[2:].decode(errors="replace"))
            if opcode == PING:
                self.send_frame(PONG, payload)
                continue
            return opcode, payload

    async def recv_text(self, timeout: float = 5) -> str:
        """The next text frame, answering Engine.IO pings on the way."""
        while True:
            opcode, payload = await self.recv_frame(timeout)
            text = payload.decode()
            if opcode == TEXT and text == "2":
                self.send_text("3")
                continue
            return text

    async def closed(self, timeout: float = 5) -> Closed:
        """Read until the server closes the connection; what it said then."""
        try:
            while True:
                await self.recv_frame(timeout)
        except Closed as closed:
            return closed
        except TimeoutError:
            raise  # still open: not what the caller waits for
        except (ConnectionError, OSError):
            return Closed()
        finally:
            self.close()

    def close(self) -> None:
        self.writer.close()


class RawSocketIO:
    """Socket.IO over ``RawWebSocket``: the handshake, then events by hand."""

    def __init__(self, ws: RawWebSocket) -> None:
        self.ws = ws
        self.sid: str | None = None

    @classmethod
    async def connect(
        cls,
        port: int,
        auth: dict[str, Any] | None = None,
        *,
        receive_buffer: int | None = None,
    ) -> RawSocketIO:
        ws = await RawWebSocket.open(port, receive_buffer=receive_buffer)
        opened = await ws.recv_text()
        assert opened.startswith("0{"), opened
        client = cls(ws)
        ws.send_text("40" + (json.dumps(auth) if auth is not None else ""))
        connected = await ws.recv_text()
        assert connected.startswith("40{"), connected
        client.sid = json.loads(connected[2:])["sid"]
        return client

    @staticmethod
    async def refused(port: int, auth: dict[str, Any]) -> Any:
        """Connect with ``auth`` expecting a refusal: the ``connect_error``
        data the server answers."""
        ws = await RawWebSocket.open(port)
        try:
            assert (await ws.recv_text()).startswith("0{")
            ws.send_text("40" + json.dumps(auth))
            answer = await ws.recv_text()
        finally:
            ws.close()
        assert answer.startswith("44"), answer
        return json.loads(answer[2:])

    def emit(self, event: str, *args: Any) -> None:
        self.ws.send_text("42" + json.dumps([event, *args]))

    async def next_event(self, timeout: float = 5) -> tuple[str, Any]:
        """The next Socket.IO event, skipping anything else."""
        while True:
            text = await self.ws.recv_text(timeout)
            if text.startswith("42"):
                name, *args = json.loads(text[2:])
                return name, args[0] if args else None
            if text.startswith("41"):
                self.close()
                raise Closed(None, "socket.io disconnect")

    async def expect(self, name: str, timeout: float = 5) -> Any:
        got, data = await self.next_event(timeout)
        assert got == name, (got, data)
        return data

    def close(self) -> None:
        self.ws.close()
