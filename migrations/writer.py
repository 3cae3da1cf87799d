"""``roomcast migrate new``: the next migration file, prefilled from a plan."""

from __future__ import annotations

import re
import textwrap
from collections.abc import Sequence
from pathlib import Path

from .exceptions import VersionsError
from .plan import Plan
from .versions import NAME, Migration, next_id

__all__ = ["render", "slug", "write"]

_TEMPLATE = '''\
"""{title}"""

from __future__ import annotations

import migrations

id = "{id}"
description = "{description}"


async def up(ctx: migrations.Context) -> None:
{up}


async def down(ctx: migrations.Context) -> None:
{down}
'''


def slug(name: str) -> str:
    """``name`` as a file name part: ``"Add topic"`` becomes ``add_topic``."""
    text = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")
    if not NAME.fullmatch(text):
        raise VersionsError(
            f"migration name {name!r}: use letters, digits and _, starting with "
            "a letter"
        )
    return text


def render(migration_id: str, name: str, plan: Plan) -> str:
    """The text of a migration that makes the changes of ``plan``."""
    description = name.replace("_", " ")
    up = [c.forward() for c in plan.changes]
    for blocker in plan.blockers:
        up.append("# " + blocker.describe().replace("\n", "\n# "))
    down = [c.backward() for c in reversed(plan.changes)]
    return _TEMPLATE.format(
        title=description[:1].upper() + description[1:] + ".",
        id=migration_id,
        description=description,
        up=_body(up),
        down=_body(down),
    )


def write(folder: Path, name: str, plan: Plan, existing: Sequence[Migration]) -> Path:
    """Write the next migration into ``folder``; returns its path."""
    part = slug(name)
    migration_id = next_id(existing)
    path = folder / f"{migration_id}_{part}.py"
    folder.mkdir(parents=True, exist_ok=True)
    with path.open("x", encoding="utf-8") as out:
        out.write(render(migration_id, part, plan))
    return path


def _body(statements: list[str]) -> str:
    if not statements:
        return "    pass"
    if all(s.startswith("#") for s in statements):
        statements = [*statements, "pass"]
    return textwrap.indent("\n".join(statements), "    ")
