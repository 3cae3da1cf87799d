# Tests state the expected value first, as a literal where it is one.
from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from realtime import EventIds, ResourceEvent
from realtime.history import History


class Rooms:
    """Makes events with increasing ids, the way one feed would."""

    def __init__(self) -> None:
        self.ids = EventIds("00000000")
        self.before = self.ids.next()
        self.start = self.ids.next()

    def event(self, room: str) -> ResourceEvent:
        return ResourceEvent("created", room, "thing", f"{room}/x", {}, self.ids.next())

    def history(self, *, per_room: int = 100, max_rooms: int = 100) -> History:
        return History(self.start, per_room=per_room, max_rooms=max_rooms)


def test_since_gives_the_events_after_since_in_order() -> None:
    rooms = Rooms()
    history = rooms.history()
    events = [rooms.event("/a") for _ in range(5)]
    for event in events:
        history.record(event)

    assert (events[2:], True) == history.since(
        "/a", events[1].event_id, events[-1].event_id
    )


def test_since_stops_at_up_to() -> None:
    rooms = Rooms()
    history = rooms.history()
    events = [rooms.event("/a") for _ in range(5)]
    for event in events:
        history.record(event)

    assert (events[1:4], True) == history.since(
        "/a", events[0].event_id, events[3].event_id
    )


def test_since_the_last_event_gives_nothing_and_is_complete() -> None:
    rooms = Rooms()
    history = rooms.history()
    events = [rooms.event("/a") for _ in range(3)]
    for event in events:
        history.record(event)

    assert ([], True) == history.since("/a", events[-1].event_id, events[-1].event_id)


def test_since_keeps_to_its_room() -> None:
    rooms = Rooms()
    history = rooms.history()
    a1, b1, a2, b2 = (rooms.event(r) for r in ("/a", "/b", "/a", "/b"))
    for event in (a1, b1, a2, b2):
        history.record(event)

    assert ([a1, a2], True) == history.since("/a", rooms.start, b2.event_id)
    assert ([b2], True) == history.since("/b", b1.event_id, b2.event_id)


def test_since_the_start_is_complete() -> None:
    rooms = Rooms()
    history = rooms.history()
    event = rooms.event("/a")
    history.record(event)

    assert ([event], True) == history.since("/a", rooms.start, event.event_id)


def test_since_before_the_start_is_incomplete() -> None:
    rooms = Rooms()
    history = rooms.history()
    event = rooms.event("/a")
    history.record(event)

    assert ([event], False) == history.since("/a", rooms.before, event.event_id)


def test_a_room_without_events_has_nothing_to_replay() -> None:
    rooms = Rooms()
    history = rooms.history()
    history.record(rooms.event("/other"))

    assert ([], True) == history.since("/quiet", rooms.start, None)
    assert ([], False) == history.since("/quiet", rooms.before, None)


def test_nothing_is_replayed_without_up_to() -> None:
    rooms = Rooms()
    history = rooms.history()
    history.record(rooms.event("/a"))

    assert ([], True) == history.since("/a", rooms.start, None)


def test_last_id_is_the_newest_event_of_the_room() -> None:
    rooms = Rooms()
    history = rooms.history()
    a1, b1, a2 = (rooms.event(r) for r in ("/a", "/b", "/a"))
    for event in (a1, b1, a2):
        history.record(event)

    assert a2.event_id == history.last_id("/a")
    assert b1.event_id == history.last_id("/b")
    assert history.last_id("/c") is None


def test_a_full_room_forgets_its_oldest_events() -> None:
    rooms = Rooms()
    history = rooms.history(per_room=3)
    e = [rooms.event("/a") for _ in range(5)]
    for event in e:
        history.record(event)
    last = e[-1].event_id

    assert (e[2:], False) == history.since("/a", e[0].event_id, last)
    assert (e[2:], True) == history.since("/a", e[1].event_id, last)
    assert (e[3:], True) == history.since("/a", e[2].event_id, last)
    assert ([], False) == history.since("/a", rooms.start, None)


def test_a_full_room_is_incomplete_since_the_start() -> None:
    rooms = Rooms()
    history = rooms.history(per_room=2)
    e = [rooms.event("/a") for _ in range(3)]
    for event in e:
        history.record(event)

    assert (e[1:], False) == history.since("/a", rooms.start, e[-1].event_id)


def test_the_least_recently_used_room_is_dropped_beyond_max_rooms() -> None:
    rooms = Rooms()
    history = rooms.history(max_rooms=2)
    a1, b1, c1 = (rooms.event(r) for r in ("/a", "/b", "/c"))
    for event in (a1, b1, c1):
        history.record(event)

    assert history.last_id("/a") is None
    assert b1.event_id == history.last_id("/b")
    assert c1.event_id == history.last_id("/c")


def test_a_room_with_new_events_is_kept_over_older_ones() -> None:
    rooms = Rooms()
    history = rooms.history(max_rooms=2)
    a1, b1, a2, c1 = (rooms.event(r) for r in ("/a", "/b", "/a", "/c"))
    for event in (a1, b1, a2, c1):
        history.record(event)

    assert history.last_id("/b") is None
    assert ([a1, a2], True) == history.since("/a", rooms.start, a2.event_id)


def test_a_dropped_room_is_complete_only_after_its_last_event() -> None:
    rooms = Rooms()
    history = rooms.history(max_rooms=1)
    a1, a2, b1 = (rooms.event(r) for r in ("/a", "/a", "/b"))
    for event in (a1, a2, b1):
        history.record(event)

    assert ([], False) == history.since("/a", rooms.start, None)
    assert ([], False) == history.since("/a", a1.event_id, None)
    assert ([], True) == history.since("/a", a2.event_id, None)


def test_a_dropped_room_that_comes_back_is_complete_after_it_was_dropped() -> None:
    rooms = Rooms()
    history = rooms.history(max_rooms=1)
    a1, b1, a2 = (rooms.event(r) for r in ("/a", "/b", "/a"))
    for event in (a1, b1, a2):
        history.record(event)

    assert ([a2], False) == history.since("/a", rooms.start, a2.event_id)
    assert ([a2], True) == history.since("/a", b1.event_id, a2.event_id)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.sampled_from(["/a", "/b", "/c", "/d"]), max_size=40),
    st.integers(1, 5),
    st.integers(1, 3),
    st.data(),
)
def test_a_complete_answer_is_never_missing_an_event(
    sequence: list[str], per_room: int, max_rooms: int, data: st.DataObject
) -> None:
    rooms = Rooms()
    history = rooms.history(per_room=per_room, max_rooms=max_rooms)
    recorded = [rooms.event(room) for room in sequence]
    for event in recorded:
        history.record(event)
    room = data.draw(st.sampled_from(["/a", "/b", "/c", "/d"]))
    since = data.draw(
        st.sampled_from([rooms.before, rooms.start, *(e.event_id for e in recorded)])
    )
    up_to = history.last_id(room)

    replay, complete = history.since(room, since, up_to)

    happened = [e for e in recorded if e.room == room and e.event_id > since]
    assert replay == [e for e in happened if e in replay]
    assert all(e.event_id <= up_to for e in replay if up_to is not None)
    if complete:
        assert happened == replay
