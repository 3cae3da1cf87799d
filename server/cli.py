"""The ``roomcast`` command: serve, token."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Sequence

import orm

from .app import Server, resolve_secret
from .auth import Tokens
from .config import Settings, load_settings
from .errors import SettingsError

__all__ = ["main"]

log = logging.getLogger("roomcast.server")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="roomcast", description="Realtime CRUD services over Socket.IO."
    )
    verbs = parser.add_subparsers(dest="verb", required=True)

    serve = verbs.add_parser("serve", help="run the server")
    serve.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (default 3000)")
    serve.add_argument("--database", dest="database_url", help="database URL")
    serve.add_argument("--redis", dest="redis_url", help="Redis URL joining nodes")
    serve.add_argument(
        "--migrate", action="store_true", help="create missing schema before serving"
    )

    token = verbs.add_parser("token", help="print a user token")
    token.add_argument("user", help="the user id (the token's sub claim)")
    token.add_argument(
        "--ttl", type=int, default=24 * 3600, help="lifetime in seconds (default 24 h)"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = load_settings(vars(args))
    except SettingsError as exc:
        print(f"roomcast: {exc}", file=sys.stderr)
        return 2
    if args.verb == "token":
        return _token(args.user, args.ttl, settings)
    _configure_logging(settings.log_level)
    try:
        asyncio.run(_serve(settings))
    except (orm.OrmError, SettingsError, OSError) as exc:
        log.error("cannot start: %s", exc)
        return 1
    return 0


def _token(user: str, ttl: int, settings: Settings) -> int:
    if not user or ttl <= 0:
        print("roomcast: token needs a user id and a positive --ttl", file=sys.stderr)
        return 2
    secret, _ = resolve_secret(settings)
    print(Tokens(secret).user_token(user, ttl))
    return 0


def _configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


async def _serve(settings: Settings) -> None:
    server = Server(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        await server.start()
        await stop.wait()
        log.info("shutting down")
    finally:
        await server.stop()
