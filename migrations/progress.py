"""Data migrations over many rows: pages, progress shown, resumable.

``ctx.pages`` reads an entity's rows a page at a time and hands each page to
the migration. Once the migration asks for the next page, the previous one
counts as done: its page token goes to the progress table, so a run that is
interrupted resumes after the last page finished, and a step that finished
is skipped. A page may thus be handed over again after an interruption in
the middle of it: what a migration does to a row must be safe to repeat.

Progress shows as a bar on a terminal, and as a log line every few seconds
otherwise (``roomcast.migrations`` at INFO).
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any, TextIO, TypeVar

import orm

from .backend import Backend, Progress

__all__ = ["Meter", "pages"]

log = logging.getLogger("roomcast.migrations")

T = TypeVar("T")

LOG_EVERY = 5.0
_DRAW_EVERY = 0.1
_BAR_WIDTH = 30


class Meter:
    """Shows how many rows a step has done: a bar on a terminal, else logs."""

    def __init__(
        self,
        step: str,
        *,
        done: int = 0,
        total: int | None = None,
        stream: TextIO | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.step = step
        self.done = done
        self.total = total
        self._stream = stream if stream is not None else sys.stderr
        self._terminal = self._stream.isatty()
        self._clock = clock
        self._started = clock()
        self._first = done
        self._shown = -LOG_EVERY

    def advance(self, rows: int) -> None:
        self.done += rows
        now = self._clock()
        every = _DRAW_EVERY if self._terminal else LOG_EVERY
        if now - self._shown >= every:
            self._shown = now
            self._show(finished=False)

    def finish(self) -> None:
        self._show(finished=True)

    def _rate(self) -> float:
        elapsed = self._clock() - self._started
        return (self.done - self._first) / elapsed if elapsed > 0 else 0.0

    def _show(self, *, finished: bool) -> None:
        if self._terminal:
            end = "\n" if finished else ""
            self._stream.write(f"\r{self._bar()}{end}")
            self._stream.flush()
        elif finished:
            log.info("%s: done, %d rows", self.step, self.done)
        else:
            log.info(
                "%s: %d%s rows done, %.0f rows/s",
                self.step,
                self.done,
                "" if self.total is None else f"/{self.total}",
                self._rate(),
            )

    def _bar(self) -> str:
        rate = f"{self._rate():.0f} rows/s"
        if not self.total:
            return f"{self.step}: {self.done} rows, {rate}"
        share = min(self.done / self.total, 1.0)
        filled = round(share * _BAR_WIDTH)
        bar = "#" * filled + "-" * (_BAR_WIDTH - filled)
        return f"{self.step} [{bar}] {share:4.0%} {self.done}/{self.total}, {rate}"


async def pages(
    backend: Backend,
    repository: orm.Repository[T],
    filters: Mapping[str, Any],
    *,
    migration_id: str,
    step: str,
    page_size: int,
    total: int | None,
    stream: TextIO | None,
) -> AsyncIterator[list[T]]:
    """The rows of ``repository`` matching ``filters``, a page at a time,
    resuming where an earlier run of ``step`` stopped."""
    progress = await backend.read_progress(migration_id, step)
    if progress is not None and progress.finished:
        log.info("%s: finished in an earlier run, %d rows", step, progress.done)
        return
    token = None if progress is None else progress.cursor
    done = 0 if progress is None else progress.done
    if done:
        log.info("%s: resuming after %d rows", step, done)

    meter = Meter(step, done=done, total=total, stream=stream)
    while True:
        page = await repository.find(filters, limit=page_size, page_token=token)
        if page.items:
            yield page.items
        token = page.next_page_token
        meter.advance(len(page.items))
        finished = token is None
        await backend.write_progress(
            Progress(migration_id, step, token, meter.done, finished)
        )
        if finished:
            meter.finish()
            return
