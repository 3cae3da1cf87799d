"""A bus over Redis pub/sub, joining several server nodes.

Every node publishes its events on one channel and receives them all back,
its own included, in the order Redis saw them, so every node delivers a
room's events in the same order. When Redis cannot be reached a node keeps
serving its own sockets: it delivers its own events directly, warns once,
and resumes cross-node delivery when the subscription is back. Events made
on other nodes meanwhile do not reach it (clients catch up with ``since``).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from .bus import Receiver, Resumed
from .events import ResourceEvent

__all__ = ["RedisBus"]

log = logging.getLogger("roomcast.realtime")

DEFAULT_CHANNEL = "roomcast:events"


class RedisBus:
    """The event bus of a node among several; ``url`` is a ``redis://`` URL."""

    name = "redis"

    def __init__(
        self,
        url: str,
        *,
        channel: str = DEFAULT_CHANNEL,
        heartbeat: float = 2.0,
        retry_delay: float = 0.5,
    ) -> None:
        import redis.asyncio  # noqa: PLC0415 (an optional extra, imported on use)

        self.url = url
        self.channel = channel
        self.heartbeat = heartbeat
        self.retry_delay = retry_delay
        self._redis: Any = redis.asyncio.Redis.from_url(
            url, socket_connect_timeout=2, socket_timeout=5
        )
        self._errors: tuple[type[BaseException], ...] = (redis.RedisError, OSError)
        self._receive: Receiver | None = None
        self._resumed: Resumed | None = None
        self._task: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()
        self._healthy = False
        self._warned = False

    async def start(self, receive: Receiver, resumed: Resumed | None = None) -> None:
        self._receive = receive
        self._resumed = resumed
        self._task = asyncio.create_task(self._listen(), name="roomcast-redis")
        try:
            await asyncio.wait_for(self._subscribed.wait(), timeout=5)
        except TimeoutError:
            log.warning(
                "Redis %s is not reachable yet; serving this node alone", self.url
            )

    async def publish(self, event: ResourceEvent) -> None:
        if self._healthy:
            try:
                listeners = await self._redis.publish(self.channel, event.to_json())
            except self._errors as exc:
                self._degrade(exc)
            else:
                if listeners > 0:
                    return
                # Not even this node listens: its subscription died silently.
                self._degrade(RuntimeError("subscription lost"))
        self._deliver(event)

    def healthy(self) -> bool:
        return self._healthy

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        await self._redis.aclose()
        self._receive = None

    def _deliver(self, event: ResourceEvent) -> None:
        if self._receive is not None:
            self._receive(event)

    def _degrade(self, exc: BaseException) -> None:
        self._healthy = False
        self._subscribed.clear()
        if not self._warned:
            self._warned = True
            log.warning(
                "Redis %s unavailable (%s); delivering this node's events only",
                self.url,
                exc,
            )

    async def _listen(self) -> None:
        while True:
            pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.channel)
                self._recover()
                await self._pump(pubsub)
            except self._errors as exc:
                self._degrade(exc)
            finally:
                await _close_quietly(pubsub)
            await asyncio.sleep(self.retry_delay)

    def _recover(self) -> None:
        self._healthy = True
        self._subscribed.set()
        if self._warned:
            self._warned = False
            log.info("Redis %s is back; cross-node delivery resumed", self.url)
            if self._resumed is not None:
                self._resumed()

    async def _pump(self, pubsub: Any) -> None:
        while self._healthy:
            message = await pubsub.get_message(timeout=self.heartbeat)
            if message is None:
                # Quiet channel: a ping proves the subscription still works.
                await pubsub.ping()
                continue
            if message.get("type") != "message":
                continue
            try:
                event = ResourceEvent.from_json(message["data"])
            except (ValueError, TypeError, KeyError):
                log.warning("dropped a malformed message on %s", self.channel)
                continue
            self._deliver(event)


async def _close_quietly(pubsub: Any) -> None:
    try:
        await pubsub.aclose()
    except Exception:
        log.debug("closing a broken Redis subscription failed", exc_info=True)
