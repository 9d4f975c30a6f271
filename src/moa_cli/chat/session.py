"""One ``moa chat``: the conversation, the config's presets, and how a turn is drawn."""

from __future__ import annotations

from rich.console import Console

from moa_cli.app.conversation import Conversation
from moa_cli.config import Config
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

    def use_preset(self, name: str) -> None:
        """Switch to a preset's settings (the config file's, then the preset's)."""
        settings = self.config.resolve(name)
        self.conversation.provider.check(spec.model for spec in (*settings.references, settings.aggregator))
        self.conversation.settings = settings

    async def ask(self, question: str) -> MoaResult:
        """Run one turn: stored as it happens, streamed on the console."""
        conversation = self.conversation
        turn = conversation.prepare(question)
        if turn.dropped:
            conversation.warn(f"left out the {turn.dropped} oldest turns to fit the context window")
        layers = turn.run.request.layers

        def draw() -> Renderer:
            return LiveRenderer(self.console, layers=layers, show_reasoning=self.show_reasoning)

        return await turn.drive([draw])
