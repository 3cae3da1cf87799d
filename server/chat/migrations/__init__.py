"""The example application's migrations: one file per schema version.

``roomcast migrate`` reads them from here unless ``ROOMCAST_MIGRATIONS``
names another folder; ``roomcast migrate new NAME`` writes the next one.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["FOLDER"]

FOLDER = Path(__file__).resolve().parent
