"""Databases of every backend, for the suites that must agree across them."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

import orm
from tests.support import BACKENDS, fresh_url


@pytest_asyncio.fixture(params=BACKENDS, scope="module", loop_scope="module")
async def backend_db(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[orm.Database]:
    """One database per backend for a whole module; tests keep to partitions
    of their own (a fresh uuid4 partition key each)."""
    url = fresh_url(request.param, tmp_path_factory.mktemp(request.param))
    db = orm.Database.from_url(url)
    await db.connect()
    yield db
    await db.close()
