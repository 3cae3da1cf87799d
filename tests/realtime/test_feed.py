# Tests state the expected value first, as a literal where it is one.
from __future__ import annotations

import asyncio
import logging
import uuid
from pathlib import Path
from typing import Any

import attrs
import pytest

import orm
from realtime import ChangeFeed, EventIds, LocalBus, ResourceEvent, Route
from tests.realtime.doubles import (
    Channel,
    Message,
    RecordingTransport,
    message_path,
    watch_chat,
)


def _publish(feed: ChangeFeed, room: str, n: int) -> ResourceEvent:
    [event] = feed.publish("created", "thing", {"n": n}, room, f"{room}/{n}")
    return event


def _numbers(events: list[ResourceEvent]) -> list[int]:
    return [e.resource["n"] for e in events]


# -- watched writes ---------------------------------------------------------------


async def test_a_watched_write_outside_a_decorated_call_is_published(
    db: orm.Database, feed: ChangeFeed, transport: RecordingTransport
) -> None:
    watch_chat(feed)
    messages = db.repository(Message)
    channel_id = uuid.uuid4()
    message = Message(channel_id, orm.time_uuid(), "hello")

    await messages.save(message)
    await messages.save(attrs.evolve(message, text="edited"))
    await messages.remove(message)

    room = f"/channels/{channel_id}"
    resource = {"channel_id": str(channel_id), "id": str(message.id)}
    assert [
        (
            "created",
            room,
            "message",
            message_path(message),
            {**resource, "text": "hello"},
        ),
        (
            "updated",
            room,
            "message",
            message_path(message),
            {**resource, "text": "edited"},
        ),
        (
            "deleted",
            room,
            "message",
            message_path(message),
            {**resource, "text": "edited"},
        ),
    ] == [
        (e.action, e.room, e.type, e.path, e.resource)
        for e in await transport.settle(feed)
    ]


async def test_routes_decide_per_event(
    db: orm.Database, feed: ChangeFeed, transport: RecordingTransport
) -> None:
    watch_chat(feed)
    channels = db.repository(Channel)
    public = Channel(uuid.uuid4(), "public")
    private = Channel(uuid.uuid4(), "private", public=False)

    await channels.save(public)
    await channels.save(private)

    assert [
        ("/channels", f"/channels/{public.id}"),
        (f"/channels/{public.id}", f"/channels/{public.id}"),
        (f"/channels/{private.id}", f"/channels/{private.id}"),
    ] == [(e.room, e.path) for e in await transport.settle(feed)]


async def test_routes_may_rename_the_action(
    db: orm.Database, feed: ChangeFeed, transport: RecordingTransport
) -> None:
    def routes(event: orm.LifecycleEvent) -> list[Route]:
        changes = event.changes.get("public")
        if changes is not None and not changes.new:
            return [Route("deleted", "/channels", f"/channels/{event.entity.id}")]
        return []

    feed.watch(Channel, type="channel", routes=routes)
    channels = db.repository(Channel)
    channel = await channels.save(Channel(uuid.uuid4(), "c"))

    await channels.save(attrs.evolve(channel, public=False))

    assert [("deleted", "/channels")] == [
        (e.action, e.room) for e in await transport.settle(feed)
    ]


async def test_writes_of_unwatched_types_are_not_published(
    db: orm.Database, feed: ChangeFeed, transport: RecordingTransport
) -> None:
    feed.watch(Channel, type="channel", room="/channels", path="/channels/x")

    await db.repository(Message).save(Message(uuid.uuid4(), orm.time_uuid(), "hi"))

    assert [] == await transport.settle(feed)


async def test_a_watch_needs_room_and_path_or_routes(feed: ChangeFeed) -> None:
    with pytest.raises(ValueError, match="room and path, or routes"):
        feed.watch(Channel, type="channel", room="/channels")

    with pytest.raises(ValueError, match="room and path, or routes"):
        feed.watch(Channel, type="channel", path="/channels/x")


