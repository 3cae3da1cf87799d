"""Each benchmark runs at a tiny size and writes well-formed results.

Only that: no figure is judged here (timings on a shared machine would make
flaky tests); ``make bench`` is where the figures are read.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support import ROOT, unavailable

BENCHMARKS = {
    # name -> the servers or backends that must be measured even at tiny size
    "persistence": {"sqlite"},
    "fanout": {"roomcast", "socketio", "tornado"},
    "connections": {"roomcast", "socketio"},
}


@pytest.fixture(scope="module", autouse=True)
def clients_installed() -> None:
    if importlib.util.find_spec("websockets") is None:
        unavailable("the benchmarks need: pip install -r benchmarks/requirements.txt")


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Any]:
    """Runs a benchmark at its tiny size once; returns its JSON document."""
    documents: dict[str, dict[str, Any]] = {}

    def get(name: str) -> dict[str, Any]:
        if name not in documents:
            documents[name] = run_tiny(name, tmp_path_factory.mktemp(name))
        return documents[name]

    return get


def run_tiny(name: str, out: Path) -> dict[str, Any]:
    completed = subprocess.run(
        [sys.executable, "-m", f"benchmarks.{name}", "--tiny", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    written = sorted(out.glob(f"{name}-*.json"))
    assert len(written) == 1, completed.stdout
    document: dict[str, Any] = json.loads(written[0].read_text())
    return document


@pytest.mark.parametrize("name", sorted(BENCHMARKS))
def test_benchmark_runs_and_writes_its_results(
    name: str, results: Callable[[str], Any]
) -> None:
    document = results(name)

    assert (name, "tiny", 1) == (
        document["benchmark"],
        document["mode"],
        document["format"],
    )
    assert isinstance(document["machine"]["cpu_count"], int)
    assert {"python", "roomcast"} <= set(document["versions"])
    assert isinstance(document["parameters"], dict)
    assert all(isinstance(note, str) for note in document["notes"])
    assert all({"what", "why"} == set(skip) for skip in document["skipped"])
    measured = {row.get("backend", row.get("server")) for row in document["results"]}
    assert BENCHMARKS[name] <= measured
    assert [] == [row["error"] for row in document["results"] if "error" in row]


def test_persistence_reports_every_operation_and_ratio(
    results: Callable[[str], Any],
) -> None:
    sqlite = [r for r in results("persistence")["results"] if r["backend"] == "sqlite"]

    assert ["insert", "get", "page", "update", "delete"] == [r["op"] for r in sqlite]
    for row in sqlite:
        assert row["roomcast"] > 0 and row["raw"] > 0
        assert row["vs_raw"] == pytest.approx(row["roomcast"] / row["raw"])


def test_fanout_reports_deliveries_cpu_and_latency(
    results: Callable[[str], Any],
) -> None:
    for row in results("fanout")["results"]:
        assert row["deliveries"] == row["sockets"] * row["events"]
        assert row["deliveries_per_s"] > 0
        assert row["cpu_us_per_delivery"] >= 0
        assert 0 <= row["p50_ms"] <= row["p99_ms"]
