from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import ServerProcess


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server process shared by the tests that only add data of their own."""
    server = ServerProcess(tmp_path_factory.mktemp("live")).start()
    yield server
    server.stop()
    assert server.problems() == [], server.log()


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[type[ServerProcess]]:
    """Start servers with settings of the test's own; all stopped afterwards."""
    started: list[ServerProcess] = []

    class Started(ServerProcess):
        def __init__(self, **env: str) -> None:
            super().__init__(tmp_path / f"node{len(started)}", **env)
            started.append(self)

    yield Started
    for server in started:
        server.stop()
    for server in started:
        assert server.problems() == [], server.log()
