"""Assembly of one server node: database, change feed, Socket.IO, REST."""

from __future__ import annotations

import asyncio
import gc
import logging
import socket
from functools import partial
from typing import Any

import tornado.httpserver
import tornado.web

import migrations
import orm
from realtime import ChangeFeed, EventBus, FeedRecord, FeedStore, LocalBus, RedisBus

from .auth import MIN_SECRET_BYTES, Tokens
from .chat import Channel, ChannelService, Message, MessageService, watch_entities
from .chat.api import routes as chat_routes
from .chat.migrations import FOLDER as CHAT_MIGRATIONS
from .chat.rooms import may_join, room_audience
from .config import Settings, load_or_create_secret
from .errors import SettingsError
from .http import DISCARD_LIMIT, ApiHandler, NotFoundHandler, log_request
from .websocket import SocketGateway

__all__ = ["ENTITIES", "Server", "bus_for", "resolve_secret"]

log = logging.getLogger("roomcast.server")

VERSION = "0.1.0"
# What the migrations must create: the application's tables and the feed.
ENTITIES = (Channel, Message, FeedRecord)


def resolve_secret(settings: Settings) -> tuple[str, str]:
    """The JWT secret and where it came from, creating ``var/secret`` if needed."""
    if settings.jwt_secret:
        return settings.jwt_secret, "ROOMCAST_JWT_SECRET"
    secret, created = load_or_create_secret(settings.secret_file)
    return secret, f"{settings.secret_file}{' (created)' if created else ''}"


def _redacted(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    credentials, at, host = rest.rpartition("@")
    return f"{scheme}{sep}***@{host}" if at and credentials else url


def bus_for(settings: Settings) -> EventBus:
    """The bus the settings ask for: Redis when a URL is given, else in-process."""
    if not settings.redis_url:
        return LocalBus()
    try:
        return RedisBus(settings.redis_url, channel=settings.redis_channel)
    except ImportError:
        raise SettingsError(
            "joining nodes over Redis needs its client: pip install 'roomcast[redis]'"
        ) from None


class HealthHandler(ApiHandler):
    requires_user = False

    async def get(self) -> None:
        db: orm.Database = self.context["db"]
        bus: EventBus = self.context["bus"]
        body: dict[str, str] = {"status": "ok", "database": "ok"}
        try:
            await asyncio.wait_for(db.ping(), timeout=2)
        except (orm.DatabaseUnavailable, TimeoutError):
            body["database"] = "unavailable"
        if not isinstance(bus, LocalBus):
            body["redis"] = "ok" if bus.healthy() else "unavailable"
        if "unavailable" in body.values():
            body["status"] = "degraded"
        self.reply(body, 200 if body["status"] == "ok" else 503)


def _tune_collector() -> None:
    """A server holds many long-lived objects per connection and makes a few
    short-lived ones per delivery: keep the startup heap out of collections
    and collect the young generation less often, or the collector's walks
    over a heap that grows with the connections dominate the fan-out."""
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


class Server:
    """One node: ``await start()`` to listen, ``await stop()`` to shut down."""

    def __init__(self, settings: Settings, bus: EventBus | None = None) -> None:
        self.settings = settings
        self.db = orm.Database.from_url(settings.database_url)
        self.store = FeedStore(self.db, retention=settings.feed_retention)
        self.feed = ChangeFeed(bus or bus_for(settings), store=self.store)
        self.feed.attach(self.db)
        watch_entities(self.feed)
        self._http: tornado.httpserver.HTTPServer | None = None
        self.port: int | None = None

    async def start(self) -> None:
        settings = self.settings
        secret, source = resolve_secret(settings)
        tokens = Tokens(secret, room_token_ttl=settings.room_token_ttl)
        log.info("roomcast %s starting", VERSION)
        log.info("secret: %s", source)
        if tokens.secret_is_short:
            log.warning(
                "the JWT secret is shorter than %d bytes; use a longer one in "
                "production",
                MIN_SECRET_BYTES,
            )

        await self.db.connect()
        assert self.db.url is not None
        log.info("database: %s (%s)", self.db.url.redacted(), self.db.backend)
        # SQLite is migrated at start, so that the first run needs nothing;
        # a shared database is migrated on purpose (migrate up, or --migrate).
        await migrations.prepare_for_serving(
            self.db,
            migrations.versions_folder(CHAT_MIGRATIONS),
            apply=settings.migrate or self.db.backend == "sqlite",
            command=f"roomcast migrate up --database {self.db.url.redacted()}",
        )
        log.info(
            "schema: %s ready", ", ".join(orm.entity_meta(e).table for e in ENTITIES)
        )
        log.info("change feed: kept %d s", settings.feed_retention)

        gateway = SocketGateway(
            tokens,
            self.feed,
            auth_timeout=settings.auth_timeout,
            max_message=settings.max_message,
            max_rooms_per_socket=settings.max_rooms_per_socket,
            max_joins_per_minute=settings.max_joins_per_minute,
            max_sockets_per_user=settings.max_sockets_per_user,
            max_events_per_second=settings.max_events_per_second,
            max_event_burst=settings.max_event_burst,
            max_queued_bytes=settings.max_queued_bytes,
            max_queued_events=settings.max_queued_events,
            cors_origins=settings.cors_origins,
            join_policy=partial(may_join, self.db),
            room_audience=room_audience,
        )
        await self.feed.start(gateway)
        if settings.redis_url:
            log.info("event bus: redis %s", _redacted(settings.redis_url))
        else:
            log.info("event bus: in-process (one node)")

        app = self._application(tokens, gateway)
        self._http = tornado.httpserver.HTTPServer(
            app, max_body_size=DISCARD_LIMIT, xheaders=False
        )
        sockets = tornado.netutil.bind_sockets(
            settings.port, settings.host, family=socket.AF_UNSPEC
        )
        self._http.add_sockets(sockets)
        self.port = sockets[0].getsockname()[1]
        _tune_collector()
        log.info(
            "listening on http://%s:%d (Socket.IO path %s)",
            settings.host,
            self.port,
            settings.socket_path,
        )

    def _application(
        self, tokens: Tokens, gateway: SocketGateway
    ) -> tornado.web.Application:
        settings = self.settings
        channels = ChannelService(self.db, self.feed)
        context: dict[str, Any] = {
            "tokens": tokens,
            "max_body": settings.max_body,
            "db": self.db,
            "bus": self.feed.bus,
            "channels": channels,
            "messages": MessageService(self.db, channels, self.feed),
        }
        socket_path = settings.socket_path.rstrip("/") + "/"
        handlers: list[Any] = [
            (socket_path, gateway.tornado_handler()),
            (r"/api/health/?", HealthHandler, context),
        ]
        handlers += [(pattern, cls, context) for pattern, cls in chat_routes()]
        return tornado.web.Application(
            handlers,
            default_handler_class=NotFoundHandler,
            default_handler_args=context,
            log_function=log_request,
            websocket_max_message_size=settings.max_message,
        )

    async def stop(self) -> None:
        if self._http is not None:
            self._http.stop()
            await self._http.close_all_connections()
            self._http = None
        await self.feed.close()
        await self.db.close()
        log.info("stopped")
