# Tests state the expected value first, as a literal where it is one.
from __future__ import annotations

import itertools
import json
import types
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import realtime.events
from realtime import EventIds, InvalidEventId, ResourceEvent

HEX = "0123456789abcdef"


def _well_formed(value: str) -> bool:
    parts = value.split("-")
    return [12, 6, 8] == [len(p) for p in parts] and all(
        c in HEX for part in parts for c in part
    )


def _clock(values: list[int]) -> types.SimpleNamespace:
    """A stand-in for the time module whose time_ns gives ``values`` in turn."""
    readings: Iterator[int] = iter(values)
    return types.SimpleNamespace(time_ns=lambda: next(readings))


# -- resource events ------------------------------------------------------------


def test_payload_has_the_fields_clients_receive() -> None:
    event = ResourceEvent(
        "created", "/channels", "channel", "/channels/1", {"id": "1"}, "e1"
    )

    assert {
        "action": "created",
        "room": "/channels",
        "type": "channel",
        "path": "/channels/1",
        "resource": {"id": "1"},
        "event_id": "e1",
    } == event.payload()


def test_events_round_trip_through_json() -> None:
    event = ResourceEvent(
        "updated", "/r/é", "message", "/r/é/m/1", {"text": "😀", "n": [1, None]}, "x"
    )

    text = event.to_json()

    assert event == ResourceEvent.from_json(text)
    assert event == ResourceEvent.from_json(text.encode())
    assert event.payload() == json.loads(text)


# -- event ids ----------------------------------------------------------------


def test_ids_from_one_generator_increase_strictly() -> None:
    ids = EventIds()

    made = [ids.next() for _ in range(20_000)]

    assert all(a < b for a, b in itertools.pairwise(made))


def test_ids_are_well_formed_and_carry_the_node() -> None:
    ids = EventIds("0a1b2c3d")

    made = [ids.next() for _ in range(100)]

    assert all(_well_formed(i) for i in made)
    assert {"0a1b2c3d"} == {i.rsplit("-", 1)[1] for i in made}
    assert all(i == EventIds.check(i) for i in made)


def test_generators_get_different_random_nodes() -> None:
    nodes = {EventIds().node for _ in range(50)}

    assert 50 == len(nodes)
    assert all(len(n) == 8 and set(n) <= set(HEX) for n in nodes)


def test_ids_hold_the_time_in_milliseconds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(realtime.events, "time", _clock([1_700_000_000_123_456_789]))

    made = EventIds("00000000").next()

    assert f"{1_700_000_000_123:012x}-000000-00000000" == made


def test_ids_within_one_millisecond_count_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(realtime.events, "time", _clock([5_000_000] * 3))
    ids = EventIds("00000000")

    made = [ids.next() for _ in range(3)]

    assert [
        "000000000005-000000-00000000",
        "000000000005-000001-00000000",
        "000000000005-000002-00000000",
    ] == made


def test_ids_keep_increasing_when_the_clock_goes_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    readings = [9_000_000, 3_000_000, 1_000_000, 9_000_000, 10_000_000]
    monkeypatch.setattr(realtime.events, "time", _clock(readings))
    ids = EventIds("00000000")

    made = [ids.next() for _ in readings]

    assert [
        "000000000009-000000-00000000",
        "000000000009-000001-00000000",
        "000000000009-000002-00000000",
        "000000000009-000003-00000000",
        "00000000000a-000000-00000000",
    ] == made


def test_ids_made_with_a_named_node_pass_the_check() -> None:
    made = EventIds("web-1").next()

    assert made == EventIds.check(made)


@settings(deadline=None)
@given(st.from_regex(r"[0-9a-f]{12}-[0-9a-f]{6}-[0-9a-f]{8}", fullmatch=True))
def test_check_accepts_every_well_formed_id(value: str) -> None:
    assert value == EventIds.check(value)


@settings(max_examples=300, deadline=None)
@given(st.text(st.sampled_from(HEX + "-ABCDEFxyz \n0"), max_size=30) | st.text())
def test_check_refuses_every_text_that_is_no_id(value: str) -> None:
    if _well_formed(value):
        assert value == EventIds.check(value)
    else:
        with pytest.raises(InvalidEventId, match="since must be an event_id"):
            EventIds.check(value)


@settings(deadline=None)
@given(
    st.from_regex(r"[0-9a-f]{12}-[0-9a-f]{6}-[0-9a-f]{8}", fullmatch=True),
    st.sampled_from(["\n", " ", "-", "0", "x"]),
    st.booleans(),
)
def test_check_refuses_an_id_with_anything_added(
    value: str, extra: str, in_front: bool
) -> None:
    with pytest.raises(InvalidEventId):
        EventIds.check(extra + value if in_front else value + extra)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "00000000000A-000000-00000000",
        "00000000000a-000000-0000000",
        "00000000000a_000000_00000000",
        "00000000000a-000000-00000000-00",
        "0000000000a-0000000-00000000",
        "00000000000a-000000-00000000\n",
    ],
)
def test_check_refuses_near_misses(value: str) -> None:
    with pytest.raises(InvalidEventId):
        EventIds.check(value)


@pytest.mark.parametrize(
    "value",
    [None, 5, 1.5, b"00000000000a-000000-00000000", ["00000000000a-000000-00000000"]],
)
def test_check_refuses_what_is_no_string(value: Any) -> None:
    with pytest.raises(InvalidEventId):
        EventIds.check(value)


def test_invalid_event_id_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        EventIds.check("nope")