async def test_a_feed_attached_to_two_databases_hears_both(
    tmp_path: Path, db: orm.Database, feed: ChangeFeed, transport: RecordingTransport
) -> None:
    other = orm.Database.from_url(f"sqlite:///{tmp_path}/other.db")
    await other.connect()
    await other.create_schema([Message])
    feed.attach(other)
    watch_chat(feed)

    await db.repository(Message).save(Message(uuid.uuid4(), orm.time_uuid(), "one"))
    await other.repository(Message).save(Message(uuid.uuid4(), orm.time_uuid(), "two"))
    await other.close()

    assert ["one", "two"] == [e.resource["text"] for e in await transport.settle(feed)]


# -- order ------------------------------------------------------------------------


async def test_events_reach_the_transport_in_the_order_they_were_made(
    db: orm.Database, feed: ChangeFeed, transport: RecordingTransport
) -> None:
    watch_chat(feed)
    messages = db.repository(Message)
    channel_id = uuid.uuid4()
    made: list[str] = []
    db.add_listener(lambda event: made.append(event.entity.text))

    for n in range(30):
        _publish(feed, f"/r{n % 3}", n)
        made.append(f"t{n}")
        await messages.save(Message(channel_id, orm.time_uuid(), f"m{n}"))
    await asyncio.gather(
        *(
            messages.save(Message(channel_id, orm.time_uuid(), f"g{n}"))
            for n in range(30)
        )
    )

    delivered = await transport.settle(feed)
    assert made == [
        e.resource.get("text", f"t{e.resource.get('n')}") for e in delivered
    ]
    assert sorted(e.event_id for e in delivered) == [e.event_id for e in delivered]
    assert 90 == len(delivered)


async def test_every_member_of_a_room_gets_its_events_and_no_other_room_does(
    feed: ChangeFeed, transport: RecordingTransport
) -> None:
    for sid in ("s1", "s2"):
        await feed.join(sid, "/a", None, transport.joined(sid))
    await feed.join("s3", "/b", None, transport.joined("s3"))

    for n in range(5):
        _publish(feed, "/a", n)
    _publish(feed, "/b", 99)
    await transport.settle(feed)

    assert [0, 1, 2, 3, 4] == _numbers(transport.received["s1"])
    assert [0, 1, 2, 3, 4] == _numbers(transport.received["s2"])
    assert [99] == _numbers(transport.received["s3"])


async def test_publish_returns_one_event_per_room(feed: ChangeFeed) -> None:
    events = feed.publish("updated", "thing", {"id": 1}, lambda e: ["/a", "/b"], "/p")

    assert [("/a", "/p"), ("/b", "/p")] == [(e.room, e.path) for e in events]
    assert all(e.event_id == EventIds.check(e.event_id) for e in events)


async def test_close_delivers_what_is_already_queued(
    db: orm.Database, transport: RecordingTransport
) -> None:
    feed = ChangeFeed(LocalBus())
    await feed.start(transport)
    for n in range(50):
        _publish(feed, "/r", n)

    await feed.close()

    assert list(range(50)) == _numbers(transport.events())


# -- join and leave ----------------------------------------------------------------


async def test_a_join_without_since_gets_only_live_events(
    feed: ChangeFeed, transport: RecordingTransport
) -> None:
    _publish(feed, "/r", 1)
    await transport.settle(feed)

    await feed.join("sid", "/r", None, transport.joined("sid"))
    _publish(feed, "/r", 2)
    await transport.settle(feed)

    assert ("joined", "sid", None) in transport.calls
    assert [2] == _numbers(transport.received["sid"])


async def test_joined_runs_before_any_event_reaches_the_socket(
    feed: ChangeFeed, transport: RecordingTransport
) -> None:
    first = _publish(feed, "/r", 0)
    _publish(feed, "/r", 1)
    await transport.settle(feed)

    await feed.join("sid", "/r", first.event_id, transport.joined("sid"))
    _publish(feed, "/r", 2)
    await transport.settle(feed)

    def described(call: tuple[str, str, Any]) -> tuple[str, str, Any]:
        kind, target, what = call
        return (kind, target, what.resource["n"] if kind.startswith("send") else what)

    assert [
        ("send_to_room", "/r", 0),
        ("send_to_room", "/r", 1),
        ("enter_room", "sid", "/r"),
        ("joined", "sid", True),
        ("send_to_socket", "sid", 1),
        ("send_to_room", "/r", 2),
    ] == [described(c) for c in transport.calls if c[1] in ("/r", "sid")]


