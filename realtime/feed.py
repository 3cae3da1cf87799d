"""The change feed: from committed writes to events in rooms, in order.

Producing side: decorated service calls and watched entity types turn writes
into ``ResourceEvent``s, numbered by ``EventIds``, recorded in the durable
feed (``FeedStore``; with the write itself where they come from one) and
handed to the bus in the order they were made.

Receiving side: every event the bus brings is kept in the room's recent
history and delivered by one worker, which also performs room joins and
leaves, so a join that asks for history (from memory, or from the durable
feed when memory does not reach back far enough) gets it with no gap and no
duplicate against the live events that follow.
"""

from __future__ import annotations

import asyncio
import contextvars
import heapq
import logging
import threading
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Collection, Iterable
from typing import Any, Protocol

import attrs

import orm

from .bus import EventBus, LocalBus
from .events import EventIds, ResourceAction, ResourceEvent
from .history import History
from .serialize import resource_of
from .store import FeedStore

__all__ = ["ChangeFeed", "PathSpec", "RoomSpec", "Route", "Transport"]

log = logging.getLogger("roomcast.realtime")

# Events replayed from the feed ahead of their live arrival, remembered so as
# not to send them twice; an event that never arrives live is forgotten.
MAX_REPLAYED = 10_000

RoomSpec = str | Callable[[Any], "str | Iterable[str] | None"]
PathSpec = str | Callable[[Any], str]

# Set while a decorated service call runs: the lifecycle events it causes
# wait there, so the decorator publishes once for them (or not at all).
_captured: contextvars.ContextVar[list[tuple[ChangeFeed, orm.LifecycleEvent]] | None]
_captured = contextvars.ContextVar("roomcast_captured", default=None)


@attrs.frozen
class Route:
    """Where one change goes: the action clients see, the room, the path."""

    action: ResourceAction
    room: str
    path: str
    #: The state the room is shown, when it is not the written entity's.
    entity: Any = None


class Transport(Protocol):
    """How the feed reaches sockets; the server implements it."""

    async def send_to_room(
        self, room: str, event: ResourceEvent, skip: Collection[str] = ()
    ) -> None:
        """Send ``event`` to the sockets in ``room``, except those in ``skip``."""

    async def send_to_socket(self, sid: str, event: ResourceEvent) -> None: ...

    async def enter_room(self, sid: str, room: str) -> None: ...

    async def leave_room(self, sid: str, room: str) -> None: ...


@attrs.frozen
class _Watch:
    type: str
    routes: Callable[[orm.LifecycleEvent], Iterable[Route]]


@attrs.frozen
class _Join:
    sid: str
    room: str
    since: str | None
    up_to: str | None
    joined: Callable[[bool | None], Awaitable[None]]
    done: asyncio.Future[None]


@attrs.frozen
class _Leave:
    sid: str
    room: str
    left: Callable[[], Awaitable[None]]
    done: asyncio.Future[None]


@attrs.frozen
class _CatchUp:
    """The bus is back after an outage: deliver what the feed got meanwhile."""


@attrs.frozen
class _Outgoing:
    event: ResourceEvent
    #: Whether the event is in the durable feed already (written with its
    #: change); if not, the publisher records it before publishing.
    recorded: bool


def rooms_for(spec: RoomSpec, entity: Any) -> list[str]:
    """The rooms a room spec names for ``entity`` (none when it says ``None``)."""
    rooms = spec(entity) if callable(spec) else spec
    if rooms is None:
        return []
    if isinstance(rooms, str):
        return [rooms]
    return list(rooms)


def path_for(spec: PathSpec, entity: Any) -> str:
    return spec(entity) if callable(spec) else spec


