"""roomcast's server: Tornado, the Socket.IO endpoint, REST, auth and the CLI.

``Server(load_settings())`` assembles one node of the example application;
``roomcast serve`` runs it.
"""

from __future__ import annotations

from .app import ENTITIES, Server, resolve_secret
from .auth import Tokens, User
from .config import Settings, load_or_create_secret, load_settings
from .errors import (
    ApiError,
    BadRequest,
    Conflict,
    Forbidden,
    NotFound,
    PayloadTooLarge,
    ServerError,
    ServiceUnavailable,
    SettingsError,
    TokenError,
    Unauthorized,
)
from .websocket import JoinPolicy, RoomAudience, SocketGateway

__all__ = [
    "ENTITIES",
    "ApiError",
    "BadRequest",
    "Conflict",
    "Forbidden",
    "JoinPolicy",
    "NotFound",
    "PayloadTooLarge",
    "RoomAudience",
    "Server",
    "ServerError",
    "ServiceUnavailable",
    "Settings",
    "SettingsError",
    "SocketGateway",
    "TokenError",
    "Tokens",
    "Unauthorized",
    "User",
    "load_or_create_secret",
    "load_settings",
    "resolve_secret",
]
