"""What clients may send: Engine.IO and Socket.IO packets checked before
python-socketio handles them, and the libraries' log leveled for this server.

A packet this protocol does not use (binary data, an event named as one of
Socket.IO's own or ``*``, undecodable text) is refused, and the gateway
closes the connection that sent it.
"""

from __future__ import annotations

import logging
from typing import Any

from socketio import packet as sio_packet

__all__ = [
    "POLICY_VIOLATION",
    "PROTOCOL_ERROR",
    "UNSUPPORTED_DATA",
    "ClientPacket",
    "LibraryLog",
    "MalformedPacket",
    "close_reason",
    "engineio_problem",
    "packet_problem",
]

# WebSocket close codes (RFC 6455, section 7.4.1).
PROTOCOL_ERROR = 1002
UNSUPPORTED_DATA = 1003
POLICY_VIOLATION = 1008
# What a client may send over Engine.IO besides messages: close, ping and pong
# (with the upgrade's probe), upgrade and noop.
_CONTROL_PACKETS = frozenset({"1", "2", "2probe", "3", "3probe", "5", "6"})
# Event names Socket.IO keeps for itself (its own parser refuses them too),
# and the name python-socketio gives its catch-all handler.
_RESERVED_EVENTS = frozenset(
    {
        "*",
        "connect",
        "connect_error",
        "disconnect",
        "disconnecting",
        "newListener",
        "removeListener",
    }
)


class LibraryLog:
    """The log of python-socketio and python-engineio, leveled for this
    server: their chatter at DEBUG, what they report of a client's mistakes
    (as warnings and errors) at INFO, their failures at ERROR."""

    def __init__(self, logger: logging.Logger) -> None:
        self._logger = logger

    def debug(self, message: str, *args: Any, **kwargs: Any) -> None:
        self._logger.debug(message, *args)

    info = debug

    def warning(self, message: str, *args: Any, **kwargs: Any) -> None:
        self._logger.info(message, *args)

    error = warning

    def exception(self, message: str, *args: Any, **kwargs: Any) -> None:
        self._logger.error(message, *args, exc_info=True)

    critical = exception


class MalformedPacket(ValueError):
    """A client's packet that this server does not accept; never leaves the
    gateway, which closes the connection that sent it."""


class ClientPacket(sio_packet.Packet):  # type: ignore[misc]
    """Socket.IO packets, refusing on decoding what clients may not send:
    binary packets, events without a name or named as Socket.IO's own, and
    anything that does not decode."""

    def decode(self, encoded_packet: Any) -> int:
        if not isinstance(encoded_packet, str):
            raise MalformedPacket("binary data is not accepted")
        try:
            attachments: int = super().decode(encoded_packet)
        except (ValueError, TypeError, RecursionError):
            raise MalformedPacket("not a Socket.IO packet") from None
        problem = packet_problem(self.packet_type, self.data, attachments)
        if problem is not None:
            raise MalformedPacket(problem)
        return attachments


def packet_problem(kind: Any, data: Any, attachments: int) -> str | None:
    if kind in (sio_packet.BINARY_EVENT, sio_packet.BINARY_ACK) or attachments:
        return "binary data is not accepted"
    if kind == sio_packet.EVENT:
        if not isinstance(data, list) or not data or not isinstance(data[0], str):
            return "an event is a list starting with its name"
        if data[0] in _RESERVED_EVENTS:
            return f"{data[0]!r} is reserved"
        return None
    if kind == sio_packet.CONNECT:
        return None if data is None or isinstance(data, dict) else "bad connect"
    if kind == sio_packet.ACK:
        return None if isinstance(data, list) else "bad acknowledgement"
    if kind == sio_packet.DISCONNECT:
        return None
    return "not a packet clients send"


def engineio_problem(packet: str | bytes) -> str | None:
    """Why a frame or long-polling packet is refused before Engine.IO sees it."""
    if not isinstance(packet, str):
        return "binary data is not accepted"
    if packet in _CONTROL_PACKETS:
        return None
    if len(packet) > 1 and packet[0] == "4" and packet[1] in "0123456":
        return None
    return "not an Engine.IO packet"


def close_reason(text: str) -> str:
    # A close frame carries at most 123 bytes of reason.
    return text.encode()[:123].decode(errors="ignore")
