from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

import orm
from realtime import ChangeFeed, LocalBus
from tests.realtime.doubles import Channel, Message, RecordingTransport


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[orm.Database]:
    database = orm.Database.from_url(f"sqlite:///{tmp_path}/x.db")
    await database.connect()
    await database.create_schema([Channel, Message])
    yield database
    await database.close()


@pytest.fixture
def transport() -> RecordingTransport:
    return RecordingTransport()


@pytest.fixture
async def feed(
    db: orm.Database, transport: RecordingTransport
) -> AsyncIterator[ChangeFeed]:
    change_feed = ChangeFeed(LocalBus())
    change_feed.attach(db)
    await change_feed.start(transport)
    yield change_feed
    await change_feed.close()
