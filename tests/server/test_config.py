from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest

from server import Settings, SettingsError, load_or_create_secret, load_settings


def test_defaults_without_configuration() -> None:
    settings = load_settings({}, {})

    assert settings == Settings()
    assert (settings.host, settings.port) == ("127.0.0.1", 3000)
    assert settings.database_url == "sqlite:///var/roomcast.db"
    assert settings.room_token_ttl == 3600
    assert settings.auth_timeout == 10
    assert settings.max_body == 1024 * 1024


def test_flags_beat_environment_beat_defaults() -> None:
    environ = {"ROOMCAST_PORT": "4000", "ROOMCAST_DATABASE_URL": "sqlite:///env.db"}

    settings = load_settings({"port": 5000, "database_url": None}, environ)

    assert settings.port == 5000
    assert settings.database_url == "sqlite:///env.db"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("ROOMCAST_PORT", "http"),
        ("ROOMCAST_PORT", "70000"),
        ("ROOMCAST_AUTH_TIMEOUT", "0"),
        ("ROOMCAST_MAX_BODY", "-5"),
        ("ROOMCAST_ROOM_TOKEN_TTL", "1.5"),
        ("ROOMCAST_SOCKET_PATH", "socket"),
    ],
)
def test_bad_environment_values_name_the_variable(variable: str, value: str) -> None:
    with pytest.raises(SettingsError, match=variable):
        load_settings({}, {variable: value})


def test_secret_is_created_once_with_mode_0600(tmp_path: Path) -> None:
    path = tmp_path / "var" / "secret"

    secret, created = load_or_create_secret(str(path))
    again, created_again = load_or_create_secret(str(path))

    assert (created, created_again) == (True, False)
    assert secret == again and len(secret) >= 32
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_racing_processes_agree_on_one_secret(tmp_path: Path) -> None:
    path = str(tmp_path / "secret")
    results: list[tuple[str, bool]] = []
    threads = [
        threading.Thread(target=lambda: results.append(load_or_create_secret(path)))
        for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len({secret for secret, _ in results}) == 1
    assert sum(created for _, created in results) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["secret"]


def test_empty_secret_file_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "secret"
    path.write_text("\n")

    with pytest.raises(SettingsError, match="empty"):
        load_or_create_secret(str(path))
