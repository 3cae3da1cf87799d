from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import BACKENDS, ServerProcess, fresh_url


@pytest.fixture(scope="session", params=BACKENDS)
def live_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """A server process per backend, shared by the tests that only add data
    of their own: the REST and realtime tests run once on each backend."""
    workdir = tmp_path_factory.mktemp(f"live-{request.param}")
    url = fresh_url(request.param, workdir)
    server = ServerProcess(workdir, "--migrate", ROOMCAST_DATABASE_URL=url).start()
    yield server
    server.stop()
    assert server.problems() == [], server.log()


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[type[ServerProcess]]:
    """Start servers with settings of the test's own; all stopped afterwards."""
    started: list[ServerProcess] = []

    class Started(ServerProcess):
        def __init__(self, *args: str, **env: str) -> None:
            super().__init__(tmp_path / f"node{len(started)}", *args, **env)
            started.append(self)

    yield Started
    for server in started:
        server.stop()
    for server in started:
        assert server.problems() == [], server.log()


@pytest.fixture(autouse=True)
def no_stray_errors(request: pytest.FixtureRequest) -> Iterator[None]:
    """A test fails if the code under test logs an error it did not expect;
    a test that provokes one on purpose is marked ``expect_error_logs``."""
    import logging

    seen: list[logging.LogRecord] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record)

    handler = Collect(level=logging.ERROR)
    root = logging.getLogger("roomcast")
    root.addHandler(handler)
    try:
        yield
    finally:
        root.removeHandler(handler)
    if request.node.get_closest_marker("expect_error_logs") is None:
        assert [r.getMessage() for r in seen] == []
