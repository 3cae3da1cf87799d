"""The Socket.IO endpoint: authentication, room joins and leaves, delivery.

Protocol (Socket.IO v4, path ``/socket`` by default)::

    authenticate {token}          -> authenticated {user: {id}} | unauthorized {message}
    realtime:join {name, token, since?}
                                  -> realtime:join:success {name, recovered?}
                                   | realtime:join:error {name, error}
    realtime:leave {name}         -> realtime:leave:success {name}
                                   | realtime:leave:error {name, error}
    (server) realtime:resource {action, room, type, path, resource, event_id}

The gateway is the feed's ``Transport``; the application decides, through
two hooks, who may join a room and who may stay in one after a change.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import attrs
import socketio

from realtime import ChangeFeed, EventIds, InvalidEventId, ResourceEvent

from .auth import Tokens, User
from .errors import TokenError

__all__ = ["JoinPolicy", "RoomAudience", "SocketGateway"]

log = logging.getLogger("roomcast.server")

MAX_ROOM_NAME = 512

JoinPolicy = Callable[[str, str], Awaitable[bool]]
"""``(user_id, room)``: whether the user may be in the room right now."""

RoomAudience = Callable[[ResourceEvent], Iterable[str] | None]
"""The users allowed in ``event.room`` once ``event`` happened, or ``None``
when the event does not restrict the room."""


async def _anyone(user_id: str, room: str) -> bool:
    return True


def _unrestricted(event: ResourceEvent) -> None:
    return None


@attrs.define
class _Session:
    user: User | None = None
    rooms: set[str] = attrs.field(factory=set)
    timer: asyncio.TimerHandle | None = None

    def cancel_timer(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None


class SocketGateway:
    """Owns the python-socketio server and every socket's session."""

    def __init__(
        self,
        tokens: Tokens,
        feed: ChangeFeed,
        *,
        auth_timeout: float = 10.0,
        max_message: int = 64 * 1024,
        max_rooms_per_socket: int = 100,
        cors_origins: Iterable[str] = (),
        join_policy: JoinPolicy = _anyone,
        room_audience: RoomAudience = _unrestricted,
    ) -> None:
        self.tokens = tokens
        self.feed = feed
        self.auth_timeout = auth_timeout
        self.max_rooms_per_socket = max_rooms_per_socket
        self.join_policy = join_policy
        self.room_audience = room_audience
        origins = list(cors_origins)
        self.sio = socketio.AsyncServer(
            async_mode="tornado",
            cors_allowed_origins="*" if origins == ["*"] else origins or None,
            max_http_buffer_size=max_message,
            logger=False,
            engineio_logger=False,
        )
        self._sessions: dict[str, _Session] = {}
        self.sio.on("connect", self._on_connect)
        self.sio.on("disconnect", self._on_disconnect)
        self.sio.on("authenticate", self._on_authenticate)
        self.sio.on("realtime:join", self._on_join)
        self.sio.on("realtime:leave", self._on_leave)

    @property
    def connected(self) -> int:
        return len(self._sessions)

    def tornado_handler(self) -> Any:
        return socketio.get_tornado_handler(self.sio)

    # -- connection and authentication ---------------------------------------

    async def _on_connect(self, sid: str, environ: Any, auth: Any = None) -> None:
        session = self._sessions[sid] = _Session()
        token = auth.get("token") if isinstance(auth, dict) else None
        if token is None:
            self._start_auth_timer(sid, session)
            return
        try:
            user = self.tokens.user(token)
        except TokenError as exc:
            del self._sessions[sid]
            raise socketio.exceptions.ConnectionRefusedError(str(exc)) from None
        self._authenticate(sid, session, user)
        # The client learns it is connected only after this handler returns.
        self.sio.start_background_task(self._confirm_after_connect, sid, user)

    async def _confirm_after_connect(self, sid: str, user: User) -> None:
        for _ in range(100):
            if self.sio.manager.is_connected(sid, "/"):
                await self._emit("authenticated", {"user": {"id": user.id}}, sid)
                return
            await asyncio.sleep(0.01)

    async def _on_disconnect(self, sid: str, reason: Any = None) -> None:
        session = self._sessions.pop(sid, None)
        if session is not None:
            session.cancel_timer()

    async def _on_authenticate(self, sid: str, data: Any = None) -> None:
        session = self._sessions.get(sid)
        if session is None:
            return
        token = data.get("token") if isinstance(data, dict) else None
        try:
            user = self.tokens.user(token)
        except TokenError as exc:
            await self._emit("unauthorized", {"message": str(exc)}, sid)
            return
        if session.user is not None and session.user.id != user.id:
            await self._leave_all(sid, session)
        self._authenticate(sid, session, user)
        await self._emit("authenticated", {"user": {"id": user.id}}, sid)

    def _authenticate(self, sid: str, session: _Session, user: User) -> None:
        session.user = user
        session.cancel_timer()
        if user.expires_at is not None:
            loop = asyncio.get_running_loop()
            delay = max(0.0, user.expires_at - self.tokens.now())
            session.timer = loop.call_later(delay, self._spawn, self._expire, sid)

    def _start_auth_timer(self, sid: str, session: _Session) -> None:
        loop = asyncio.get_running_loop()
        session.timer = loop.call_later(
            self.auth_timeout, self._spawn, self._auth_timed_out, sid
        )

    def _spawn(self, job: Callable[[str], Awaitable[None]], sid: str) -> None:
        self.sio.start_background_task(job, sid)

    async def _auth_timed_out(self, sid: str) -> None:
        session = self._sessions.get(sid)
        if session is None or session.user is not None:
            return
        await self._emit("unauthorized", {"message": "authentication timed out"}, sid)
        await self.sio.disconnect(sid)

    async def _expire(self, sid: str) -> None:
        # The user token ran out: out of every room until it authenticates anew.
        session = self._sessions.get(sid)
        if session is None or session.user is None:
            return
        session.user = None
        await self._leave_all(sid, session)
        await self._emit("unauthorized", {"message": "token has expired"}, sid)
        self._start_auth_timer(sid, session)

    # -- rooms ----------------------------------------------------------------

    async def _on_join(self, sid: str, data: Any = None) -> None:
        session = self._sessions.get(sid)
        if session is None:
            return
        name = data.get("name") if isinstance(data, dict) else None
        error = await self._join_error(session, data, name)
        if error is not None:
            await self._emit(
                "realtime:join:error", {"name": _echo(name), "error": error}, sid
            )
            return
        assert isinstance(data, dict) and isinstance(name, str)
        since = data.get("since")
        session.rooms.add(name)

        async def joined(recovered: bool | None) -> None:
            reply: dict[str, Any] = {"name": name}
            if recovered is not None:
                reply["recovered"] = recovered
            await self._emit("realtime:join:success", reply, sid)

        await self.feed.join(sid, name, since, joined)

    async def _join_error(self, session: _Session, data: Any, name: Any) -> str | None:
        """Why this join is refused, or ``None`` to let it through."""
        if not isinstance(data, dict):
            return "join takes {name, token}"
        if not isinstance(name, str) or not 0 < len(name) <= MAX_ROOM_NAME:
            return f"name must be a room name of 1 to {MAX_ROOM_NAME} characters"
        if session.user is None:
            return "not authenticated"
        if data.get("since") is not None:
            try:
                EventIds.check(data["since"])
            except InvalidEventId as exc:
                return str(exc)
        if (
            name not in session.rooms
            and len(session.rooms) >= self.max_rooms_per_socket
        ):
            return f"a socket may join at most {self.max_rooms_per_socket} rooms"
        try:
            self.tokens.check_room(data.get("token"), session.user.id, name)
        except TokenError as exc:
            return f"invalid room token: {exc}"
        if not await self.join_policy(session.user.id, name):
            return "not allowed in this room"
        return None

    async def _on_leave(self, sid: str, data: Any = None) -> None:
        session = self._sessions.get(sid)
        if session is None:
            return
        name = data.get("name") if isinstance(data, dict) else None
        if not isinstance(name, str) or not 0 < len(name) <= MAX_ROOM_NAME:
            error = f"name must be a room name of 1 to {MAX_ROOM_NAME} characters"
            await self._emit(
                "realtime:leave:error", {"name": _echo(name), "error": error}, sid
            )
            return
        session.rooms.discard(name)

        async def left() -> None:
            await self._emit("realtime:leave:success", {"name": name}, sid)

        await self.feed.leave(sid, name, left)

    async def _leave_all(self, sid: str, session: _Session) -> None:
        for room in list(session.rooms):
            await self.sio.leave_room(sid, room)
        session.rooms.clear()

    # -- the feed's transport -------------------------------------------------

    async def send_to_room(self, room: str, event: ResourceEvent) -> None:
        allowed = self.room_audience(event)
        if allowed is not None:
            await self._restrict(room, set(allowed))
        await self.sio.emit("realtime:resource", event.payload(), room=room)

    async def send_to_socket(self, sid: str, event: ResourceEvent) -> None:
        await self._emit("realtime:resource", event.payload(), sid)

    async def enter_room(self, sid: str, room: str) -> None:
        if sid in self._sessions:
            await self.sio.enter_room(sid, room)

    async def leave_room(self, sid: str, room: str) -> None:
        if sid in self._sessions:
            await self.sio.leave_room(sid, room)

    async def _restrict(self, room: str, allowed: set[str]) -> None:
        members = [sid for sid, _ in self.sio.manager.get_participants("/", room)]
        for sid in members:
            session = self._sessions.get(sid)
            if (
                session is None
                or session.user is None
                or session.user.id not in allowed
            ):
                await self.sio.leave_room(sid, room)
                if session is not None:
                    session.rooms.discard(room)

    async def _emit(self, event: str, data: dict[str, Any], sid: str) -> None:
        await self.sio.emit(event, data, to=sid)


def _echo(name: Any) -> Any:
    """The room name to repeat in an error, if it is one worth repeating."""
    return name if isinstance(name, str) and len(name) <= MAX_ROOM_NAME else None
