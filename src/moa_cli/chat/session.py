"""One ``moa chat``: the conversation, the config's presets, and how a turn is drawn."""

from __future__ import annotations

from rich.console import Console

from moa_cli.app.conversation import Conversation
from moa_cli.app.files import Attached, with_files
from moa_cli.config import Config, Role
from moa_cli.events import MoaResult
from moa_cli.ui.base import Renderer
from moa_cli.ui.live import LiveRenderer


class ChatSession:
    """The REPL's state: a :class:`Conversation` (session, history, settings) drawn on ``console``."""

    def __init__(
        self, conversation: Conversation, *, config: Config, console: Console, show_reasoning: bool = False
    ) -> None:
        self.conversation = conversation
        self.config = config
        self.console = console
        self.show_reasoning = show_reasoning
        self.role: Role | None = None
        """The role each message goes through (its template); its settings are already applied."""
        self.files: list[Attached] = []
        """Files given with ``/file``, sent before the next message."""
        self.last_result: MoaResult | None = None
        """The last turn's result as it stands (partial while it runs)."""

    def use_preset(self, name: str) -> None:
        """Switch to a preset's settings (the config file's, then the preset's)."""
        settings = self.config.resolve(name)
        self.conversation.provider.check(spec.model for spec in (*settings.references, settings.aggregator))
        self.conversation.settings = settings

    def use_role(self, role: Role | None) -> None:
        """Ask through ``role`` (its template, system prompt and models), or as before with None."""
        settings = self.config.resolve(role=role)
        self.conversation.provider.check(spec.model for spec in (*settings.references, settings.aggregator))
        self.conversation.settings = settings
        self.role = role

    async def ask(self, message: str) -> MoaResult:
        """Run one turn: stored as it happens, streamed on the console."""
        conversation, self.last_result = self.conversation, None
        question = self.role.apply(message) if self.role else message
        if self.files:
            question = with_files(self.files, question)
        turn = conversation.prepare(question, title=message if question != message else None)
        self.files = []
        self.last_result = turn.run.result
        if turn.dropped:
            oldest = "the oldest turn" if turn.dropped == 1 else f"the {turn.dropped} oldest turns"
            conversation.warn(f"left out {oldest} to fit the context window")
        layers = turn.run.request.layers

        def draw() -> Renderer:
            return LiveRenderer(self.console, layers=layers, show_reasoning=self.show_reasoning)

        return await turn.drive([draw])
