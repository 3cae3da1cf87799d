"""One migrator at a time: a lock that expires unless its holder renews it.

Each backend takes the lock its own safe way (see ``Backend.try_lock``);
this module waits for it, keeps it alive while the work lasts, and gives it
up however the work ends. A process that crashes while holding it blocks the
others only until the expiry.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import orm

from .backend import Backend, Holder
from .exceptions import LockTimeout

__all__ = ["hold_lock"]

log = logging.getLogger("roomcast.migrations")

LOCK_TTL = 30.0
LOCK_WAIT = 120.0
_POLL = 0.25
_TELL_EVERY = 10.0


def new_owner() -> str:
    """Who this process is, as the lock and the waiting messages show it."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


@contextlib.asynccontextmanager
async def hold_lock(
    backend: Backend, *, ttl: float = LOCK_TTL, wait: float = LOCK_WAIT
) -> AsyncIterator[str]:
    """Hold the migration lock of ``backend``'s database for the block.

    Waits up to ``wait`` seconds for another holder, telling the log who it
    waits for, then raises ``LockTimeout``. Yields this holder's name.
    """
    owner = new_owner()
    await _acquire(backend, owner, ttl, wait)
    renewing = asyncio.create_task(_keep_alive(backend, owner, ttl))
    try:
        yield owner
    finally:
        renewing.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await renewing
        try:
            await backend.release_lock(owner)
        except orm.DatabaseUnavailable as exc:
            log.warning(
                "could not release the migration lock on %s (it expires within "
                "%.0f s): %s",
                backend.where,
                ttl,
                exc,
            )


def _expiry(ttl: float) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=ttl)


async def _acquire(backend: Backend, owner: str, ttl: float, wait: float) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    told = -_TELL_EVERY
    while True:
        holder = await backend.try_lock(Holder(owner, _expiry(ttl)))
        if holder is None:
            return
        waited = loop.time() - started
        if waited >= wait:
            raise LockTimeout(
                f"{backend.where} is being migrated by {holder.owner}, who still "
                f"held the lock after {wait:.0f} s; try again once it is done (a "
                f"holder that crashed loses the lock at {holder.expires_at:%H:%M:%S} "
                "UTC unless it renews it)"
            )
        if waited - told >= _TELL_EVERY:
            told = waited
            log.info(
                "waiting for the migration lock on %s, held by %s (waited %.0f s "
                "of at most %.0f s)",
                backend.where,
                holder.owner,
                waited,
                wait,
            )
        await asyncio.sleep(_POLL)


async def _keep_alive(backend: Backend, owner: str, ttl: float) -> None:
    while True:
        await asyncio.sleep(ttl / 3)
        try:
            kept = await backend.renew_lock(Holder(owner, _expiry(ttl)))
        except orm.DatabaseUnavailable as exc:
            log.warning(
                "could not renew the migration lock on %s: %s", backend.where, exc
            )
            continue
        if not kept:
            log.error(
                "lost the migration lock on %s (it expired before it was renewed); "
                "another migrator may now run alongside",
                backend.where,
            )
            return
