"""Database URLs: one string picks the backend and where it lives."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import parse_qsl, unquote, urlsplit

import attrs

from .exceptions import ConfigurationError

__all__ = ["DatabaseURL", "parse_url"]

SCHEMES = ("sqlite", "mongodb", "cassandra", "scylla")

DEFAULT_PORTS = {"mongodb": 27017, "cassandra": 9042, "scylla": 9042}


@attrs.frozen
class DatabaseURL:
    """A parsed URL; ``name`` is the file path (SQLite), database or keyspace."""

    scheme: str
    hosts: tuple[str, ...]
    port: int | None
    name: str
    options: Mapping[str, str]
    raw: str

    @property
    def backend(self) -> str:
        return "cassandra" if self.scheme == "scylla" else self.scheme

    def redacted(self) -> str:
        """The URL without its password, fit for a log line."""
        parts = urlsplit(self.raw)
        if parts.password is None:
            return self.raw
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
        return parts._replace(netloc=netloc).geturl()


def parse_url(url: str) -> DatabaseURL:
    """Parse a database URL; ``ConfigurationError`` says what is wrong."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme not in SCHEMES:
        choices = ", ".join(f"{s}://" for s in SCHEMES)
        raise ConfigurationError(f"database URL must start with one of {choices}")
    if scheme == "sqlite":
        return _sqlite(url, rest)
    return _networked(url, scheme)


def _sqlite(url: str, rest: str) -> DatabaseURL:
    # sqlite:///rel/path.db is relative, sqlite:////abs/path.db absolute.
    if not rest.startswith("/") or len(rest) < 2:
        raise ConfigurationError(
            "SQLite URL is sqlite:///relative/path.db or sqlite:////absolute/path.db"
        )
    path, _, query = rest[1:].partition("?")
    return DatabaseURL("sqlite", (), None, unquote(path), dict(parse_qsl(query)), url)


def _networked(url: str, scheme: str) -> DatabaseURL:
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise ConfigurationError(f"{scheme} URL is malformed: {exc}") from None
    netloc = parts.netloc.rpartition("@")[2]
    hosts, port = _hosts_and_port(netloc, scheme)
    name = parts.path.lstrip("/")
    if not name or "/" in name:
        raise ConfigurationError(
            f"{scheme} URL must end with the database or keyspace name, e.g. "
            f"{scheme}://127.0.0.1/roomcast"
        )
    return DatabaseURL(scheme, hosts, port, name, dict(parse_qsl(parts.query)), url)


def _hosts_and_port(netloc: str, scheme: str) -> tuple[tuple[str, ...], int]:
    """``h1,h2:port`` or ``[::1]:port``: the hosts, then one port for all."""
    hostlist, port_text = netloc, ""
    tail = netloc.rsplit("]", 1)[-1]
    if ":" in tail:
        hostlist, _, port_text = netloc.rpartition(":")
    if not port_text:
        port = DEFAULT_PORTS[scheme]
    elif not port_text.isdigit():
        raise ConfigurationError(f"port {port_text!r} is not a number")
    elif 0 < int(port_text) <= 65535:
        port = int(port_text)
    else:
        raise ConfigurationError(f"port {port_text} is not from 1 to 65535")

    hosts = tuple(hostlist.split(","))
    if not any(hosts):
        raise ConfigurationError(f"{scheme} URL names no host")
    for host in hosts:
        # IPv6 addresses keep their brackets; other colons are misplaced ports.
        bracketed = host.startswith("[") and host.endswith("]") and len(host) > 2
        inner = host[1:-1] if bracketed else host
        if not inner or any(c in inner for c in "[]/ ") or (":" in inner) != bracketed:
            raise ConfigurationError(f"{scheme} URL has an invalid host {host!r}")
    return hosts, port
