"""The batch's progress on stderr: one line redrawn on a terminal, only a summary otherwise."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TextIO

from moa_cli.ui.sanitize import strip_controls

REDRAW_EVERY = 0.1
"""Seconds between redraws of the progress line at most."""


class BatchProgress:
    """Counts rows as they finish; draws ``rows done/total, rate, ETA, tokens, failures``."""

    def __init__(
        self, stream: TextIO | None, total: int, *, quiet: bool = False, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.stream = stream
        self.total = total
        self.live = not quiet and stream is not None and stream.isatty()
        self.quiet = quiet
        self.clock = clock
        self.started = clock()
        self.done = 0
        self.failed = 0
        self.tokens = 0
        self._drawn = 0.0

    def row_done(self, ok: bool, tokens: int) -> None:
        self.done += 1
        self.failed += not ok
        self.tokens += tokens
        if self.live and (self.done == self.total or self.clock() - self._drawn >= REDRAW_EVERY):
            self._drawn = self.clock()
            self._write(f"\r\x1b[K{self.line()}")

    @property
    def rate(self) -> float:
        """Rows per minute so far."""
        elapsed = self.clock() - self.started
        return self.done * 60 / elapsed if elapsed > 0 else 0.0

    def line(self) -> str:
        rate = self.rate
        left = self.total - self.done
        eta = f"{_duration(left * 60 / rate)} left" if rate and left else "-"
        failed = f", {self.failed} failed" if self.failed else ""
        return (
            f"moa: batch {self.done}/{self.total} rows · {rate:,.0f} rows/min · {eta} · "
            f"{self.tokens:,} tokens{failed}"
        )

    def note(self, text: str, *, live: bool = False) -> None:
        """Say ``text``: as the live line on a terminal when ``live`` (and nowhere else), else as a line."""
        if self.live and live:
            self._write(f"\r\x1b[K{strip_controls(text)}")
        elif not live and not self.quiet:
            clear = "\r\x1b[K" if self.live else ""
            self._write(f"{clear}moa: {strip_controls(text)}\n")

    def finish(self, message: str) -> None:
        """End the live line and say how the run went (``-q``: nothing)."""
        if self.live:
            self._write("\r\x1b[K")
        if not self.quiet:
            elapsed = self.clock() - self.started
            failed = f", {self.failed} failed" if self.failed else ""
            self._write(
                f"moa: {strip_controls(message)}: {self.done} of {self.total} rows in {_duration(elapsed)} "
                f"({self.rate:,.0f} rows/min, {self.tokens:,} tokens{failed})\n"
            )

    def _write(self, text: str) -> None:
        if self.stream is None:
            return
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):
            pass


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, seconds = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{seconds:02d}s"
