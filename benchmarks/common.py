"""What every benchmark shares: sizes, the services, and the results format.

A run collects rows of figures, prints them as a table, and writes one JSON
document to ``var/bench/<name>-<timestamp>.json``::

    {
      "benchmark": "fanout", "mode": "short", "format": 1,
      "started_at": "...Z", "duration_s": 41.2,
      "machine": {"cpu_count": 2, "cpu_model": "...", "load_average": [...]},
      "versions": {"python": "3.11.2", "roomcast": "0.1.0", ...},
      "parameters": {...},
      "results": [{...one row per measured case...}],
      "skipped": [{"what": "...", "why": "..."}],
      "notes": ["what each contender does, and how to read the figures"]
    }
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "var" / "bench"
FORMAT = 1

# The user tokens and room tokens of the benchmark servers are signed with it.
SECRET = "benchmark-secret-that-is-at-least-32-bytes"

MODES = ("tiny", "short", "full")

_DISTRIBUTIONS = (
    "roomcast",
    "attrs",
    "python-socketio",
    "python-engineio",
    "tornado",
    "PyJWT",
    "pymongo",
    "cassandra-driver",
    "scylla-driver",
    "redis",
    "mongoengine",
    "websockets",
)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine() -> dict[str, Any]:
    return {
        "cpu_count": os.cpu_count(),
        "cpu_model": cpu_model(),
        "platform": platform.platform(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in _DISTRIBUTIONS:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found


def service_url(name: str) -> str | None:
    """A test service's URL: ``ROOMCAST_TEST_<NAME>_URL`` from the
    environment, else from ``var/services.env`` (written by ``make services``)."""
    variable = f"ROOMCAST_TEST_{name.upper()}_URL"
    if os.environ.get(variable):
        return os.environ[variable]
    path = ROOT / "var" / "services.env"
    if not path.exists():
        return None
    for line in path.read_text().splitlines():
        key, sep, value = line.removeprefix("export ").partition("=")
        if sep and not line.startswith("#") and key.strip() == variable:
            return value.strip().strip("'\"") or None
    return None


def percentile(values: Sequence[float], fraction: float) -> float | None:
    """The nearest-rank percentile of ``values`` (``None`` when empty)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(fraction * len(ordered)) - 1))
    return ordered[rank]


def arguments(description: str) -> argparse.ArgumentParser:
    """The options every benchmark takes."""
    parser = argparse.ArgumentParser(description=description)
    sizes = parser.add_mutually_exclusive_group()
    sizes.add_argument(
        "--short",
        action="store_const",
        dest="mode",
        const="short",
        help="short sizes (the default)",
    )
    sizes.add_argument(
        "--full", action="store_const", dest="mode", const="full", help="full sizes"
    )
    sizes.add_argument(
        "--tiny",
        action="store_const",
        dest="mode",
        const="tiny",
        help="a few seconds, to check that it runs (the smoke test)",
    )
    parser.set_defaults(mode="short")
    parser.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT,
        help=f"where to write the JSON results (default {DEFAULT_OUT})",
    )
    return parser


Column = tuple[str, str, Callable[[Any], str]]


def fixed(digits: int) -> Callable[[Any], str]:
    def show(value: Any) -> str:
        if value is None:
            return "-"
        if isinstance(value, float):
            return f"{value:,.{digits}f}"
        return f"{value:,}" if isinstance(value, int) else str(value)

    return show


def text(value: Any) -> str:
    return "-" if value is None else str(value)


def table(rows: Iterable[dict[str, Any]], columns: Sequence[Column]) -> str:
    """Rows as an aligned text table: ``(key, header, format)`` per column."""
    cells = [[header for _, header, _ in columns]]
    for row in rows:
        cells.append([show(row.get(key)) for key, _, show in columns])
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
    lines = []
    for n, line in enumerate(cells):
        padded = [
            cell.ljust(width) if i == 0 else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(line, widths, strict=True))
        ]
        lines.append("  ".join(padded).rstrip())
        if n == 0:
            lines.append("  ".join("-" * width for width in widths))
    return "\n".join(lines)


class Run:
    """One run of one benchmark: its parameters, rows, skips and notes."""

    def __init__(self, name: str, mode: str, parameters: dict[str, Any]) -> None:
        self.name = name
        self.mode = mode
        self.parameters = parameters
        self.results: list[dict[str, Any]] = []
        self.skipped: list[dict[str, str]] = []
        self.notes: list[str] = []
        self.machine = machine()
        self._started = time.monotonic()
        self._started_at = datetime.now(UTC)

    def add(self, row: dict[str, Any]) -> None:
        self.results.append(row)

    def skip(self, what: str, why: str) -> None:
        """Record, and say in one line, what was not measured and why."""
        self.skipped.append({"what": what, "why": why})
        print(f"skipped {what}: {why}", flush=True)

    def note(self, text: str) -> None:
        self.notes.append(text)

    def document(self) -> dict[str, Any]:
        return {
            "benchmark": self.name,
            "mode": self.mode,
            "format": FORMAT,
            "started_at": self._started_at.isoformat().replace("+00:00", "Z"),
            "duration_s": round(time.monotonic() - self._started, 2),
            "machine": self.machine,
            "versions": versions(),
            "parameters": self.parameters,
            "results": self.results,
            "skipped": self.skipped,
            "notes": self.notes,
        }

    def finish(self, out: Path, columns: Sequence[Column]) -> Path:
        """Print the table and the notes, write the JSON; returns its path."""
        document = self.document()
        print()
        print(f"== {self.name} ({self.mode}, {document['duration_s']} s) ==")
        print(table(self.results, columns))
        for note in self.notes:
            print(f"  * {note}")
        out.mkdir(parents=True, exist_ok=True)
        stamp = self._started_at.strftime("%Y%m%dT%H%M%S%fZ")
        path = out / f"{self.name}-{stamp}.json"
        path.write_text(json.dumps(document, indent=2, default=str) + "\n")
        print(f"results: {_shown(path)}", flush=True)
        return path


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def python() -> str:
    """The interpreter to start helper processes with (this one)."""
    return sys.executable
