"""The versions folder: file names, ids, checksums, and what is refused."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

import migrations
from migrations.versions import next_id
from server.chat.migrations import FOLDER
from tests.migrations.conftest import write_migration

STEPS = "async def up(ctx):\n    pass\n\n\nasync def down(ctx):\n    pass\n"


def test_migrations_load_in_id_order_with_their_checksums(tmp_path: Path) -> None:
    second = write_migration(tmp_path, "0010_second.py", STEPS)
    first = write_migration(tmp_path, "0002_first.py", STEPS)
    (tmp_path / "__init__.py").write_text("")
    (tmp_path / "_helpers.py").write_text("")

    loaded = migrations.load_versions(tmp_path)

    assert [(m.id, m.name, m.description) for m in loaded] == [
        ("0002", "first", "first"),
        ("0010", "second", "second"),
    ]
    assert loaded[0].checksum == hashlib.sha256(first.read_bytes()).hexdigest()
    assert loaded[1].path == second
    assert next_id(loaded) == "0011"


def test_the_example_application_ships_its_migrations() -> None:
    initial, feed = migrations.load_versions(FOLDER)

    assert (initial.id, initial.name) == ("0001", "initial")
    assert (feed.id, feed.name) == ("0002", "change_feed")


@pytest.mark.parametrize(
    ("file_name", "text", "message"),
    [
        ("1_short.py", STEPS, "named NNNN_name.py"),
        ("0001_Upper.py", STEPS, "named NNNN_name.py"),
        ("0001_wrong.py", 'id = "0002"\n' + STEPS, "declares id = '0002'"),
        ("0001_no_down.py", 'id = "0001"\nasync def up(ctx): pass\n', "async def down"),
        ("0001_sync.py", 'id = "0001"\ndef up(ctx): pass\n', "async def up"),
        ("0001_broken.py", "id = (", "SyntaxError"),
    ],
)
def test_unusable_files_are_refused(
    tmp_path: Path, file_name: str, text: str, message: str
) -> None:
    (tmp_path / file_name).write_text(text)

    with pytest.raises(migrations.VersionsError, match=message):
        migrations.load_versions(tmp_path)


def test_two_files_may_not_share_an_id(tmp_path: Path) -> None:
    write_migration(tmp_path, "0001_one.py", STEPS)
    write_migration(tmp_path, "0001_other.py", STEPS)

    with pytest.raises(migrations.VersionsError, match="share the id 0001"):
        migrations.load_versions(tmp_path)


def test_a_missing_folder_is_reported(tmp_path: Path) -> None:
    with pytest.raises(migrations.VersionsError, match="does not exist"):
        migrations.load_versions(tmp_path / "nowhere")


def test_the_folder_comes_from_the_environment(tmp_path: Path) -> None:
    environ = {"ROOMCAST_MIGRATIONS": str(tmp_path)}

    assert migrations.versions_folder(FOLDER, environ) == tmp_path
    assert migrations.versions_folder(FOLDER, {}) == FOLDER
