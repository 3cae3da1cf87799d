"""Settings: from command-line flags, then ROOMCAST_* variables, then defaults."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import attrs

from .errors import SettingsError

__all__ = ["Settings", "load_or_create_secret", "load_settings"]

MiB = 1024 * 1024


def _positive_int(name: str, text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number, got {text!r}") from None
    if value <= 0:
        raise SettingsError(f"{name} must be positive, got {value}")
    return value


def _positive_float(name: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise SettingsError(f"{name} must be a number, got {text!r}") from None
    if not value > 0:
        raise SettingsError(f"{name} must be positive, got {value}")
    return value


def _port(name: str, text: str) -> int:
    value = _positive_int(name, text)
    if value > 65535:
        raise SettingsError(f"{name} must be a TCP port (1-65535), got {value}")
    return value


def _text(name: str, text: str) -> str:
    return text


def _origins(name: str, text: str) -> tuple[str, ...]:
    return tuple(o.strip() for o in text.split(",") if o.strip())


@attrs.frozen
class Settings:
    """Everything a server node is configured with (see the README's table)."""

    host: str = "127.0.0.1"
    port: int = 3000
    database_url: str = "sqlite:///var/roomcast.db"
    redis_url: str | None = None
    redis_channel: str = "roomcast:events"
    feed_retention: int = 24 * 3600
    jwt_secret: str | None = None
    secret_file: str = "var/secret"  # noqa: S105 (a path, not a secret)
    room_token_ttl: int = 3600
    auth_timeout: float = 10.0
    max_body: int = 1 * MiB
    max_message: int = 64 * 1024
    max_rooms_per_socket: int = 100
    max_joins_per_minute: int = 120
    max_sockets_per_user: int = 20
    max_events_per_second: int = 50
    max_event_burst: int = 200
    max_queued_bytes: int = 8 * MiB
    max_queued_events: int = 2000
    socket_path: str = "/socket"
    cors_origins: tuple[str, ...] = ()
    migrate: bool = False
    log_level: str = "INFO"


# Setting name -> (environment variable, parser of its text).
_SOURCES: dict[str, tuple[str, Callable[[str, str], Any]]] = {
    "host": ("ROOMCAST_HOST", _text),
    "port": ("ROOMCAST_PORT", _port),
    "database_url": ("ROOMCAST_DATABASE_URL", _text),
    "redis_url": ("ROOMCAST_REDIS_URL", _text),
    "redis_channel": ("ROOMCAST_REDIS_CHANNEL", _text),
    "feed_retention": ("ROOMCAST_FEED_RETENTION", _positive_int),
    "jwt_secret": ("ROOMCAST_JWT_SECRET", _text),
    "secret_file": ("ROOMCAST_SECRET_FILE", _text),
    "room_token_ttl": ("ROOMCAST_ROOM_TOKEN_TTL", _positive_int),
    "auth_timeout": ("ROOMCAST_AUTH_TIMEOUT", _positive_float),
    "max_body": ("ROOMCAST_MAX_BODY", _positive_int),
    "max_message": ("ROOMCAST_MAX_MESSAGE", _positive_int),
    "max_rooms_per_socket": ("ROOMCAST_MAX_ROOMS_PER_SOCKET", _positive_int),
    "max_joins_per_minute": ("ROOMCAST_MAX_JOINS_PER_MINUTE", _positive_int),
    "max_sockets_per_user": ("ROOMCAST_MAX_SOCKETS_PER_USER", _positive_int),
    "max_events_per_second": ("ROOMCAST_MAX_EVENTS_PER_SECOND", _positive_int),
    "max_event_burst": ("ROOMCAST_MAX_EVENT_BURST", _positive_int),
    "max_queued_bytes": ("ROOMCAST_MAX_QUEUED_BYTES", _positive_int),
    "max_queued_events": ("ROOMCAST_MAX_QUEUED_EVENTS", _positive_int),
    "socket_path": ("ROOMCAST_SOCKET_PATH", _text),
    "cors_origins": ("ROOMCAST_CORS_ORIGINS", _origins),
    "log_level": ("ROOMCAST_LOG_LEVEL", _text),
}


def load_settings(
    flags: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Settings from ``flags`` (already typed; ``None`` means not given), then
    ``environ`` (default ``os.environ``), then the defaults."""
    flags = flags or {}
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for name, (variable, parse) in _SOURCES.items():
        if flags.get(name) is not None:
            values[name] = flags[name]
        elif environ.get(variable):
            values[name] = parse(variable, environ[variable])
    if flags.get("migrate"):
        values["migrate"] = True
    settings = Settings(**values)
    if not settings.socket_path.startswith("/"):
        raise SettingsError("ROOMCAST_SOCKET_PATH must start with /")
    return settings


def load_or_create_secret(path: str) -> tuple[str, bool]:
    """The secret kept in ``path``, made (mode 0600) when missing.

    Returns it and whether this call created it. Safe when several processes
    start at once: the file appears whole, and only one of them writes it.
    """
    target = Path(path)
    try:
        return _read_secret(target), False
    except FileNotFoundError:
        pass
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = target.with_name(f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(48) + "\n")
        # link() fails if the name exists, so a racing process's secret wins.
        os.link(scratch, target)
        created = True
    except FileExistsError:
        created = False
    finally:
        scratch.unlink(missing_ok=True)
    return _read_secret(target), created


def _read_secret(target: Path) -> str:
    secret = target.read_text().strip()
    if not secret:
        raise SettingsError(f"secret file {target} is empty; delete it or fill it")
    return secret
