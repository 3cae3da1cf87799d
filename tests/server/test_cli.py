"""``roomcast`` as a user runs it: zero configuration, token, serve."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from server import Tokens
from tests.support import ServerProcess, free_port

ROOMCAST = [sys.executable, "-m", "server.cli"]


def _run(*args: str, cwd: Path, env: dict[str, str] | None = None) -> str:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ROOMCAST_")}
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, server.cli; sys.exit(server.cli.main())",
            *args,
        ],
        cwd=cwd,
        env={**clean, **(env or {})},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_token_uses_the_secret_serve_created(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path, ROOMCAST_JWT_SECRET="")
    # No secret and no database URL: the zero-configuration defaults apply.
    for name in ("ROOMCAST_JWT_SECRET", "ROOMCAST_DATABASE_URL"):
        server.env.pop(name)
    server.start()
    try:
        token = _run("token", "alice", cwd=tmp_path)
        status, reply = server.request("GET", "/api/channels", token=token)
    finally:
        server.stop()

    assert status == 200, reply
    assert (tmp_path / "var" / "roomcast.db").exists()
    assert oct((tmp_path / "var" / "secret").stat().st_mode & 0o777) == "0o600"
    assert "secret: var/secret (created)" in server.log()
    assert server.problems() == []


def test_token_first_creates_the_secret_serve_then_uses(tmp_path: Path) -> None:
    token = _run("token", "bob", "--ttl", "60", cwd=tmp_path)
    secret = (tmp_path / "var" / "secret").read_text().strip()

    user = Tokens(secret).user(token)

    assert user.id == "bob"
    assert user.expires_at is not None


def test_token_honours_the_configured_secret(tmp_path: Path) -> None:
    token = _run("token", "1", cwd=tmp_path, env={"ROOMCAST_JWT_SECRET": "supersecret"})

    assert Tokens("supersecret").user(token).id == "1"
    assert not (tmp_path / "var").exists()


def test_short_secret_is_accepted_with_a_warning(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path, ROOMCAST_JWT_SECRET="supersecret").start()
    server.stop()

    assert "WARNING roomcast.server: the JWT secret is shorter than 32 bytes" in (
        server.log()
    )


def test_serve_reports_a_bad_database_url(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "server",
            "--database",
            "postgres://x/y",
            "--port",
            str(free_port()),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )

    assert result.returncode == 1
    assert "database URL must start with one of" in result.stderr
