"""One ``moa chat``: its settings, its stored session and history, and how a turn runs."""

from __future__ import annotations

from dataclasses import replace

from rich.console import Console
from rich.text import Text

from moa_cli.cli.turns import build_request, drive
from moa_cli.config import Config, Settings
from moa_cli.engine import MoaRun
from moa_cli.errors import StoreError, UsageError
from moa_cli.events import MoaResult
from moa_cli.prompts import as_history
from moa_cli.providers.router import ProviderRouter
from moa_cli.recorder import NoRecorder, TurnRecorder
from moa_cli.request import Message, ModelSpec
from moa_cli.store import SessionInfo, Store
from moa_cli.ui.base import Renderer
from moa_cli.ui.live import LiveRenderer
from moa_cli.ui.sanitize import strip_controls


class ChatSession:
    """The conversation in progress. Turns are stored as they happen; history is what was answered."""

    def __init__(
        self,
        *,
        store: Store,
        config: Config,
        settings: Settings,
        provider: ProviderRouter,
        console: Console,
        session: SessionInfo | None = None,
        show_reasoning: bool = False,
    ) -> None:
        self.store = store
        self.config = config
        self.settings = settings
        self.provider = provider
        self.console = console
        self.show_reasoning = show_reasoning
        self.session: SessionInfo | None = None
        self.history: list[Message] = []
        self.last_question: str | None = None
        self.last_turn_id: int | None = None
        if session is not None:
            self.resume(session)

    # --- sessions -----------------------------------------------------------------------------

    def resume(self, session: SessionInfo) -> None:
        """Continue ``session``: its answered turns become the history sent to the models."""
        self.session = session
        self.history = self.store.history(session.id)
        questions = [m.content for m in self.history if m.role == "user"]
        self.last_question = questions[-1] if questions else None
        same = [t.id for t in self.store.turns(session.id) if t.question == self.last_question]
        self.last_turn_id = same[-1] if same else None

    def new(self) -> None:
        """Start afresh; the new session is created with its first question."""
        self.session, self.history, self.last_question, self.last_turn_id = None, [], None, None

    # --- settings -----------------------------------------------------------------------------

    def set_references(self, models: list[str]) -> None:
        self._check(models)
        self.settings = replace(self.settings, references=tuple(ModelSpec(m) for m in models))

    def set_aggregator(self, model: str) -> None:
        self._check([model])
        self.settings = replace(self.settings, aggregator=ModelSpec(model))

    def _check(self, models: list[str]) -> None:
        """Refuse models whose provider has no key, before they are asked anything."""
        self.provider.check(models)

    def set_value(self, name: str, value: object) -> None:
        self.settings = replace(self.settings, **{name: value})

    def use_preset(self, name: str) -> None:
        self.settings = self.config.resolve(name)

    # --- turns --------------------------------------------------------------------------------

    def _session(self) -> SessionInfo | None:
        """The session this turn goes into, created with its first question; None if it cannot be."""
        if self.session is None:
            try:
                self.session = self.store.create_session()
            except StoreError as exc:
                self.console.print(Text(f"(this turn is not saved: {strip_controls(str(exc))})", style="yellow"))
        return self.session

    def forget_last_turn(self) -> str:
        """Take the last turn out of the history (it stays stored), for ``/retry``; returns its question."""
        if self.last_question is None:
            raise UsageError("nothing to retry yet")
        if self.last_turn_id:
            self.store.mark_retried(self.last_turn_id)
            self.last_turn_id = None
        if len(self.history) >= 2 and self.history[-2].content == self.last_question:
            del self.history[-2:]
        return self.last_question

    async def ask(self, question: str) -> MoaResult:
        """Run one turn: stream it on the console, store it, and add what was answered to the history."""
        request, dropped = build_request(self.settings, question, self.history)
        if dropped:
            self.console.print(
                Text(f"(left out the {dropped} oldest turns to fit the context window)", style="yellow")
            )
        run = MoaRun(request, self.provider)
        session = self._session()
        self.last_question = question

        def record() -> Renderer:
            if session is None:
                return NoRecorder()
            recorder = TurnRecorder(self.store, session.id, run.result, self.settings)
            self.last_turn_id = recorder.turn_id or None
            return recorder

        def draw() -> Renderer:
            return LiveRenderer(self.console, run.result, layers=request.layers, show_reasoning=self.show_reasoning)

        try:
            return await drive(run, [record, draw])
        finally:
            if answer := run.result.answer:
                reply = as_history(answer, run.result.status)
                self.history += [Message("user", question), Message("assistant", reply)]
