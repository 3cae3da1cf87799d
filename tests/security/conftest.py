"""Servers for the attack suite; each case leaves its server healthy."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from tests.security.attack import assert_healthy, close_all
from tests.security.wire import RawWebSocket
from tests.support import ServerProcess

# Low limits, so that reaching each takes a few events, not thousands.
LIMITS = {
    "ROOMCAST_MAX_MESSAGE": "4096",
    "ROOMCAST_MAX_ROOMS_PER_SOCKET": "3",
    "ROOMCAST_MAX_JOINS_PER_MINUTE": "5",
    "ROOMCAST_MAX_SOCKETS_PER_USER": "3",
    "ROOMCAST_MAX_EVENTS_PER_SECOND": "10",
    "ROOMCAST_MAX_EVENT_BURST": "20",
    "ROOMCAST_MAX_QUEUED_BYTES": "262144",
    "ROOMCAST_MAX_QUEUED_EVENTS": "30",
}


def _started(
    factory: pytest.TempPathFactory, name: str, **env: str
) -> Iterator[ServerProcess]:
    server = ServerProcess(factory.mktemp(name), **env).start()
    yield server
    server.stop()
    assert server.problems() == [], server.log()


@pytest.fixture(scope="session")
def hostile_server(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ServerProcess]:
    """One SQLite server with the default limits, for the protocol attacks."""
    yield from _started(tmp_path_factory, "hostile")


@pytest.fixture(scope="session")
def limited_server(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ServerProcess]:
    """One SQLite server with low limits (``LIMITS``)."""
    yield from _started(tmp_path_factory, "limited", **LIMITS)


@pytest.fixture(autouse=True)
async def _close_leftovers() -> AsyncIterator[None]:
    yield
    await close_all()
    RawWebSocket.close_all()


@pytest.fixture
async def target(hostile_server: ServerProcess) -> AsyncIterator[ServerProcess]:
    yield hostile_server
    await assert_healthy(hostile_server)


@pytest.fixture
async def limited(limited_server: ServerProcess) -> AsyncIterator[ServerProcess]:
    yield limited_server
    await assert_healthy(limited_server)


@pytest.fixture
async def api(live_server: ServerProcess) -> AsyncIterator[ServerProcess]:
    """The shared server of every backend, for the attacks on stored data."""
    yield live_server
    await assert_healthy(live_server)