async def test_a_join_with_since_replays_then_follows_live(
    feed: ChangeFeed, transport: RecordingTransport
) -> None:
    sent = [_publish(feed, "/r", n) for n in range(6)]
    _publish(feed, "/other", 100)
    await transport.settle(feed)

    await feed.join("sid", "/r", sent[2].event_id, transport.joined("sid"))
    for n in range(6, 9):
        _publish(feed, "/r", n)
    await transport.settle(feed)

    assert ("joined", "sid", True) in transport.calls
    assert [3, 4, 5, 6, 7, 8] == _numbers(transport.received["sid"])
    replayed = [c[2] for c in transport.calls if c[0] == "send_to_socket"]
    assert sent[3:] == replayed


async def test_a_join_since_the_newest_event_replays_nothing(
    feed: ChangeFeed, transport: RecordingTransport
) -> None:
    sent = [_publish(feed, "/r", n) for n in range(3)]
    await transport.settle(feed)

    await feed.join("sid", "/r", sent[-1].event_id, transport.joined("sid"))
    _publish(feed, "/r", 3)
    await transport.settle(feed)

    assert ("joined", "sid", True) in transport.calls
    assert [3] == _numbers(transport.received["sid"])


async def test_a_join_since_an_event_of_a_quiet_room_is_recovered(
    feed: ChangeFeed, transport: RecordingTransport
) -> None:
    elsewhere = _publish(feed, "/other", 0)
    await transport.settle(feed)

    await feed.join("sid", "/quiet", elsewhere.event_id, transport.joined("sid"))

    assert ("joined", "sid", True) in transport.calls
    assert [] == transport.received["sid"]


async def test_a_join_since_more_than_is_retained_is_not_recovered(
    transport: RecordingTransport,
) -> None:
    feed = ChangeFeed(LocalBus(), history_per_room=3)
    await feed.start(transport)
    sent = [_publish(feed, "/r", n) for n in range(6)]
    await transport.settle(feed)

    await feed.join("sid", "/r", sent[0].event_id, transport.joined("sid"))
    _publish(feed, "/r", 6)
    await transport.settle(feed)
    await feed.close()

    assert ("joined", "sid", False) in transport.calls
    assert [3, 4, 5, 6] == _numbers(transport.received["sid"])


async def test_a_join_since_an_id_from_before_the_feed_started_is_not_recovered(
    transport: RecordingTransport,
) -> None:
    old = EventIds().next()
    await asyncio.sleep(0.002)
    feed = ChangeFeed(LocalBus())
    await feed.start(transport)
    _publish(feed, "/r", 0)
    await transport.settle(feed)

    await feed.join("sid", "/r", old, transport.joined("sid"))
    await feed.close()

    assert ("joined", "sid", False) in transport.calls
    assert [0] == _numbers(transport.received["sid"])


@pytest.mark.parametrize("join_after", [0, 1, 7, 40, 120, 400])
async def test_a_join_during_publishing_has_no_gap_and_no_duplicate(
    feed: ChangeFeed, transport: RecordingTransport, join_after: int
) -> None:
    since = _publish(feed, "/r", 0)
    await transport.settle(feed)

    async def produce() -> None:
        for n in range(1, 301):
            _publish(feed, "/r", n)
            if n % 3 == 0:
                _publish(feed, "/noise", -n)
            await asyncio.sleep(0)

    producer = asyncio.create_task(produce())
    for _ in range(join_after):
        await asyncio.sleep(0)
    await feed.join("sid", "/r", since.event_id, transport.joined("sid"))
    await producer
    await transport.settle(feed)

    assert list(range(1, 301)) == _numbers(transport.received["sid"])
    assert ("joined", "sid", True) in transport.calls


