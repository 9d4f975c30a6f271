"""Progress on stderr, for when stdout is a pipe or a file: one line per step, and what is still running.

What is still running is told by a timer, so that a slow model is not silence: on a terminal, a
status line redrawn in place at most once a second (erased before any other line, and at the
end); in a file or a pipe, where ``\r`` would be junk, a plain line after each quiet
:data:`HEARTBEAT` seconds, so a log says where the time went and a ``tail -f`` shows life.
"""

from __future__ import annotations

import asyncio
import math
import time
from typing import TextIO

from moa_cli.events import (
    Agent,
    AgentDone,
    AgentFailed,
    AgentResult,
    AgentRetrying,
    AgentStarted,
    AgentTrimmed,
    AgentWaiting,
    Event,
    MoaResult,
)
from moa_cli.ui.format import agent_stats, plural, run_stats
from moa_cli.ui.sanitize import strip_controls
from moa_cli.ui.status_line import StatusLine

TICK = 1.0
"""Seconds between redraws of the status line."""
HEARTBEAT = 15.0
"""Seconds without a line before a file or pipe is told what is still running."""


class StderrProgress:
    """Writes progress and warnings to ``stream``; ``quiet`` silences it (errors are the CLI's)."""

    def __init__(self, stream: TextIO, *, quiet: bool = False) -> None:
        self.stream = stream
        self.quiet = quiet
        self._said: set[str] = set()
        self._waits: dict[Agent, int] = {}
        self._failures: list[str] = []
        """Reference failures not yet said: said once the run goes on, or left to the error line."""
        self._running: dict[Agent, AgentResult] = {}
        self._status = StatusLine(stream) if stream.isatty() else None
        self._timer: asyncio.TimerHandle | None = None
        self._last_line = time.perf_counter()
        self._mid_line = False
        self._stopped = False

    def write(self, text: str) -> None:
        """Write ``text`` as it is (the status line erased first); a line left open holds the status line back."""
        if self._status is not None:
            self._status.clear()
        self.stream.write(text)
        self.stream.flush()
        self._last_line = time.perf_counter()
        self._mid_line = not text.endswith("\n")

    def _say(self, text: str) -> None:
        if not self.quiet and text not in self._said:
            self._said.add(text)  # one bad key fails every model alike: say it once
            self.write(f"moa: {strip_controls(text)}\n")

    def handle(self, event: Event) -> None:
        self._track(event)
        if isinstance(event, AgentFailed) and event.result.agent.role == "reference":
            self._failures.append(f"warning: {event.result.error}")
            return
        if isinstance(event, AgentStarted | AgentDone):
            self._say_failures()
        if isinstance(event, AgentStarted) and event.agent.role == "aggregator":
            self._say(f"aggregating with {event.agent.model}")
        elif isinstance(event, AgentDone) and event.result.agent.role == "reference":
            self._say(f"{event.result.agent.label} done ({agent_stats(event.result)})")
        elif isinstance(event, AgentRetrying):
            self._say(f"{event.reason}; retrying in {event.wait:.2g}s" if event.wait else event.reason)
        elif isinstance(event, AgentTrimmed):
            self._say(event.note)
        elif isinstance(event, AgentWaiting):
            self._count_down(event)
        if isinstance(event, AgentDone) and event.result.warning:
            role = "aggregator " if event.result.agent.role == "aggregator" else ""  # it may be a reference's model too
            self._say(f"warning: {role}{event.result.warning}")

    def _count_down(self, event: AgentWaiting) -> None:
        """A waiting request: said when the wait starts, then every 10 seconds (one line each)."""
        left = math.ceil(event.wait)
        previous = self._waits.get(event.agent)
        if previous is None or (left % 10 == 0 and left != previous):
            self._waits[event.agent] = left
            self._say(f"{event.agent.label}: {event.reason}; sending in {left}s")

    def _say_failures(self) -> None:
        for failure in self._failures:
            self._say(failure)
        self._failures.clear()

    def _track(self, event: Event) -> None:
        if isinstance(event, AgentStarted):
            self._running[event.agent] = event.result
        elif isinstance(event, AgentDone | AgentFailed):
            self._running.pop(event.result.agent, None)
        if self._timer is None and not (self.quiet or self._stopped):
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                return  # fed outside an event loop: no timer to run on
            self._timer = loop.call_later(TICK, self._tick, loop)

    def _tick(self, loop: asyncio.AbstractEventLoop) -> None:
        self._timer = loop.call_later(TICK, self._tick, loop)
        running = [r for r in self._running.values() if r.status == "running"]
        if self._status is not None:
            if running and not self._mid_line:
                self._status.show(f"moa: {_running(running)}")
            else:
                self._status.clear()
        elif running and time.perf_counter() - self._last_line >= HEARTBEAT:
            self.write(f"moa: still {_running(running)}\n")

    def stop(self) -> None:
        """Stops the timer and erases the status line; what is said after this stays."""
        if self._timer is not None:
            self._timer.cancel()
        self._timer = None
        self._stopped = True
        if self._status is not None:
            self._status.clear()

    def close(self, result: MoaResult) -> None:
        self.stop()
        if result.status == "failed" and result.aggregator is None:
            self._failures.clear()  # no reference answered: the error line that follows names why
        self._say_failures()
        if result.status == "complete":
            self._say(run_stats(result))


def _running(results: list[AgentResult]) -> str:
    """``running: ref/a 21s · 0 tokens, agg/x 3s · 140 tokens``."""
    now = time.perf_counter()
    parts = [
        f"{r.agent.label} queued" if r.queued
        else f"{r.agent.label} {now - r.started_at:.0f}s · {plural(r.streamed, 'token')}"
        for r in results
    ]
    return "running: " + ", ".join(strip_controls(part) for part in parts)
