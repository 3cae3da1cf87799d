"""Rate limits of one connection: token buckets for events and joins."""

from __future__ import annotations

import attrs

__all__ = ["Bucket", "Budget"]


@attrs.define
class Bucket:
    """A token bucket: at most ``capacity`` tokens, ``rate`` more per second."""

    capacity: float
    rate: float
    tokens: float = attrs.field()
    stamp: float = 0.0

    @tokens.default
    def _full(self) -> float:
        return self.capacity

    def take(self, now: float) -> bool:
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


@attrs.define
class Budget:
    """What one connection may still send; kept while it is open, so that
    leaving and re-entering the namespace gives no fresh allowance."""

    events: Bucket
    strikes: Bucket
    joins: Bucket
