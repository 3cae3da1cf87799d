"""Helpers shared by the tests: a real server process and its clients."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, NoReturn

from server import Tokens

ROOT = Path(__file__).resolve().parent.parent
SECRET = "test-secret-that-is-at-least-32-bytes-long"
TOKENS = Tokens(SECRET)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class ServerProcess:
    """``roomcast serve`` in a child process, on a free port of 127.0.0.1."""

    def __init__(self, workdir: Path, *args: str, **env: str) -> None:
        self.workdir = workdir
        self.args = list(args)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "ROOMCAST_HOST": "127.0.0.1",
            "ROOMCAST_PORT": str(self.port),
            "ROOMCAST_JWT_SECRET": SECRET,
            "ROOMCAST_DATABASE_URL": f"sqlite:///{workdir}/roomcast.db",
            "ROOMCAST_LOG_LEVEL": "INFO",
            "PYTHONUNBUFFERED": "1",
            **env,
        }
        self.log_path = workdir / f"server-{self.port}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 20) -> ServerProcess:
        workdir = self.workdir
        workdir.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "server", *self.args],
                cwd=workdir,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.log()}")
            try:
                with urllib.request.urlopen(self.url + "/api/health", timeout=1):
                    return self
            except (OSError, urllib.error.URLError):
                time.sleep(0.05)
        raise RuntimeError(f"server did not answer in {timeout}s:\n{self.log()}")

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    def kill(self) -> None:
        """Stop at once, as a crash would: no shutdown of any kind."""
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None

    def log(self) -> str:
        return (
            self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        )

    def problems(self) -> list[str]:
        """Error lines and tracebacks in the server's log."""
        return [
            line
            for line in self.log().splitlines()
            if " ERROR " in line or line.startswith("Traceback")
        ]

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        user: str | None = None,
        token: str | None = None,
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        """One HTTP call; returns the status and the decoded JSON answer."""
        all_headers = dict(headers or {})
        if user is not None:
            token = TOKENS.user_token(user)
        if token is not None:
            all_headers["Authorization"] = f"Bearer {token}"
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
            all_headers.setdefault("Content-Type", "application/json")
        req = urllib.request.Request(
            self.url + path, data=data, method=method, headers=all_headers
        )
        try:
            with urllib.request.urlopen(req, timeout=10) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"null")


class RealtimeClient:
    """python-socketio's asyncio client, recording every event it receives."""

    EVENTS = (
        "authenticated",
        "unauthorized",
        "realtime:join:success",
        "realtime:join:error",
        "realtime:leave:success",
        "realtime:leave:error",
        "realtime:resource",
    )

    def __init__(self, server: ServerProcess) -> None:
        import asyncio

        import socketio

        self.server = server
        self.sio = socketio.AsyncClient(reconnection=False)
        self.events: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self.disconnected = asyncio.Event()
        for name in self.EVENTS:
            self.sio.on(name, self._recorder(name))
        self.sio.on("disconnect", lambda *args: self.disconnected.set())

    def _recorder(self, name: str) -> Any:
        async def record(data: Any = None) -> None:
            await self.events.put((name, data))

        return record

    async def connect(self, auth: dict[str, Any] | None = None) -> RealtimeClient:
        await self.sio.connect(
            self.server.url,
            socketio_path="/socket",
            transports=["websocket"],
            auth=auth,
        )
        return self

    async def next(self, timeout: float = 5) -> tuple[str, Any]:
        import asyncio

        return await asyncio.wait_for(self.events.get(), timeout)

    async def expect(self, name: str, timeout: float = 5) -> Any:
        got, data = await self.next(timeout)
        assert got == name, (got, data)
        return data

    async def nothing(self, within: float = 0.3) -> None:
        import asyncio

        await asyncio.sleep(within)
        assert self.events.empty(), self.events.get_nowait()

    async def authenticate(self, user: str) -> RealtimeClient:
        await self.sio.emit("authenticate", {"token": TOKENS.user_token(user)})
        await self.expect("authenticated")
        return self

    async def join(self, room: str, token: str, **extra: Any) -> Any:
        await self.sio.emit("realtime:join", {"name": room, "token": token, **extra})
        return await self.expect("realtime:join:success")

    async def close(self) -> None:
        await self.sio.disconnect()


BACKENDS = ["sqlite", "mongodb", "cassandra"]


