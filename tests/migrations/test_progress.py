"""Progress of a data migration: a bar on a terminal, log lines otherwise."""

from __future__ import annotations

import io
import logging

import pytest

from migrations.progress import Meter


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_terminal_shows_a_bar() -> None:
    out, clock = Terminal(), Clock()
    meter = Meter("fill topics", total=200, stream=out, clock=clock)

    clock.now += 2
    meter.advance(50)
    clock.now += 2
    meter.advance(150)
    meter.finish()

    frames = out.getvalue().split("\r")[1:]
    assert frames[0] == f"fill topics [{'#' * 8}{'-' * 22}]  25% 50/200, 25 rows/s"
    assert frames[-1] == f"fill topics [{'#' * 30}] 100% 200/200, 50 rows/s\n"


def test_a_terminal_counts_when_the_total_is_unknown() -> None:
    out, clock = Terminal(), Clock()
    meter = Meter("copy", done=10, stream=out, clock=clock)

    clock.now += 1
    meter.advance(5)

    assert out.getvalue() == "\rcopy: 15 rows, 5 rows/s"


def test_elsewhere_progress_is_logged_every_few_seconds(
    caplog: pytest.LogCaptureFixture,
) -> None:
    out, clock = io.StringIO(), Clock()
    meter = Meter("copy", total=1000, stream=out, clock=clock)
    caplog.set_level(logging.INFO, "roomcast.migrations")

    for _ in range(10):
        clock.now += 1
        meter.advance(100)
    meter.finish()

    assert out.getvalue() == ""
    assert caplog.messages == [
        "copy: 100/1000 rows done, 100 rows/s",
        "copy: 600/1000 rows done, 100 rows/s",
        "copy: done, 1000 rows",
    ]
