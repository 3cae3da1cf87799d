"""Schema migrations for every backend (the ``roomcast migrate`` verbs).

Until the migration engine lands, ``roomcast serve`` creates the tables and
indexes of the example application's entities itself, on every backend, with
``orm.Database.create_schema``, which leaves existing ones as they are.
"""

from __future__ import annotations

__all__: list[str] = []
