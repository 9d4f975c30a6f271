"""One line per step on stderr, for when stdout is a pipe or a file."""

from __future__ import annotations

import math
from typing import TextIO

from moa_cli.events import (
    Agent,
    AgentDone,
    AgentFailed,
    AgentRetrying,
    AgentStarted,
    AgentTrimmed,
    AgentWaiting,
    Event,
    MoaResult,
)
from moa_cli.ui.format import agent_stats, run_stats
from moa_cli.ui.sanitize import strip_controls


class StderrProgress:
    """Writes progress and warnings to ``stream``; ``quiet`` silences it (errors are the CLI's)."""

    def __init__(self, stream: TextIO, *, quiet: bool = False) -> None:
        self.stream = stream
        self.quiet = quiet
        self._said: set[str] = set()
        self._waits: dict[Agent, int] = {}
        self._failures: list[str] = []
        """Reference failures not yet said: said once the run goes on, or left to the error line."""

    def _say(self, text: str) -> None:
        if not self.quiet and text not in self._said:
            self._said.add(text)  # one bad key fails every model alike: say it once
            self.stream.write(f"moa: {strip_controls(text)}\n")
            self.stream.flush()

    def handle(self, event: Event) -> None:
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
            self._say(f"warning: {event.result.warning}")

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

    def close(self, result: MoaResult) -> None:
        if result.status == "failed" and result.aggregator is None:
            self._failures.clear()  # no reference answered: the error line that follows names why
        self._say_failures()
        if result.status == "complete":
            self._say(run_stats(result))
