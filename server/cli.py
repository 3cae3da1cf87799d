"""The ``roomcast`` command: serve, token, migrate."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import logging
import os
import signal
import sys
from collections.abc import Collection, Sequence
from pathlib import Path

import migrations
import orm
from migrations.lock import LOCK_WAIT
from realtime import ChangeFeed, FeedStore, ResourceEvent

from .app import ENTITIES, Server, bus_for, resolve_secret
from .auth import Tokens
from .chat import watch_entities
from .chat.migrations import FOLDER as CHAT_MIGRATIONS
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
        "--migrate",
        action="store_true",
        help="apply pending migrations before serving (always done on SQLite)",
    )

    token = verbs.add_parser("token", help="print a user token")
    token.add_argument("user", help="the user id (the token's sub claim)")
    token.add_argument(
        "--ttl", type=int, default=24 * 3600, help="lifetime in seconds (default 24 h)"
    )

    _add_migrate(verbs)
    return parser


def _add_migrate(verbs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--database", dest="database_url", metavar="URL", help="database URL"
    )
    common.add_argument(
        "--migrations",
        dest="migrations_folder",
        metavar="DIR",
        help="the versions folder (default: ROOMCAST_MIGRATIONS, else the "
        "example application's)",
    )
    common.add_argument(
        "--entities",
        metavar="MODULE:NAME",
        help="MODULE:NAME of the declared entities that plan and new compare "
        "with the database (default: ROOMCAST_ENTITIES, else server.app:ENTITIES)",
    )
    common.add_argument(
        "--lock-timeout",
        type=float,
        default=LOCK_WAIT,
        metavar="SECONDS",
        help="seconds to wait for another migrator (default %(default).0f)",
    )

    migrate = verbs.add_parser("migrate", help="schema migrations")
    actions = migrate.add_subparsers(dest="action", required=True)
    actions.add_parser("status", parents=[common], help="applied and pending")
    actions.add_parser(
        "plan", parents=[common], help="what differs from the declared entities"
    )
    up = actions.add_parser("up", parents=[common], help="apply pending migrations")
    up.add_argument("target", nargs="?", help="the last id to apply (default: all)")
    down = actions.add_parser("down", parents=[common], help="undo migrations")
    down.add_argument(
        "target",
        nargs="?",
        help="the id to go back to, which stays applied; 0 undoes all "
        "(default: undo the last applied)",
    )
    new = actions.add_parser(
        "new", parents=[common], help="write the next migration from the plan"
    )
    new.add_argument("name", help="what it does, e.g. add_topic_to_channels")


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
    if args.verb == "migrate":
        return _migrate(args, settings)
    try:
        asyncio.run(_serve(settings))
    except (orm.OrmError, migrations.MigrationError, SettingsError, OSError) as exc:
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


def _migrate(args: argparse.Namespace, settings: Settings) -> int:
    try:
        return asyncio.run(_run_migrate(args, settings))
    except (orm.OrmError, migrations.MigrationError, SettingsError, OSError) as exc:
        print(f"roomcast migrate {args.action}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        # Nothing of the interrupted migration is recorded; a paged data
        # migration resumes after its last finished page.
        print(
            f"roomcast migrate {args.action}: interrupted; run it again to resume",
            file=sys.stderr,
        )
        return 130


async def _run_migrate(args: argparse.Namespace, settings: Settings) -> int:
    folder = Path(args.migrations_folder or migrations.versions_folder(CHAT_MIGRATIONS))
    entities = _entities(args.entities or os.environ.get("ROOMCAST_ENTITIES"))
    db = orm.Database.from_url(settings.database_url)
    await db.connect()
    feed = await _feed_for_migrations(db, settings)
    try:
        migrator = migrations.Migrator(
            db, folder, entities=entities, lock_wait=args.lock_timeout
        )
        for line in await _migrate_action(migrator, args):
            print(line)
    finally:
        if feed is not None:
            await feed.close()
        await db.close()
    return 0


class _NoSockets:
    """The transport of a process that serves no sockets."""

    async def send_to_room(
        self, room: str, event: ResourceEvent, skip: Collection[str] = ()
    ) -> None:
        return None

    async def send_to_socket(self, sid: str, event: ResourceEvent) -> None:
        return None

    async def enter_room(self, sid: str, room: str) -> None:
        return None

    async def leave_room(self, sid: str, room: str) -> None:
        return None


async def _feed_for_migrations(
    db: orm.Database, settings: Settings
) -> ChangeFeed | None:
    """Data migrations change rooms too: their writes are recorded in the
    durable feed and, with Redis, published to the running servers."""
    store = FeedStore(db, retention=settings.feed_retention)
    if not await store.available():
        return None
    feed = ChangeFeed(bus_for(settings), store=store)
    watch_entities(feed)
    feed.attach(db)
    await feed.start(_NoSockets())
    return feed


async def _migrate_action(
    migrator: migrations.Migrator, args: argparse.Namespace
) -> list[str]:
    """What one ``migrate`` action does, as the lines it prints."""
    if args.action == "status":
        states = await migrator.status()
        pending = sum(not s.applied for s in states)
        lines = [s.line() for s in states] or [f"no migrations in {migrator.folder}"]
        if pending:
            lines.append(f"{pending} pending: apply with `roomcast migrate up`")
        return lines
    if args.action == "plan":
        return (await migrator.plan()).lines()
    if args.action == "up":
        applied = await migrator.up(args.target)
        return [f"applied {m.label}" for m in applied] or [
            f"nothing to apply: {migrator.where} is up to date"
        ]
    if args.action == "down":
        undone = await migrator.down(args.target)
        return [f"undid {m.label}" for m in undone] or ["nothing to undo"]
    path, plan = await migrator.new(args.name)
    return [f"wrote {path}", *(f"  {line}" for line in plan.lines())]


def _entities(spec: str | None) -> Sequence[type]:
    """The entities ``MODULE:NAME`` names, else the example application's."""
    if not spec:
        return ENTITIES
    module_name, _, name = spec.partition(":")
    try:
        found = getattr(importlib.import_module(module_name), name or "ENTITIES")
    except (ImportError, AttributeError) as exc:
        raise SettingsError(f"--entities {spec}: {exc}") from exc
    return tuple(found)


if __name__ == "__main__":
    sys.exit(main())
