"""Stores a turn as it happens: the question before any request leaves, each reference's answer
the moment it ends, the aggregator's answer so far every second, and everything again at the end.
(The engine hands on the end of a layer once the next stage's requests are out: the last
references' rows are written just after the aggregator's request leaves, not before.) The ends
handed on together are written in one transaction, as soon as the event loop has a turn: a third
of the cost of one each, which matters when 64 end at once.

The recorder is one more consumer of engine events, beside the front end.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable
from typing import TextIO

from moa_cli.errors import StoreError
from moa_cli.events import AgentDone, AgentFailed, AgentResult, AgentStarted, Event, MoaResult, TextDelta
from moa_cli.settings import Settings, record
from moa_cli.store import Store
from moa_cli.ui.sanitize import strip_controls


class NoRecorder:
    """Stands in for a :class:`TurnRecorder` when the turn cannot be stored."""

    turn_id = 0

    def handle(self, event: Event) -> None:
        pass

    def close(self, result: MoaResult) -> None:
        pass


class TurnRecorder:
    """Writes one turn to ``store``; a storage failure is a warning, never the loss of the answer."""

    def __init__(
        self,
        store: Store,
        session_id: str,
        question: str,
        settings: Settings,
        *,
        checkpoint_every: float = 1.0,
        err: TextIO | None = None,
    ) -> None:
        self.store = store
        self.every = checkpoint_every
        self.err = err or sys.stderr
        self.failed = False
        self.turn_id = 0
        self.partial = MoaResult(question)
        """The answer so far, checkpointed while it streams: its aggregator comes with ``AgentStarted``."""
        self._ended: list[AgentResult] = []
        """References that have ended, to be written together once the loop has a turn."""
        self._guard(self._begin, session_id, settings)
        self._last_save = time.monotonic()

    def _begin(self, session_id: str, settings: Settings) -> None:
        self.turn_id = self.store.begin_turn(session_id, self.partial.question, record(settings))

    def handle(self, event: Event) -> None:
        if isinstance(event, AgentDone | AgentFailed) and event.result.agent.role == "reference":
            self._ended.append(event.result)
            if len(self._ended) == 1:
                _soon(self._save_ended)
        elif isinstance(event, TextDelta) and event.agent.role == "aggregator":
            now = time.monotonic()
            if now - self._last_save >= self.every:
                self._last_save = now
                self._guard(self.store.save_partial, self.turn_id, self.partial)
        elif isinstance(event, AgentStarted) and event.agent.role == "aggregator":
            self.partial.aggregator = event.result

    def _save_ended(self) -> None:
        ended, self._ended = self._ended, []
        if ended:
            self._guard(self.store.save_agents, self.turn_id, ended)

    def close(self, result: MoaResult) -> None:
        self._ended.clear()  # the turn's end writes every agent's row
        self._guard(self.store.finish_turn, self.turn_id, result)

    def _guard(self, write: Callable[..., None], *args: object) -> None:
        """Run one store write; the first failure is said once and stops further writes."""
        if self.failed:
            return
        try:
            write(*args)
        except StoreError as exc:
            self.failed = True
            self.err.write(f"moa: warning: this turn was not saved: {strip_controls(str(exc))}\n")


def _soon(write: Callable[[], None]) -> None:
    """``write`` once the event loop has a turn (after the events handed on with this one); now without a loop."""
    try:
        asyncio.get_running_loop().call_soon(write)
    except RuntimeError:
        write()
