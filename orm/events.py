"""Lifecycle events: what every successful write tells its listeners."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Literal

import attrs

__all__ = ["Action", "Change", "LifecycleEvent", "Listener"]

Action = Literal["created", "updated", "deleted"]


@attrs.frozen
class Change:
    """One field's value before and after an update."""

    old: Any
    new: Any


@attrs.frozen
class LifecycleEvent:
    """A committed write: ``entity`` as stored (for ``deleted``, as it was).

    ``changes`` lists the fields an update changed; it is empty for
    ``created`` and ``deleted``.
    """

    action: Action
    entity: Any
    changes: Mapping[str, Change] = attrs.field(factory=dict)

    @property
    def entity_type(self) -> type:
        return type(self.entity)


Listener = Callable[[LifecycleEvent], None]