def fresh_url(backend: str, tmp_path: Path) -> str:
    """A URL of ``backend`` naming a database nobody else uses."""
    import uuid
    from urllib.parse import urlsplit, urlunsplit

    name = f"roomcast_test_{uuid.uuid4().hex[:12]}"
    if backend == "sqlite":
        return f"sqlite:///{tmp_path}/{name}.db"
    parts = urlsplit(service_url(backend))
    return urlunsplit(parts._replace(path=f"/{name}"))


def unavailable(message: str) -> NoReturn:
    """A service or tool a test needs is missing: the test fails in CI, where
    the project's scripts must have provided it, and is skipped elsewhere with
    ``message`` saying what to run."""
    import pytest

    if os.environ.get("CI"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message, allow_module_level=True)


def service_url(name: str) -> str:
    """A test service's URL from ``make services`` (``var/services.env``).

    Outside CI a missing service skips the test with what to run; in CI the
    services must be there, so its absence fails the test.
    """
    variable = f"ROOMCAST_TEST_{name.upper()}_URL"
    url = os.environ.get(variable) or _services_env().get(variable)
    if url:
        return url
    unavailable(f"{variable} is not set: run `make services` to start {name}")


def _services_env() -> dict[str, str]:
    path = ROOT / "var" / "services.env"
    if not path.exists():
        return {}
    values = {}
    for line in path.read_text().splitlines():
        name, sep, value = line.removeprefix("export ").partition("=")
        if sep and not line.startswith("#"):
            values[name.strip()] = value.strip().strip("'\"")
    return values


class RedisProcess:
    """A redis-server of the test's own, to stop and start at will."""

    def __init__(self, workdir: Path) -> None:
        import shutil

        binary = shutil.which("redis-server")
        if binary is None:
            unavailable("redis-server is missing: run `make services` to install it")
        self.binary = binary
        self.workdir = workdir
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> RedisProcess:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(
                    ("127.0.0.1", self.port), timeout=0.5
                ) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def command(self, *args: str) -> bytes:
        with socket.create_connection(("127.0.0.1", self.port), timeout=2) as s:
            parts = [f"*{len(args)}\r\n".encode()]
            for arg in args:
                parts.append(f"${len(arg.encode())}\r\n{arg}\r\n".encode())
            s.sendall(b"".join(parts))
            return s.recv(4096)

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None


class FerretProcess:
    """A MongoDB-wire server (FerretDB, as built by ``make services``) of the
    test's own, to stop and start at will."""

    def __init__(self, workdir: Path) -> None:

        self.binary = ROOT / "var" / "services" / "bin" / "ferretdb"
        if not self.binary.exists():
            unavailable("FerretDB is not built: run `make services`")
        self.workdir = workdir
        self.port = free_port()
        self.url = f"mongodb://127.0.0.1:{self.port}/roomcast_faults?timeout_ms=1000"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> FerretProcess:
        for sub in ("data", "state"):
            (self.workdir / sub).mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [
                str(self.binary),
                f"--listen-addr=127.0.0.1:{self.port}",
                "--handler=sqlite",
                f"--sqlite-url=file:{self.workdir}/data/",
                f"--state-dir={self.workdir}/state",
                "--debug-addr=-",
                "--telemetry=disable",
                "--log-level=error",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("FerretDB did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None


class TcpProxy:
    """A stand-in load balancer on 127.0.0.1: it forwards each connection to
    its current target, and can drop every connection it carries."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.port = 0
        self._server: Any = None
        self._pipes: set[Any] = set()

    async def start(self) -> TcpProxy:
        import asyncio

        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _accept(self, reader: Any, writer: Any) -> None:
        import asyncio

        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(
                "127.0.0.1", self.target
            )
        except OSError:
            writer.close()
            return
        pipes = [
            asyncio.ensure_future(self._pipe(reader, upstream_writer)),
            asyncio.ensure_future(self._pipe(upstream_reader, writer)),
        ]
        self._pipes.update(pipes)
        await asyncio.wait(pipes, return_when=asyncio.FIRST_COMPLETED)
        for pipe in pipes:
            pipe.cancel()
            self._pipes.discard(pipe)
        for side in (writer, upstream_writer):
            side.close()

    @staticmethod
    async def _pipe(reader: Any, writer: Any) -> None:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()

    def drop_all(self) -> None:
        for pipe in list(self._pipes):
            pipe.cancel()

    async def close(self) -> None:
        self.drop_all()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
