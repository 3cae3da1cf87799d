"""Recent events per room, so a client that rejoins with ``since`` catches up.

Each node keeps what it received from the bus, bounded per room and in the
number of rooms. A room's history knows from which event on it is complete;
a ``since`` older than that cannot be fully recovered.
"""

from __future__ import annotations

from collections import OrderedDict, deque

from .events import ResourceEvent

__all__ = ["History"]


class _RoomHistory:
    def __init__(self, complete_after: str, size: int) -> None:
        self.events: deque[ResourceEvent] = deque(maxlen=size)
        self.complete_after = complete_after

    def append(self, event: ResourceEvent) -> None:
        if len(self.events) == self.events.maxlen:
            self.complete_after = self.events[0].event_id
        self.events.append(event)


class History:
    """Bounded per-room event history; ids compare as text (see ``EventIds``)."""

    def __init__(self, start_id: str, *, per_room: int, max_rooms: int) -> None:
        self._rooms: OrderedDict[str, _RoomHistory] = OrderedDict()
        self._per_room = per_room
        self._max_rooms = max_rooms
        # Events after this id reached us for rooms we no longer track fully.
        self._complete_after = start_id

    def record(self, event: ResourceEvent) -> None:
        room = self._rooms.get(event.room)
        if room is None:
            room = self._rooms[event.room] = _RoomHistory(
                self._complete_after, self._per_room
            )
            if len(self._rooms) > self._max_rooms:
                _, dropped = self._rooms.popitem(last=False)
                if dropped.events:
                    self._complete_after = max(
                        self._complete_after, dropped.events[-1].event_id
                    )
        else:
            self._rooms.move_to_end(event.room)
        room.append(event)

    def contains(self, room: str, event_id: str) -> bool:
        history = self._rooms.get(room)
        return history is not None and any(
            e.event_id == event_id for e in reversed(history.events)
        )

    def last_id(self, room: str) -> str | None:
        history = self._rooms.get(room)
        return history.events[-1].event_id if history and history.events else None

    def since(
        self, room: str, since: str, up_to: str | None
    ) -> tuple[list[ResourceEvent], bool]:
        """Events of ``room`` after ``since`` up to ``up_to`` (inclusive), and
        whether they are all that happened after ``since``."""
        history = self._rooms.get(room)
        complete_after = history.complete_after if history else self._complete_after
        if history is None or up_to is None:
            return [], since >= complete_after
        events = [e for e in history.events if since < e.event_id <= up_to]
        return events, since >= complete_after
