"""``roomcast migrate`` and ``roomcast serve`` as a user runs them, on every
backend: the flow SPEC describes, two racing ``up`` runs, and the server's
refusal to start on a schema that is behind."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.migrations.conftest import command_env, roomcast, write_migration
from tests.support import ServerProcess

V2 = "tests.migrations.chat_v2:ENTITIES"

SLOW = """
async def up(ctx):
    await asyncio.sleep(2)
    await ctx.create_index("messages", "author")


async def down(ctx):
    await ctx.drop_index("messages", "author")
"""


def migrate(
    *args: str, url: str, versions: Path, entities: str | None = None
) -> subprocess.CompletedProcess[str]:
    options = ["--database", url, "--migrations", str(versions)]
    if entities:
        options += ["--entities", entities]
    return roomcast("migrate", *args, *options, cwd=versions.parent)


def ok(result: subprocess.CompletedProcess[str]) -> list[str]:
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def test_the_spec_flow(url: str, versions: Path) -> None:
    fresh = ok(migrate("status", url=url, versions=versions))
    applied = ok(migrate("up", url=url, versions=versions))
    clean = ok(migrate("status", url=url, versions=versions))
    plan = ok(migrate("plan", url=url, versions=versions))
    second = ok(migrate("up", url=url, versions=versions))

    assert fresh[0].split() == ["0001", "initial", "pending"]
    assert fresh[1] == "1 pending: apply with `roomcast migrate up`"
    assert applied == ["applied 0001 initial"]
    assert clean[0].split()[:3] == ["0001", "initial", "applied"]
    assert not any("pending" in line for line in clean)
    assert plan == ["nothing to change"]
    assert second == [f"nothing to apply: {url} is up to date"]

    # A field is added to an entity: new writes the migration that adds it.
    planned = ok(migrate("plan", url=url, versions=versions, entities=V2))
    written = ok(
        migrate("new", "add_topic_to_channels", url=url, versions=versions, entities=V2)
    )
    migration = versions / "0002_add_topic_to_channels.py"
    pending = ok(migrate("status", url=url, versions=versions))
    topic = ok(migrate("up", url=url, versions=versions))
    after = ok(migrate("plan", url=url, versions=versions, entities=V2))

    assert planned == ["add column channels.topic (text?)"]
    assert written == [f"wrote {migration}", "  add column channels.topic (text?)"]
    assert 'await ctx.add_column("channels", "topic", "text?")' in (
        migration.read_text()
    )
    assert pending[1].split() == ["0002", "add_topic_to_channels", "pending"]
    assert topic == ["applied 0002 add_topic_to_channels"]
    assert after == ["nothing to change"]

    undone = ok(migrate("down", url=url, versions=versions))
    behind = ok(migrate("plan", url=url, versions=versions, entities=V2))

    assert undone == ["undid 0002 add_topic_to_channels"]
    assert behind == ["add column channels.topic (text?)"]


def test_two_racing_up_runs_both_succeed(url: str, versions: Path) -> None:
    write_migration(versions, "0002_index_authors.py", SLOW)
    command = [
        sys.executable,
        "-m",
        "server.cli",
        "migrate",
        "up",
        "--database",
        url,
        "--migrations",
        str(versions),
    ]
    runs = [
        subprocess.Popen(
            command,
            cwd=versions.parent,
            env=command_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [run.communicate(timeout=180) for run in runs]
    status = ok(migrate("status", url=url, versions=versions))

    for run, (_, stderr) in zip(runs, outputs, strict=True):
        assert run.returncode == 0, stderr
    applied = sorted(line for out, _ in outputs for line in out.splitlines())
    assert applied == [
        "applied 0001 initial",
        "applied 0002 index_authors",
        f"nothing to apply: {url} is up to date",
    ]
    assert any("waiting for the migration lock" in err for _, err in outputs)
    assert [line.split()[2] for line in status] == ["applied", "applied"]


def test_a_failing_migration_exits_1_and_says_why(url: str, versions: Path) -> None:
    write_migration(
        versions,
        "0002_broken.py",
        'async def up(ctx):\n    raise ValueError("no such thing")\n\n\n'
        "async def down(ctx):\n    pass\n",
    )

    result = migrate("up", url=url, versions=versions)
    status = ok(migrate("status", url=url, versions=versions))

    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.endswith(
        "roomcast migrate up: migration 0002 failed (up): ValueError: no such thing\n"
    )
    assert [line.split()[2] for line in status[:2]] == ["applied", "pending"]


def test_a_modified_applied_file_is_reported(url: str, versions: Path) -> None:
    ok(migrate("up", url=url, versions=versions))
    initial = versions / "0001_initial.py"
    initial.write_text(initial.read_text() + "# touched\n")

    status = ok(migrate("status", url=url, versions=versions))
    again = migrate("up", url=url, versions=versions)

    assert status[0].endswith("(file changed since it was applied: not run again)")
    assert ok(again) == [f"nothing to apply: {url} is up to date"]
    assert "0001 initial changed after it was applied (checksum differs)" in (
        again.stderr
    )


def test_serve_migrates_sqlite_at_start(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path)
    server.start()
    server.stop()

    status = roomcast(
        "migrate",
        "status",
        "--database",
        server.env["ROOMCAST_DATABASE_URL"],
        cwd=tmp_path,
    )

    assert "up 0001 initial: channels and their messages" in server.log()
    assert ok(status)[0].split()[2] == "applied"
    assert server.problems() == []


@pytest.mark.parametrize("url", ["mongodb", "cassandra"], indirect=True)
def test_serve_refuses_a_shared_database_behind_its_migrations(
    url: str, tmp_path: Path
) -> None:
    refused = roomcast(
        "serve", "--database", url, "--port", "0", cwd=tmp_path, timeout=60
    )
    server = ServerProcess(tmp_path, "--migrate", ROOMCAST_DATABASE_URL=url)
    server.start()
    server.stop()

    assert refused.returncode == 1
    assert (
        "cannot start: 2 migration(s) pending: 0001 initial, 0002 change_feed; "
        "apply them with "
        f"`roomcast migrate up --database {url}`, or start with --migrate"
    ) in refused.stderr
    assert "up 0001 initial" in server.log()
    assert server.problems() == []
