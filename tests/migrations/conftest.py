"""Fixtures of the migration tests: a fresh database of each backend, a
versions folder of the test's own, and ``roomcast migrate`` as a user runs it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import pytest_asyncio

import migrations
import orm
from server.chat.migrations import FOLDER
from tests.support import ROOT, fresh_url

BACKENDS = ["sqlite", "mongodb", "cassandra"]

_CREATED: list[str] = []


@pytest.fixture(scope="session", autouse=True)
def _drop_databases() -> Iterator[None]:
    """Drops the MongoDB databases and Cassandra keyspaces the tests made."""
    yield
    mongo = [u for u in _CREATED if u.startswith("mongodb://")]
    cassandra = [u for u in _CREATED if u.startswith("cassandra://")]
    if mongo:
        _drop_mongo(mongo)
    if cassandra:
        _drop_cassandra(cassandra)


def _drop_mongo(urls: list[str]) -> None:
    import pymongo

    parts = urlsplit(urls[0])
    with pymongo.MongoClient(parts.hostname, parts.port) as client:
        for url in urls:
            client.drop_database(urlsplit(url).path.strip("/"))


def _drop_cassandra(urls: list[str]) -> None:
    from cassandra.cluster import Cluster

    parts = urlsplit(urls[0])
    cluster = Cluster([parts.hostname], port=parts.port, connect_timeout=10)
    try:
        session = cluster.connect()
        for url in urls:
            keyspace = urlsplit(url).path.strip("/")
            session.execute(f'DROP KEYSPACE IF EXISTS "{keyspace}"', timeout=60)
    finally:
        cluster.shutdown()


@pytest.fixture(params=BACKENDS)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database of the backend nobody else uses (created by the test)."""
    made = fresh_url(request.param, tmp_path)
    _CREATED.append(made)
    return made


# The engine's tests start from the example application's first schema
# (channels and messages) and number their own migrations after it.
V1 = "tests.migrations.chat_v1:ENTITIES"


@pytest.fixture
def versions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A versions folder holding the example application's first migration."""
    folder = tmp_path / "versions"
    folder.mkdir()
    shutil.copy(FOLDER / "0001_initial.py", folder)
    monkeypatch.setenv("ROOMCAST_ENTITIES", V1)
    return folder


@pytest_asyncio.fixture
async def database(url: str) -> AsyncIterator[orm.Database]:
    db = orm.Database.from_url(url)
    await db.connect()
    yield db
    await db.close()


@pytest.fixture
def migrator(database: orm.Database, versions: Path) -> migrations.Migrator:
    from tests.migrations.chat_v1 import ENTITIES

    return migrations.Migrator(database, versions, entities=ENTITIES)


def write_migration(folder: Path, file_name: str, body: str) -> Path:
    """A migration file: ``body`` is the text after its imports."""
    migration_id = file_name[:4]
    path = folder / file_name
    path.write_text(
        "from __future__ import annotations\n\n"
        "import asyncio\nimport os\n\nimport migrations\n\n"
        f'id = "{migration_id}"\n'
        f'description = "{file_name[5:-3].replace("_", " ")}"\n\n' + body
    )
    return path


def roomcast(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """``python -m server.cli ARGS`` in ``cwd``, with no ROOMCAST_* settings
    but those of ``env``."""
    return subprocess.run(
        [sys.executable, "-m", "server.cli", *args],
        cwd=cwd,
        env=command_env(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def command_env(env: dict[str, str] | None = None) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ROOMCAST_")}
    # The entities the test chose (see the versions fixture) are kept.
    chosen = {k: v for k, v in os.environ.items() if k == "ROOMCAST_ENTITIES"}
    return {**clean, **chosen, "PYTHONPATH": str(ROOT), **(env or {})}