class ChangeFeed:
    """Turns writes into room events and delivers them; one per server node."""

    def __init__(
        self,
        bus: EventBus | None = None,
        *,
        store: FeedStore | None = None,
        history_per_room: int = 1000,
        max_rooms: int = 10_000,
        node: str | None = None,
    ) -> None:
        self.bus: EventBus = bus or LocalBus()
        self.store = store
        self.ids = EventIds(node)
        self._start_id = self.ids.next()
        self.history = History(
            self._start_id, per_room=history_per_room, max_rooms=max_rooms
        )
        self._watches: dict[type, _Watch] = {}
        self._outbox: asyncio.Queue[_Outgoing] = asyncio.Queue()
        self._held: list[tuple[str, _Outgoing]] = []
        self._pending: set[str] = set()
        self._pending_lock = threading.Lock()
        # Events are numbered as queued; flush() waits for a number to be sent.
        self._queued = 0
        self._sent = 0
        self._flushes: deque[tuple[int, asyncio.Future[None]]] = deque()
        self._inbox: asyncio.Queue[ResourceEvent | _Join | _Leave | _CatchUp]
        self._inbox = asyncio.Queue()
        self._joined_rooms: set[str] = set()
        self._replayed: OrderedDict[tuple[str, str], set[str]] = OrderedDict()
        self._transport: Transport | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._publish_failing = False

    # -- wiring ---------------------------------------------------------------

    def attach(self, db: orm.Database) -> None:
        """Receive ``db``'s lifecycle events; watched types reach their rooms,
        and, with a store, are recorded in the feed with each write."""
        db.add_listener(self._on_lifecycle)
        if self.store is not None:
            db.set_recorder(_FeedRecorder(self))

    def watch(
        self,
        cls: type,
        *,
        type: str,
        room: RoomSpec | None = None,
        path: PathSpec | None = None,
        routes: Callable[[orm.LifecycleEvent], Iterable[Route]] | None = None,
    ) -> None:
        """Publish every write of ``cls`` made outside a decorated call.

        Give ``room`` and ``path`` (each a string or a callable of the entity)
        to publish the write's own action, or ``routes`` to decide per event.
        """
        if routes is None:
            if room is None or path is None:
                raise ValueError("watch needs room and path, or routes")
            routes = _plain_routes(room, path)
        self._watches[cls] = _Watch(type, routes)

    async def start(self, transport: Transport) -> None:
        self._transport = transport
        if self.store is not None and not await self.store.available():
            log.warning("the change feed's table is missing: run the migrations")
        await self.bus.start(self._receive, self._resumed)
        self._tasks = [
            asyncio.create_task(self._publish_loop(), name="roomcast-publish"),
            asyncio.create_task(self._deliver_loop(), name="roomcast-deliver"),
        ]
        if self.store is not None:
            self._tasks.append(
                asyncio.create_task(self._prune_loop(), name="roomcast-prune")
            )

    async def close(self) -> None:
        # Let what is already queued go out before stopping.
        for queue in (self._outbox, self._inbox):
            if self._tasks:
                try:
                    await asyncio.wait_for(queue.join(), timeout=2)
                except TimeoutError:
                    log.warning("closing with %d undelivered events", queue.qsize())
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        await self.bus.close()

    # -- producing -----------------------------------------------------------

    def publish(
        self,
        action: ResourceAction,
        type: str,
        entity: Any,
        room: RoomSpec,
        path: PathSpec,
    ) -> list[ResourceEvent]:
        """Queue one event per room for ``entity``; returns them."""
        resource = resource_of(entity)
        resolved = path_for(path, entity)
        return [
            self._queue(Route(action, r, resolved), type, resource)
            for r in rooms_for(room, entity)
        ]

    def publish_result(
        self,
        action: ResourceAction,
        type: str,
        entity: Any,
        room: RoomSpec,
        path: PathSpec,
        captured: list[tuple[ChangeFeed, orm.LifecycleEvent]],
    ) -> None:
        """A decorated call succeeded: one event per room of its result, then
        what else its writes map to. An event its writes already recorded for
        the same room and path is the one published, not a second one."""
        resolved = path_for(path, entity)
        recorded = {
            (e.room, e.path): e
            for feed, written in captured
            if feed is self
            for e in written.records
        }
        chosen = {e.event_id for e in recorded.values()}
        covered: set[tuple[str, str]] = set()
        resource = None
        for target in rooms_for(room, entity):
            known = recorded.get((target, resolved))
            if known is not None:
                self._send(known, recorded=True)
            else:
                resource = resource or resource_of(entity)
                self._queue(Route(action, target, resolved), type, resource)
            covered.add((target, resolved))
        for feed, written in captured:
            feed._publish_lifecycle(written, covered if feed is self else set())
        # A record the call made twice for one room and path stays in the
        # durable feed, but is published once: the others are let go.
        self._let_go(
            e.event_id
            for feed, written in captured
            if feed is self
            for e in written.records
            if (e.room, e.path) in covered and e.event_id not in chosen
        )

    def discard(self, captured: list[tuple[ChangeFeed, orm.LifecycleEvent]]) -> None:
        """A decorated call failed: what its writes recorded is not published."""
        for feed, written in captured:
            feed._let_go(e.event_id for e in written.records)

    def _on_lifecycle(self, event: orm.LifecycleEvent) -> None:
        captured = _captured.get()
        if captured is not None:
            captured.append((self, event))
        else:
            self._publish_lifecycle(event, set())

    def _publish_lifecycle(
        self, event: orm.LifecycleEvent, covered: set[tuple[str, str]]
    ) -> None:
        made = event.records or self._events_for(event)
        for resource_event in made:
            if (resource_event.room, resource_event.path) not in covered:
                self._send(resource_event, recorded=bool(event.records))

    def _events_for(self, event: orm.LifecycleEvent) -> list[ResourceEvent]:
        """The events a watched entity's write maps to (none if unwatched)."""
        watch = self._watches.get(event.entity_type)
        if watch is None:
            return []
        made = []
        resource = None
        for route in watch.routes(event):
            if route.entity is not None:
                shown = resource_of(route.entity)
            else:
                shown = resource = resource or resource_of(event.entity)
            made.append(
                ResourceEvent(
                    route.action,
                    route.room,
                    watch.type,
                    route.path,
                    shown,
                    self.ids.next(),
                )
            )
        return made

    def _record(self, event: orm.LifecycleEvent) -> list[orm.Companion]:
        # Runs as the write is made (perhaps on a connector's thread): the
        # events are numbered now, kept on the lifecycle event, and held as
        # pending so that nothing numbered after them is published first.
        assert self.store is not None
        if not self.store.ready:
            return []
        with self._pending_lock:
            made = self._events_for(event)
            self._pending.update(e.event_id for e in made)
        event.records.extend(made)
        return [self.store.companion(e) for e in made]

    def _abandon(self, event: orm.LifecycleEvent) -> None:
        self._let_go(e.event_id for e in event.records)

    def _let_go(self, event_ids: Iterable[str]) -> None:
        """Stop holding back later events for these, which will not be sent."""
        with self._pending_lock:
            self._pending.difference_update(event_ids)
        self._release()

    def _queue(
        self, route: Route, type: str, resource: dict[str, Any]
    ) -> ResourceEvent:
        event = ResourceEvent(
            route.action, route.room, type, route.path, resource, self.ids.next()
        )
        self._send(event, recorded=False)
        return event

    def _send(self, event: ResourceEvent, *, recorded: bool) -> None:
        """Publish ``event`` once every event numbered before it is out:
        concurrent writes finish in any order, but go out in id order."""
        with self._pending_lock:
            self._pending.discard(event.event_id)
        heapq.heappush(self._held, (event.event_id, _Outgoing(event, recorded)))
        self._queued += 1
        self._release()

    def _release(self) -> None:
        with self._pending_lock:
            first_pending = min(self._pending, default=None)
        while self._held and (
            first_pending is None or self._held[0][0] < first_pending
        ):
            _, outgoing = heapq.heappop(self._held)
            self._outbox.put_nowait(outgoing)

    async def flush(self) -> None:
        """Wait until every event queued so far has been handed to the bus.

        Decorated calls wait for it before they return, so a change a client
        was told about is on the bus before any change the client makes next.
        """
        if not self._tasks or self._sent >= self._queued:
            return
        done = asyncio.get_running_loop().create_future()
        self._flushes.append((self._queued, done))
        await done

    def _mark_sent(self) -> None:
        self._sent += 1
        while self._flushes and self._flushes[0][0] <= self._sent:
            _, done = self._flushes.popleft()
            if not done.done():
                done.set_result(None)

    async def _publish_loop(self) -> None:
        while True:
            outgoing = await self._outbox.get()
            try:
                if not outgoing.recorded:
                    await self._record_alone(outgoing.event)
                await self.bus.publish(outgoing.event)
                if self._publish_failing:
                    self._publish_failing = False
                    log.warning("event bus %s is publishing again", self.bus.name)
            except Exception:
                if not self._publish_failing:
                    self._publish_failing = True
                    log.warning(
                        "event bus %s cannot publish; events are lost until it "
                        "recovers",
                        self.bus.name,
                        exc_info=True,
                    )
            finally:
                self._mark_sent()
                self._outbox.task_done()

    async def _record_alone(self, event: ResourceEvent) -> None:
        if self.store is None:
            return
        try:
            await self.store.append(event)
        except orm.OrmError as exc:
            # Published all the same: live clients still get it; only a
            # client catching up later misses it.
            log.warning(
                "could not record event %s in the feed: %s", event.event_id, exc
            )

    async def _prune_loop(self) -> None:
        assert self.store is not None
        interval = min(60.0, self.store.retention / 4)
        while True:
            await asyncio.sleep(interval)
            try:
                await self.store.prune()
            except orm.OrmError as exc:
                log.warning("could not prune the feed: %s", exc)

    # -- receiving -----------------------------------------------------------

    def _receive(self, event: ResourceEvent) -> None:
        self.history.record(event)
        self._inbox.put_nowait(event)

    def _resumed(self) -> None:
        # The bus was down: events other nodes made meanwhile are only in the
        # durable feed. Fetch them in turn with the deliveries.
        if self.store is not None:
            self._inbox.put_nowait(_CatchUp())

    async def join(
        self,
        sid: str,
        room: str,
        since: str | None,
        joined: Callable[[bool | None], Awaitable[None]],
    ) -> None:
        """Put ``sid`` in ``room``; ``joined(recovered)`` runs before any event
        reaches it there. With ``since``, the retained events after it follow
        first, and ``recovered`` says whether they are complete (else ``None``).
        """
        done = asyncio.get_running_loop().create_future()
        # Replay what this node has received (later events come live) or,
        # with the durable feed, everything made so far, whoever made it.
        up_to = self.ids.next() if self.store else self.history.last_id(room)
        self._inbox.put_nowait(_Join(sid, room, since, up_to, joined, done))
        await done

    async def leave(
        self, sid: str, room: str, left: Callable[[], Awaitable[None]]
    ) -> None:
        """Take ``sid`` out of ``room``; ``left()`` runs once no more events go
        to it there."""
        done = asyncio.get_running_loop().create_future()
        self._inbox.put_nowait(_Leave(sid, room, left, done))
        await done

    async def _deliver_loop(self) -> None:
        while True:
            item = await self._inbox.get()
            try:
                await self._deliver(item)
            except Exception as exc:
                log.exception("delivery failed")
                if isinstance(item, (_Join, _Leave)) and not item.done.done():
                    item.done.set_exception(exc)
            finally:
                self._inbox.task_done()

    async def _deliver(self, item: ResourceEvent | _Join | _Leave | _CatchUp) -> None:
        transport = self._transport
        assert transport is not None, "the feed delivers only once started"
        if isinstance(item, ResourceEvent):
            skip = self._replayed.pop((item.room, item.event_id), None)
            if skip:
                await transport.send_to_room(item.room, item, skip=skip)
            else:
                await transport.send_to_room(item.room, item)
        elif isinstance(item, _CatchUp):
            await self._catch_up(transport)
        elif isinstance(item, _Join):
            await transport.enter_room(item.sid, item.room)
            self._joined_rooms.add(item.room)
            replay: list[ResourceEvent] = []
            recovered = None
            if item.since is not None:
                replay, recovered = await self._replay(
                    item.room, item.since, item.up_to
                )
            await item.joined(recovered)
            for event in replay:
                await transport.send_to_socket(item.sid, event)
                if not self.history.contains(item.room, event.event_id):
                    self._note_replayed(item.room, event.event_id, item.sid)
            item.done.set_result(None)
        else:
            await transport.leave_room(item.sid, item.room)
            await item.left()
            item.done.set_result(None)

    def _note_replayed(self, room: str, event_id: str, sid: str) -> None:
        """``sid`` got this event from the feed before it arrived here live
        (from another node): when it does, it is not sent to ``sid`` again."""
        self._replayed.setdefault((room, event_id), set()).add(sid)
        self._replayed.move_to_end((room, event_id))
        while len(self._replayed) > MAX_REPLAYED:
            self._replayed.popitem(last=False)

    async def _replay(
        self, room: str, since: str, up_to: str | None
    ) -> tuple[list[ResourceEvent], bool]:
        """The events after ``since``: from the durable feed when there is one
        (other processes may write to the same database), else from memory."""
        events, recovered = self.history.since(room, since, up_to)
        if self.store is None:
            return events, recovered
        try:
            return await self.store.replay(room, since, up_to or self.ids.next())
        except orm.OrmError as exc:
            log.warning("could not read the feed of %s: %s", room, exc)
            return events, False

    async def _catch_up(self, transport: Transport) -> None:
        assert self.store is not None
        for room in sorted(self._joined_rooms):
            after = self.history.last_id(room) or self._start_id
            try:
                missed, _ = await self.store.replay(room, after, self.ids.next())
            except orm.OrmError as exc:
                log.warning("could not catch up on %s: %s", room, exc)
                continue
            for event in missed:
                if not self.history.contains(room, event.event_id):
                    self.history.record(event)
                    await transport.send_to_room(room, event)


class _FeedRecorder:
    """The feed as the database's recorder (see ``orm.Recorder``)."""

    def __init__(self, feed: ChangeFeed) -> None:
        self.feed = feed

    def record(
        self, event: orm.LifecycleEvent, meta: orm.EntityMeta
    ) -> list[orm.Companion]:
        return self.feed._record(event)

    def abandon(self, event: orm.LifecycleEvent) -> None:
        # Called on the loop's thread, after the failed write.
        self.feed._abandon(event)


def _plain_routes(
    room: RoomSpec, path: PathSpec
) -> Callable[[orm.LifecycleEvent], Iterable[Route]]:
    def routes(event: orm.LifecycleEvent) -> Iterable[Route]:
        resolved = path_for(path, event.entity)
        return [Route(event.action, r, resolved) for r in rooms_for(room, event.entity)]

    return routes


def capture() -> tuple[
    list[tuple[ChangeFeed, orm.LifecycleEvent]], contextvars.Token[Any]
]:
    """Start holding lifecycle events for a decorated call (see decorators)."""
    held: list[tuple[ChangeFeed, orm.LifecycleEvent]] = []
    return held, _captured.set(held)


def release(token: contextvars.Token[Any]) -> None:
    _captured.reset(token)
