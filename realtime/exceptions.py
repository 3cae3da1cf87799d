"""Errors raised by the realtime layer.

RealtimeError
 ├── PublishError (RuntimeError)      an event could not be handed to the bus
 ├── BusUnavailable (ConnectionError) the bus's transport is down
 └── InvalidEventId (ValueError)      a ``since`` that is no event id
"""

from __future__ import annotations

__all__ = ["BusUnavailable", "InvalidEventId", "PublishError", "RealtimeError"]


class RealtimeError(Exception):
    """Base of every error the realtime layer raises."""


class PublishError(RealtimeError, RuntimeError):
    """A decorated call's event could not be built or handed to the bus."""


class BusUnavailable(RealtimeError, ConnectionError):
    """The event bus cannot reach its transport (e.g. Redis is down)."""


class InvalidEventId(RealtimeError, ValueError):
    """A value given as an event id is not one."""
