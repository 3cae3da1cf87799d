"""Resource events, the one message shape every room member receives."""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
import time
from typing import Any, Literal

import attrs

from .exceptions import InvalidEventId

__all__ = ["EventIds", "ResourceAction", "ResourceEvent"]

ResourceAction = Literal["created", "updated", "deleted"]

_EVENT_ID = re.compile(r"[0-9a-f]{12}-[0-9a-f]{6}-[0-9a-f]{8}")


@attrs.frozen
class ResourceEvent:
    """A change to one resource, addressed to one room."""

    action: ResourceAction
    room: str
    type: str
    path: str
    resource: dict[str, Any]
    event_id: str

    def payload(self) -> dict[str, Any]:
        """The ``realtime:resource`` message as clients receive it."""
        return {
            "action": self.action,
            "room": self.room,
            "type": self.type,
            "path": self.path,
            "resource": self.resource,
            "event_id": self.event_id,
        }

    def to_json(self) -> str:
        return json.dumps(self.payload(), separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str | bytes) -> ResourceEvent:
        data = json.loads(text)
        return cls(**data)


class EventIds:
    """Makes event ids: ``<ms:12 hex>-<sequence:6 hex>-<node:8 hex>``.

    Ids from one node increase strictly; text order is time order, so ids
    from different nodes interleave by the time they were made.
    """

    def __init__(self, node: str | None = None) -> None:
        # Ids must keep their shape whatever the node is called.
        if node is None:
            self.node = os.urandom(4).hex()
        elif re.fullmatch(r"[0-9a-f]{8}", node):
            self.node = node
        else:
            self.node = hashlib.sha256(node.encode()).hexdigest()[:8]
        self._last_ms = 0
        self._sequence = 0
        # Writes number their events on a connector's thread, too.
        self._lock = threading.Lock()

    def next(self) -> str:
        with self._lock:
            return self._next()

    def _next(self) -> str:
        now = time.time_ns() // 1_000_000
        if now <= self._last_ms:
            self._sequence += 1
            if self._sequence > 0xFFFFFF:
                self._last_ms += 1
                self._sequence = 0
        else:
            self._last_ms, self._sequence = now, 0
        return f"{self._last_ms:012x}-{self._sequence:06x}-{self.node}"

    @staticmethod
    def check(value: Any) -> str:
        """``value`` if it is an event id; ``InvalidEventId`` otherwise."""
        if not isinstance(value, str) or not _EVENT_ID.fullmatch(value):
            raise InvalidEventId("since must be an event_id received earlier")
        return value