async def test_a_join_during_concurrent_writes_has_no_gap_and_no_duplicate(
    db: orm.Database, feed: ChangeFeed, transport: RecordingTransport
) -> None:
    watch_chat(feed)
    messages = db.repository(Message)
    channel_id = uuid.uuid4()
    room = f"/channels/{channel_id}"
    first = await messages.save(Message(channel_id, orm.time_uuid(), "first"))
    [since] = await transport.settle(feed)

    saved: list[Message] = []

    async def write() -> None:
        for n in range(60):
            saved.append(
                await messages.save(Message(channel_id, orm.time_uuid(), f"{n}"))
            )
            await asyncio.sleep(0.001)

    writer = asyncio.create_task(write())
    await transport.until(lambda: len(transport.events()) > 10)
    await feed.join("sid", room, since.event_id, transport.joined("sid"))
    await writer
    await transport.settle(feed)

    replayed = sum(c[0] == "send_to_socket" for c in transport.calls)
    assert replayed >= 10
    assert str(first.id) == since.resource["id"]
    assert [str(m.id) for m in saved] == [
        e.resource["id"] for e in transport.received["sid"]
    ]


async def test_leave_stops_delivery(
    feed: ChangeFeed, transport: RecordingTransport
) -> None:
    await feed.join("sid", "/r", None, transport.joined("sid"))
    _publish(feed, "/r", 1)
    await transport.settle(feed)

    await feed.leave("sid", "/r", transport.left("sid"))
    _publish(feed, "/r", 2)
    await transport.settle(feed)

    assert [1] == _numbers(transport.received["sid"])
    assert ("left", "sid", None) in transport.calls


async def test_leaving_a_room_never_joined_completes(
    feed: ChangeFeed, transport: RecordingTransport
) -> None:
    await feed.leave("sid", "/never", transport.left("sid"))

    assert [("leave_room", "sid", "/never"), ("left", "sid", None)] == transport.calls


async def test_leaving_one_room_keeps_the_others(
    feed: ChangeFeed, transport: RecordingTransport
) -> None:
    await feed.join("sid", "/a", None, transport.joined("sid"))
    await feed.join("sid", "/b", None, transport.joined("sid"))

    await feed.leave("sid", "/a", transport.left("sid"))
    _publish(feed, "/a", 1)
    _publish(feed, "/b", 2)
    await transport.settle(feed)

    assert [2] == _numbers(transport.received["sid"])


@pytest.mark.expect_error_logs
async def test_a_failing_join_callback_fails_the_join_and_not_the_feed(
    feed: ChangeFeed,
    transport: RecordingTransport,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def broken(recovered: bool | None) -> None:
        raise RuntimeError("socket went away")

    with pytest.raises(RuntimeError, match="socket went away"):
        await feed.join("gone", "/r", None, broken)
    await feed.join("sid", "/r", None, transport.joined("sid"))
    _publish(feed, "/r", 1)
    await transport.settle(feed)

    assert [1] == _numbers(transport.received["sid"])
    assert ["delivery failed"] == [
        r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR
    ]


# -- the bus ---------------------------------------------------------------------


class FlakyBus(LocalBus):
    """A local bus whose first ``failures`` publishes fail."""

    name = "flaky"

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures

    async def publish(self, event: ResourceEvent) -> None:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("bus down")
        await super().publish(event)


async def test_a_bus_failure_loses_events_but_not_the_feed(
    transport: RecordingTransport, caplog: pytest.LogCaptureFixture
) -> None:
    feed = ChangeFeed(FlakyBus(failures=2))
    await feed.start(transport)

    for n in range(4):
        _publish(feed, "/r", n)
    await transport.settle(feed)
    await feed.close()

    assert [2, 3] == _numbers(transport.events())
    assert [
        "event bus flaky cannot publish; events are lost until it recovers",
        "event bus flaky is publishing again",
    ] == [r.getMessage() for r in caplog.records if r.name == "roomcast.realtime"]


async def test_the_local_bus_is_healthy_and_named() -> None:
    bus = LocalBus()

    assert bus.healthy()
    assert "in-process" == bus.name
