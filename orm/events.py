"""Lifecycle events: what every successful write tells its listeners."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, Protocol

import attrs

if TYPE_CHECKING:
    from .connector import Companion
    from .entity import EntityMeta

__all__ = ["Action", "Change", "LifecycleEvent", "Listener", "Recorder"]

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
    #: What a recorder (the change feed) wrote together with this write.
    records: list[Any] = attrs.field(factory=list, eq=False)

    @property
    def entity_type(self) -> type:
        return type(self.entity)


Listener = Callable[[LifecycleEvent], None]


class Recorder(Protocol):
    """Adds rows to writes, written with them (see ``Database.set_recorder``)."""

    def record(self, event: LifecycleEvent, meta: EntityMeta) -> Sequence[Companion]:
        """The rows to write with the write ``event`` describes, about to be
        made. It may run on a connector's worker thread."""

    def abandon(self, event: LifecycleEvent) -> None:
        """The write ``record`` was asked about failed: nothing was written."""
