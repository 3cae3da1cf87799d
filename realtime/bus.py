"""The internal event bus that carries resource events to every node.

A bus publishes an event once and hands it to the receiver of every node,
the publishing node included, in the order it was published. The in-process
``LocalBus`` serves one node; a Redis bus fits the same protocol for several.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from .events import ResourceEvent

__all__ = ["EventBus", "LocalBus", "Receiver", "Resumed"]

Receiver = Callable[[ResourceEvent], None]
Resumed = Callable[[], None]


class EventBus(Protocol):
    """What the change feed needs from a bus."""

    #: Shown in the startup log and the health check, e.g. ``"in-process"``.
    name: str

    async def start(self, receive: Receiver, resumed: Resumed | None = None) -> None:
        """Begin handing every published event to ``receive``; ``resumed`` is
        called when delivery from other nodes comes back after an outage."""

    async def publish(self, event: ResourceEvent) -> None:
        """Send ``event`` to every node; raises ``BusUnavailable`` when it
        cannot."""

    async def close(self) -> None:
        """Stop receiving and release the transport."""

    def healthy(self) -> bool:
        """Whether events currently reach every node."""


class LocalBus:
    """The bus of a single node: published events go straight to its receiver."""

    name = "in-process"

    def __init__(self) -> None:
        self._receive: Receiver | None = None

    async def start(self, receive: Receiver, resumed: Resumed | None = None) -> None:
        self._receive = receive

    async def publish(self, event: ResourceEvent) -> None:
        if self._receive is not None:
            self._receive(event)

    async def close(self) -> None:
        self._receive = None

    def healthy(self) -> bool:
        return True
