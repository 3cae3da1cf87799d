# Tests state the expected value first, as a literal where it is one.
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import orm
from orm import ConfigurationError, DatabaseURL, parse_url


def _shape(url: DatabaseURL) -> tuple[object, ...]:
    return (url.scheme, url.backend, url.hosts, url.port, url.name, dict(url.options))


@pytest.mark.parametrize(
    ("raw", "shape"),
    [
        (
            "sqlite:///rel/path.db",
            ("sqlite", "sqlite", (), None, "rel/path.db", {}),
        ),
        (
            "sqlite:////abs/path.db",
            ("sqlite", "sqlite", (), None, "/abs/path.db", {}),
        ),
        (
            "sqlite:///var/roomcast.db",
            ("sqlite", "sqlite", (), None, "var/roomcast.db", {}),
        ),
        (
            "sqlite:///x.db?timeout=5",
            ("sqlite", "sqlite", (), None, "x.db", {"timeout": "5"}),
        ),
        (
            "sqlite:///with%20space.db",
            ("sqlite", "sqlite", (), None, "with space.db", {}),
        ),
        (
            "mongodb://db.example:27018/chat",
            ("mongodb", "mongodb", ("db.example",), 27018, "chat", {}),
        ),
        (
            "mongodb://127.0.0.1/chat",
            ("mongodb", "mongodb", ("127.0.0.1",), 27017, "chat", {}),
        ),
        (
            "mongodb://user:pw@h1,h2:27017/chat?replicaSet=rs0",
            ("mongodb", "mongodb", ("h1", "h2"), 27017, "chat", {"replicaSet": "rs0"}),
        ),
        (
            "cassandra://h1,h2:9042/keyspace?replication_factor=1&local_dc=datacenter1",
            (
                "cassandra",
                "cassandra",
                ("h1", "h2"),
                9042,
                "keyspace",
                {"replication_factor": "1", "local_dc": "datacenter1"},
            ),
        ),
        (
            "cassandra://10.0.0.1/ks",
            ("cassandra", "cassandra", ("10.0.0.1",), 9042, "ks", {}),
        ),
        (
            "scylla://h1,h2,h3:19042/ks?local_dc=dc1",
            (
                "scylla",
                "cassandra",
                ("h1", "h2", "h3"),
                19042,
                "ks",
                {"local_dc": "dc1"},
            ),
        ),
        (
            "scylla://node/ks",
            ("scylla", "cassandra", ("node",), 9042, "ks", {}),
        ),
        (
            "mongodb://[::1]:27017/chat",
            ("mongodb", "mongodb", ("[::1]",), 27017, "chat", {}),
        ),
    ],
)
def test_every_scheme_is_parsed(raw: str, shape: tuple[object, ...]) -> None:
    url = parse_url(raw)

    assert shape == _shape(url)
    assert raw == url.raw


def test_an_ipv6_host_without_port_gets_the_default_port() -> None:
    url = parse_url("mongodb://[::1]/chat")

    assert (("[::1]",), 27017, "chat") == (url.hosts, url.port, url.name)


@pytest.mark.parametrize(
    ("raw", "redacted"),
    [
        (
            "mongodb://app:s3cret@db:27017/chat",
            "mongodb://app:***@db:27017/chat",
        ),
        (
            "cassandra://cass:hunter2@h1,h2:9042/ks?local_dc=dc1",
            "cassandra://cass:***@h1,h2:9042/ks?local_dc=dc1",
        ),
        (
            "scylla://u:p%40ss%3Aword@h/ks",
            "scylla://u:***@h/ks",
        ),
        ("mongodb://:only-password@db/chat", "mongodb://:***@db/chat"),
        ("mongodb://db/chat", "mongodb://db/chat"),
        ("mongodb://user@db/chat", "mongodb://user@db/chat"),
        ("sqlite:///var/roomcast.db", "sqlite:///var/roomcast.db"),
    ],
)
def test_redaction_hides_the_password_only(raw: str, redacted: str) -> None:
    assert redacted == parse_url(raw).redacted()


def test_a_password_that_also_appears_elsewhere_is_hidden_in_the_userinfo() -> None:
    url = parse_url("mongodb://db:db@db:27017/db")

    assert "mongodb://db:***@db:27017/db" == url.redacted()


@settings(max_examples=100, deadline=None)
@given(
    st.text(
        st.characters(
            categories=["L", "N"], include_characters="-._~!$&'()*+,;=", codec="ascii"
        ),
        min_size=1,
    )
)
def test_no_password_survives_redaction(password: str) -> None:
    url = parse_url(f"mongodb://app:{password}@dbhost:27017/chat")

    redacted = url.redacted()

    assert "mongodb://app:***@dbhost:27017/chat" == redacted


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("", "must start with one of"),
        ("localhost:27017/chat", "must start with one of"),
        ("postgres://h/db", "must start with one of"),
        ("SQLITE:///x.db", "must start with one of"),
        ("mongodb:/h/db", "must start with one of"),
        ("sqlite://x.db", "SQLite URL is"),
        ("sqlite:///", "SQLite URL is"),
        ("sqlite://", "SQLite URL is"),
        ("mongodb:///chat", "names no host"),
        ("cassandra://,,/ks", "names no host"),
        ("mongodb://h", "must end with the database or keyspace name"),
        ("mongodb://h/", "must end with the database or keyspace name"),
        ("cassandra://h:9042", "must end with the database or keyspace name"),
        ("scylla://h/ks/extra", "must end with the database or keyspace name"),
        ("mongodb://h:port/chat", "port 'port' is not a number"),
    ],
)
def test_bad_urls_are_configuration_errors(raw: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        parse_url(raw)


@pytest.mark.parametrize(
    "raw",
    ["mongodb://h:70000/chat", "cassandra://h:-1/ks", "scylla://h:0/ks"],
)
def test_a_port_out_of_range_is_a_configuration_error(raw: str) -> None:
    with pytest.raises(ConfigurationError):
        parse_url(raw)


@pytest.mark.parametrize(
    "raw",
    [
        "mongodb://:27017/chat",
        "mongodb://h:27017:1/chat",
        "cassandra://h1:9042,h2/ks",
        "mongodb://[::1/chat",
        "mongodb://h]/chat",
    ],
)
def test_a_malformed_host_list_is_a_configuration_error(raw: str) -> None:
    with pytest.raises(ConfigurationError):
        parse_url(raw)


def test_configuration_error_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        parse_url("nope://")


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(["sqlite://", "mongodb://", "cassandra://", "scylla://", ""]),
    st.text(),
)
def test_any_text_is_parsed_or_refused_with_a_configuration_error(
    prefix: str, rest: str
) -> None:
    try:
        url = parse_url(prefix + rest)
    except ConfigurationError as exc:
        assert str(exc)
        return

    assert prefix + rest == url.raw
    assert url.scheme in ("sqlite", "mongodb", "cassandra", "scylla")
    assert url.name


def test_database_from_url_uses_the_sqlite_connector(tmp_path: object) -> None:
    db = orm.Database.from_url(f"sqlite:///{tmp_path}/x.db")

    assert "sqlite" == db.backend
    assert isinstance(db.connector, orm.SQLiteConnector)
    assert db.url is not None and f"{tmp_path}/x.db".lstrip("/") == db.url.name.lstrip(
        "/"
    )
