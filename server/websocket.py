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

Limits (the README's configuration table gives their variables):

- a WebSocket message over ``max_message`` bytes closes the connection
  (close code 1009), a long-polling body over it is answered 413;
- a packet that is not Engine.IO/Socket.IO as this protocol uses it (binary
  data, an event named as one of Socket.IO's own or ``*``, undecodable text)
  closes the connection with close code 1002 or 1003 (a long-polling request
  holding one is answered 400);
- a socket is in at most ``max_rooms_per_socket`` rooms and makes at most
  ``max_joins_per_minute`` join attempts; beyond, ``realtime:join:error``;
- a user has at most ``max_sockets_per_user`` authenticated sockets on this
  node: one more is refused with ``connect_error`` (token in the handshake)
  or ``unauthorized`` and disconnected;
- a connection sends at most ``max_events_per_second`` events on average
  (entering the namespace counts as one), in bursts of up to
  ``max_event_burst``. An event beyond is not processed and gets its error
  answer (``unauthorized``, ``realtime:join:error``, ``realtime:leave:error``;
  nothing for unknown events); a socket that goes on until
  ``max_event_burst`` events more are refused (refusals are forgiven at the
  same rate) is told ``unauthorized`` and disconnected;
- a client that does not read what it is sent is disconnected once over
  ``max_queued_bytes`` wait for it in the server (WebSocket: close code 1008
  with the reason) or ``max_queued_events`` packets (long-polling), and
  never holds up delivery to the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Collection, Iterable
from typing import Any

import attrs
import socketio
import tornado.iostream
import tornado.web
import tornado.websocket
from engineio import packet as eio_packet
from engineio import payload as eio_payload

from realtime import ChangeFeed, EventIds, InvalidEventId, ResourceEvent

from .auth import Tokens, User
from .errors import TokenError
from .limits import Bucket, Budget
from .wire import (
    POLICY_VIOLATION,
    PROTOCOL_ERROR,
    UNSUPPORTED_DATA,
    ClientPacket,
    LibraryLog,
    MalformedPacket,
    close_reason,
    engineio_problem,
)

__all__ = ["JoinPolicy", "RoomAudience", "SocketGateway"]

log = logging.getLogger("roomcast.server")

MAX_ROOM_NAME = 512

# How long a socket sent away has to take its last packets before its
# connection is closed.
FLUSH_TIMEOUT = 1.0


JoinPolicy = Callable[[str, str], Awaitable[bool]]
"""``(user_id, room)``: whether the user may be in the room right now."""

RoomAudience = Callable[[ResourceEvent], Iterable[str] | None]
"""The users allowed in ``event.room`` once ``event`` happened, or ``None``
when the event does not restrict the room."""


async def _anyone(user_id: str, room: str) -> bool:
    return True


def _unrestricted(event: ResourceEvent) -> None:
    return None


def _consume(future: asyncio.Future[Any]) -> None:
    # A write to a connection that closed meanwhile fails; that is expected.
    if not future.cancelled():
        future.exception()


@attrs.define
class _Session:
    budget: Budget
    user: User | None = None
    rooms: set[str] = attrs.field(factory=set)
    timer: asyncio.TimerHandle | None = None
    # Joins and leaves are handled one at a time, in the order they came.
    turn: asyncio.Lock = attrs.field(factory=asyncio.Lock)

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
        max_joins_per_minute: int = 120,
        max_sockets_per_user: int = 20,
        max_events_per_second: int = 50,
        max_event_burst: int = 200,
        max_queued_bytes: int = 8 * 1024 * 1024,
        max_queued_events: int = 2000,
        cors_origins: Iterable[str] = (),
        join_policy: JoinPolicy = _anyone,
        room_audience: RoomAudience = _unrestricted,
    ) -> None:
        self.tokens = tokens
        self.feed = feed
        self.auth_timeout = auth_timeout
        self.max_message = max_message
        self.max_rooms_per_socket = max_rooms_per_socket
        self.max_joins_per_minute = max_joins_per_minute
        self.max_sockets_per_user = max_sockets_per_user
        self.max_events_per_second = max_events_per_second
        self.max_event_burst = max_event_burst
        self.max_queued_bytes = max_queued_bytes
        self.max_queued_events = max_queued_events
        self.join_policy = join_policy
        self.room_audience = room_audience
        origins = list(cors_origins)
        self.sio = socketio.AsyncServer(
            async_mode="tornado",
            cors_allowed_origins="*" if origins == ["*"] else origins or None,
            max_http_buffer_size=max_message,
            serializer=ClientPacket,
            logger=LibraryLog(log),
            engineio_logger=LibraryLog(log),
        )
        self._sessions: dict[str, _Session] = {}
        self._per_user: Counter[str] = Counter()
        self._budgets: dict[str, Budget] = {}
        # Engine.IO session id -> the Tornado handler of its WebSocket.
        self._websockets: dict[str, Any] = {}
        self.sio.on("connect", self._on_connect)
        self.sio.on("disconnect", self._on_disconnect)
        self.sio.on("authenticate", self._on_authenticate)
        self.sio.on("realtime:join", self._on_join)
        self.sio.on("realtime:leave", self._on_leave)
        self.sio.on("*", self._on_other)
        eio = self.sio.eio
        self._transport_opened = eio.handlers["connect"]
        self._packet_received = eio.handlers["message"]
        self._transport_ended = eio.handlers["disconnect"]
        eio.on("connect", self._on_transport)
        eio.on("message", self._on_packet)
        eio.on("disconnect", self._on_transport_end)

    @property
    def connected(self) -> int:
        return len(self._sessions)

    def tornado_handler(self) -> type[tornado.websocket.WebSocketHandler]:
        return _handler_class(self)

    # -- connection and authentication ---------------------------------------

    async def _on_connect(
        self, sid: str, environ: Any, auth: Any = None, *extra: Any
    ) -> None:
        if sid in self._sessions:
            return  # not a connection: an event that a client named so
        budget = self._budget_of(sid)
        if not budget.events.take(asyncio.get_running_loop().time()):
            raise socketio.exceptions.ConnectionRefusedError(self._too_many_events)
        session = self._sessions[sid] = _Session(budget)
        token = auth.get("token") if isinstance(auth, dict) else None
        if token is None:
            self._start_auth_timer(sid, session)
            return
        try:
            user = self.tokens.user(token)
        except TokenError as exc:
            del self._sessions[sid]
            raise socketio.exceptions.ConnectionRefusedError(str(exc)) from None
        refusal = self._user_refusal(session, user)
        if refusal is not None:
            del self._sessions[sid]
            raise socketio.exceptions.ConnectionRefusedError(refusal)
        self._authenticate(sid, session, user)
        # The client learns it is connected only after this handler returns.
        self.sio.start_background_task(self._confirm_after_connect, sid, user)

    def _budget_of(self, sid: str) -> Budget:
        eio_sid = self.sio.manager.eio_sid_from_sid(sid, "/")
        budget = self._budgets.get(eio_sid)
        if budget is None:
            rate, burst = self.max_events_per_second, self.max_event_burst
            joins = self.max_joins_per_minute
            budget = Budget(
                events=Bucket(burst, rate),
                strikes=Bucket(burst, rate),
                joins=Bucket(joins, joins / 60),
            )
            if eio_sid is not None:
                self._budgets[eio_sid] = budget
        return budget

    async def _confirm_after_connect(self, sid: str, user: User) -> None:
        for _ in range(100):
            if self.sio.manager.is_connected(sid, "/"):
                await self._emit("authenticated", {"user": {"id": user.id}}, sid)
                return
            await asyncio.sleep(0.01)

    async def _on_disconnect(self, sid: str, reason: Any = None, *extra: Any) -> None:
        if self.sio.manager.is_connected(sid, "/"):
            return  # not a disconnection: an event that a client named so
        self._end_session(sid)

    def _end_session(self, sid: str) -> _Session | None:
        session = self._sessions.pop(sid, None)
        if session is not None:
            session.cancel_timer()
            self._set_user(session, None)
        return session

    async def _on_authenticate(self, sid: str, data: Any = None, *extra: Any) -> None:
        session = self._sessions.get(sid)
        if session is None:
            return
        too_fast = self._throttle(session)
        if too_fast is not None:
            await self._refuse(sid, session, "unauthorized", {"message": too_fast})
            return
        token = data.get("token") if isinstance(data, dict) else None
        try:
            user = self.tokens.user(token)
        except TokenError as exc:
            await self._emit("unauthorized", {"message": str(exc)}, sid)
            return
        refusal = self._user_refusal(session, user)
        if refusal is not None:
            await self._send_away(sid, refusal)
            return
        if session.user is not None and session.user.id != user.id:
            await self._leave_all(sid, session)
        self._authenticate(sid, session, user)
        await self._emit("authenticated", {"user": {"id": user.id}}, sid)

    def _user_refusal(self, session: _Session, user: User) -> str | None:
        """Why ``user`` may not have one more socket, or ``None``."""
        if session.user is not None and session.user.id == user.id:
            return None
        if self._per_user[user.id] >= self.max_sockets_per_user:
            limit = self.max_sockets_per_user
            return f"too many connections for this user: at most {limit}"
        return None

    def _authenticate(self, sid: str, session: _Session, user: User) -> None:
        self._set_user(session, user)
        session.cancel_timer()
        if user.expires_at is not None:
            loop = asyncio.get_running_loop()
            delay = max(0.0, user.expires_at - self.tokens.now())
            session.timer = loop.call_later(delay, self._spawn, self._expire, sid)

    def _set_user(self, session: _Session, user: User | None) -> None:
        if session.user is not None:
            left = self._per_user[session.user.id] - 1
            if left > 0:
                self._per_user[session.user.id] = left
            else:
                del self._per_user[session.user.id]
        session.user = user
        if user is not None:
            self._per_user[user.id] += 1

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
        await self._send_away(sid, "authentication timed out")

    async def _expire(self, sid: str) -> None:
        # The user token ran out: out of every room until it authenticates anew.
        session = self._sessions.get(sid)
        if session is None or session.user is None:
            return
        self._set_user(session, None)
        await self._leave_all(sid, session)
        await self._emit("unauthorized", {"message": "token has expired"}, sid)
        self._start_auth_timer(sid, session)

    # -- event rate -----------------------------------------------------------

    def _throttle(self, session: _Session) -> str | None:
        """Why this event is refused for coming too fast, or ``None``."""
        now = asyncio.get_running_loop().time()
        if session.budget.events.take(now):
            return None
        return self._too_many_events

    @property
    def _too_many_events(self) -> str:
        return f"too many events: at most {self.max_events_per_second} per second"

    async def _refuse(
        self,
        sid: str,
        session: _Session,
        event: str | None,
        data: dict[str, Any],
    ) -> None:
        """Answer an event refused for coming too fast, or send the socket
        away when it has had too many refused."""
        if session.budget.strikes.take(asyncio.get_running_loop().time()):
            if event is not None:
                await self._emit(event, data, sid)
            return
        await self._send_away(sid, "too many events: disconnected")

    async def _on_other(self, event: Any, sid: str, *data: Any) -> None:
        # Events nobody listens to are ignored, but count towards the rate.
        session = self._sessions.get(sid)
        if session is not None and self._throttle(session) is not None:
            await self._refuse(sid, session, None, {})

    # -- rooms ----------------------------------------------------------------

    async def _on_join(self, sid: str, data: Any = None, *extra: Any) -> None:
        session = await self._room_request(sid, data, "realtime:join:error")
        if session is not None:
            async with session.turn:
                await self._join(sid, session, data, _name_in(data))

    async def _room_request(
        self, sid: str, data: Any, error_event: str
    ) -> _Session | None:
        """The session of a join or leave that may go ahead, or ``None``
        (unknown socket, or refused as too fast)."""
        session = self._sessions.get(sid)
        if session is None:
            return None
        too_fast = self._throttle(session)
        if too_fast is not None:
            reply = {"name": _echo(_name_in(data)), "error": too_fast}
            await self._refuse(sid, session, error_event, reply)
            return None
        return session

    async def _join(self, sid: str, session: _Session, data: Any, name: Any) -> None:
        error = self._join_budget(session) or await self._join_error(
            session, data, name
        )
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

    def _join_budget(self, session: _Session) -> str | None:
        if session.budget.joins.take(asyncio.get_running_loop().time()):
            return None
        limit = self.max_joins_per_minute
        return f"too many join attempts: at most {limit} per minute"

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

    async def _on_leave(self, sid: str, data: Any = None, *extra: Any) -> None:
        session = await self._room_request(sid, data, "realtime:leave:error")
        if session is not None:
            async with session.turn:
                await self._leave(sid, session, _name_in(data))

    async def _leave(self, sid: str, session: _Session, name: Any) -> None:
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

    async def send_to_room(
        self, room: str, event: ResourceEvent, skip: Collection[str] = ()
    ) -> None:
        """Encode the event once and write it to each WebSocket in the room;
        a socket with packets still queued in python-engineio (or on
        long-polling) gets it behind them, through the library."""
        allowed = self.room_audience(event)
        if allowed is not None:
            await self._restrict(room, set(allowed))
        frame = None
        queued: list[str] = []
        for sid, eio_sid in list(self.sio.manager.get_participants("/", room)):
            if sid in skip:
                continue
            if self._stalled(eio_sid):
                await self._drop_stalled(sid, eio_sid)
                continue
            handler = self._writable(eio_sid)
            if handler is None:
                queued.append(sid)
                continue
            frame = frame or _event_frame("realtime:resource", event.payload())
            with contextlib.suppress(tornado.websocket.WebSocketClosedError):
                handler.write_message(frame)
        for sid in queued:
            await self.sio.emit("realtime:resource", event.payload(), to=sid)

    def _writable(self, eio_sid: str) -> Any:
        """The WebSocket handler to write to directly, or ``None`` when the
        packet must queue behind others (or the transport is not a plain,
        settled WebSocket)."""
        handler = self._websockets.get(eio_sid)
        socket = self.sio.eio.sockets.get(eio_sid)
        if handler is None or socket is None:
            return None
        if socket.closed or not socket.connected or socket.upgrading:
            return None
        # python-engineio's writer marks a packet done just before writing it,
        # without pausing in between: none unfinished means none unwritten.
        if getattr(socket.queue, "_unfinished_tasks", 1):
            return None
        return handler

    async def send_to_socket(self, sid: str, event: ResourceEvent) -> None:
        eio_sid = self.sio.manager.eio_sid_from_sid(sid, "/")
        if eio_sid is not None and self._stalled(eio_sid):
            await self._drop_stalled(sid, eio_sid)
            return
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
                    # The client learns it is out, not why nor what changed.
                    await self._emit("realtime:leave:success", {"name": room}, sid)

    async def _emit(self, event: str, data: dict[str, Any], sid: str) -> None:
        await self.sio.emit(event, data, to=sid)

    # -- transports: bounded output, malformed input ---------------------------

    async def _on_transport(self, eio_sid: str, environ: Any) -> Any:
        # A connection made straight over WebSocket: remember its handler.
        handler: Any = None
        if isinstance(environ, dict):
            handler = environ.get("tornado.handler")
        if handler is not None and handler.ws_connection is not None:
            handler.eio_sid = eio_sid
            self._websockets[eio_sid] = handler
        return await self._transport_opened(eio_sid, environ)

    async def _on_transport_end(self, eio_sid: str, reason: Any = None) -> None:
        self._budgets.pop(eio_sid, None)
        await self._transport_ended(eio_sid, reason)

    def _upgraded(self, handler: Any, eio_sid: str) -> None:
        # A long-polling connection moving to WebSocket.
        if eio_sid in self.sio.eio.sockets:
            handler.eio_sid = eio_sid
            self._websockets.setdefault(eio_sid, handler)

    def _transport_closed(self, handler: Any) -> None:
        eio_sid = getattr(handler, "eio_sid", None)
        if eio_sid is not None and self._websockets.get(eio_sid) is handler:
            del self._websockets[eio_sid]

    async def _on_packet(self, eio_sid: str, data: Any) -> None:
        try:
            await self._packet_received(eio_sid, data)
        except MalformedPacket as exc:
            log.info("connection %s closed: it sent a bad packet (%s)", eio_sid, exc)
            await self._drop_transport(eio_sid, PROTOCOL_ERROR, f"bad packet: {exc}")

    def _refuse_frame(self, handler: Any, code: int, problem: str) -> None:
        eio_sid = getattr(handler, "eio_sid", None)
        log.info("connection %s closed: it sent a bad frame (%s)", eio_sid, problem)
        self._close_websocket(handler, code, f"bad frame: {problem}")
        if eio_sid is not None:
            self._forget_socket(eio_sid)

    def _too_slow(self, handler: Any) -> None:
        eio_sid = getattr(handler, "eio_sid", None)
        reason = f"too slow: over {self.max_queued_bytes} bytes waiting"
        log.info("connection %s closed: %s", eio_sid, reason)
        self._close_websocket(handler, POLICY_VIOLATION, reason)
        if eio_sid is not None:
            self._forget_socket(eio_sid)

    def _stalled(self, eio_sid: str) -> bool:
        """Whether a long-polling client has let too many packets pile up.
        (A WebSocket's output is bounded as it is written.)"""
        if eio_sid in self._websockets:
            return False
        socket = self.sio.eio.sockets.get(eio_sid)
        return socket is not None and socket.queue.qsize() >= self.max_queued_events

    async def _drop_stalled(self, sid: str, eio_sid: str) -> None:
        limit = self.max_queued_events
        log.info("connection %s closed: too slow, %d packets waiting", eio_sid, limit)
        await self._drop_transport(eio_sid, POLICY_VIOLATION, "too slow")

    def _forget_socket(self, eio_sid: str) -> None:
        # Out of its rooms at once, while its connection closes.
        sid = self.sio.manager.sid_from_eio_sid(eio_sid, "/")
        if sid is not None and self.sio.manager.is_connected(sid, "/"):
            self.sio.start_background_task(self.sio.disconnect, sid)

    async def _send_away(self, sid: str, message: str) -> None:
        """Tell a socket why with ``unauthorized``, then disconnect it."""
        if self._end_session(sid) is None:
            return
        log.info("socket %s disconnected: %s", sid, message)
        eio_sid = self.sio.manager.eio_sid_from_sid(sid, "/")
        await self._emit("unauthorized", {"message": message}, sid)
        await self.sio.disconnect(sid)
        if eio_sid is None:
            return
        socket = self.sio.eio.sockets.get(eio_sid)
        if socket is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(socket.queue.join(), FLUSH_TIMEOUT)
        await self._drop_transport(eio_sid, POLICY_VIOLATION, message)

    async def _drop_transport(self, eio_sid: str, code: int, reason: str) -> None:
        """Disconnect the socket on ``eio_sid``, if any, and close its connection."""
        sid = self.sio.manager.sid_from_eio_sid(eio_sid, "/")
        if sid is not None and self.sio.manager.is_connected(sid, "/"):
            await self.sio.disconnect(sid)
        handler = self._websockets.get(eio_sid)
        if handler is not None:
            self._close_websocket(handler, code, reason)
            return
        socket = self.sio.eio.sockets.get(eio_sid)
        if socket is not None and not socket.closed:
            await socket.close(wait=False)

    def _close_websocket(self, handler: Any, code: int, reason: str) -> None:
        connection = handler.ws_connection
        if connection is not None and connection.stream is not None:
            connection.stream.max_write_buffer_size = None  # room for the close
        handler.close(code, close_reason(reason))


def _handler_class(gateway: SocketGateway) -> type[tornado.websocket.WebSocketHandler]:
    """python-socketio's Tornado handler, with the gateway's checks on what
    comes in and its bound on what waits to go out."""
    base: Any = socketio.get_tornado_handler(gateway.sio)

    @tornado.web.stream_request_body
    class Handler(base):  # type: ignore[misc]
        eio_sid: str | None = None

        def prepare(self) -> None:
            self._chunks: list[bytes] = []
            if self.request.method != "POST":
                return
            declared = self.request.headers.get("Content-Length", "")
            if declared.isdecimal() and int(declared) > gateway.max_message:
                self.set_header("Connection", "close")
                self.set_status(413)
                self.finish("message too large")
                return
            self.request.connection.set_max_body_size(gateway.max_message)

        def data_received(self, chunk: bytes) -> None:
            self._chunks.append(chunk)

        async def post(self, *args: Any, **kwargs: Any) -> None:
            # Long-polling: packets separated by a record separator.
            self.request.body = body = b"".join(self._chunks)
            try:
                packets = body.decode().split("\x1e")
            except UnicodeDecodeError:
                problem: str | None = "not UTF-8"
            else:
                problem = next(filter(None, map(engineio_problem, packets)), None)
            if problem is not None:
                log.info("long-polling request refused: %s", problem)
                self.set_status(400)
                self.finish(problem)
                return
            await self._hand_over_beyond_limit(packets)
            await super().post(*args, **kwargs)

        async def _hand_over_beyond_limit(self, packets: list[str]) -> None:
            # python-engineio refuses a request of more packets than its
            # limit (and drops them all), where socket.io-client sends all it
            # has: the first ones go to the session here, in order, and the
            # last ones the usual way, which also answers the request.
            limit = eio_payload.Payload.max_decode_packets
            socket = gateway.sio.eio.sockets.get(self.get_query_argument("sid", ""))
            if len(packets) <= limit or socket is None or socket.closed:
                return
            if not socket.connected or socket.upgraded:
                return
            first, last = packets[:-limit], packets[-limit:]
            for text in first:
                await socket.receive(eio_packet.Packet(encoded_packet=text))
            self.request.body = "\x1e".join(last).encode()

        async def open(self, *args: Any, **kwargs: Any) -> None:
            eio_sid = self.get_query_argument("sid", None)
            if eio_sid is not None:
                gateway._upgraded(self, eio_sid)
            await super().open(*args, **kwargs)

        async def on_message(self, message: str | bytes) -> None:
            problem = engineio_problem(message)
            if problem is not None:
                binary = isinstance(message, bytes)
                code = UNSUPPORTED_DATA if binary else PROTOCOL_ERROR
                gateway._refuse_frame(self, code, problem)
                return
            await super().on_message(message)

        def write_message(self, message: Any, binary: bool = False) -> Any:
            connection = self.ws_connection
            if connection is not None and connection.stream is not None:
                # An empty buffer takes one frame, however large; after that,
                # what waits may not grow past the limit.
                stream = connection.stream
                limit = gateway.max_queued_bytes if stream.writing() else None
                stream.max_write_buffer_size = limit
            try:
                written = super().write_message(message, binary)
            except tornado.iostream.StreamBufferFullError:
                gateway._too_slow(self)
                raise tornado.websocket.WebSocketClosedError() from None
            written.add_done_callback(_consume)
            return written

        def on_close(self) -> None:
            super().on_close()
            gateway._transport_closed(self)

    return Handler


def _event_frame(name: str, data: Any) -> str:
    """An Engine.IO message holding a Socket.IO event, as the library sends it."""
    return "42" + json.dumps([name, data], separators=(",", ":"))


def _name_in(data: Any) -> Any:
    return data.get("name") if isinstance(data, dict) else None


def _echo(name: Any) -> Any:
    """The room name to repeat in an error, if it is one worth repeating."""
    return name if isinstance(name, str) and len(name) <= MAX_ROOM_NAME else None
