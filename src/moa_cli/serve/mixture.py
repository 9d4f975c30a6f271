"""What ``moa serve`` offers and how it answers, on the application layer: settings, provider,
requests, recording. The rest of :mod:`moa_cli.serve` sees :class:`Mixtures` and :class:`Turn`.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any, TextIO

from moa_cli.app.providers import make_provider
from moa_cli.app.requests import budget_for, prepare_run
from moa_cli.app.turn import drive
from moa_cli.config import load_config
from moa_cli.engine import MoaRun
from moa_cli.errors import MissingApiKeyError, StoreError
from moa_cli.events import Event, MoaResult
from moa_cli.serve.protocol import ChatRequest, Conversation
from moa_cli.serve.sessions import SessionIndex
from moa_cli.settings import Settings
from moa_cli.ui.base import Renderer

if TYPE_CHECKING:
    from moa_cli.store import Store

DEFAULT_ID = "moa"
PRESET_PREFIX = "moa/"


class Mixtures:
    """The mixtures on offer: the configured one as ``moa``, each preset NAME as ``moa/NAME``.

    Built once at start-up; a config error or a missing key for ``moa`` raises :class:`MoaError`.
    """

    def __init__(self, preset: str | None = None, err: TextIO | None = None) -> None:
        self.err = err or sys.stderr
        self.config = load_config()
        self.default_preset = preset
        default = self.config.resolve(preset)
        self.provider = make_provider(default)
        self.budget = budget_for(default)
        self.sessions = SessionIndex()
        self.settings = {DEFAULT_ID: default}
        for name in self.config.presets:
            settings = self.config.resolve(name)
            self.settings[PRESET_PREFIX + name] = settings
            try:
                self.provider.check(spec.model for spec in (*settings.references, settings.aggregator))
            except MissingApiKeyError as exc:
                self.err.write(f"moa: warning: {PRESET_PREFIX}{name} will fail: {exc}\n")

    def ids(self) -> list[str]:
        return list(self.settings)

    def describe(self, model_id: str) -> dict[str, Any]:
        """Who answers for ``model_id``: its references, aggregator and layers."""
        settings = self.settings[model_id]
        return {
            "references": [spec.model for spec in settings.references],
            "aggregator": settings.aggregator.model,
            "layers": settings.layers,
        }

    def start(self, chat: ChatRequest) -> Turn:
        """A turn answering ``chat``; KeyError for an unknown model, UsageError for unusable values."""
        if chat.model not in self.settings:
            raise KeyError(chat.model)
        preset = self.default_preset if chat.model == DEFAULT_ID else chat.model.removeprefix(PRESET_PREFIX)
        conversation = chat.conversation
        settings = self.config.resolve(
            preset, temperature=chat.temperature, max_tokens=chat.max_tokens, system=conversation.system
        )
        run, _ = prepare_run(settings, self.provider, conversation.question, conversation.history, self.budget)
        return Turn(run, settings, lambda: self._recorder(settings, conversation))

    def _recorder(self, settings: Settings, conversation: Conversation) -> Renderer:
        """Stores the question in the session its conversation continues (run in a worker thread,
        before any request leaves), and then the turn as it happens."""
        from moa_cli.recorder import NoRecorder, TurnRecorder
        from moa_cli.store import Store

        store: Store | None = None
        try:
            store = Store.open()
            session_id = self.sessions.find(store, conversation) or store.create_session().id
            recorder = TurnRecorder(store, session_id, conversation.question, settings, err=self.err)
        except StoreError as exc:
            if store is not None:
                store.close()
            self.err.write(f"moa: warning: a turn was not saved: {exc}\n")
            return NoRecorder()
        return _Recording(recorder, store, lambda answer: self.sessions.remember(conversation, answer, session_id))

    async def aclose(self) -> None:
        await self.provider.aclose()


class _Recording:
    """A turn's recorder and its own store connection, closed with it; a complete answer is remembered."""

    def __init__(self, recorder: Renderer, store: Store, remember: Callable[[str], None]) -> None:
        self.recorder, self.store, self.remember = recorder, store, remember

    def handle(self, event: Event) -> None:
        self.recorder.handle(event)

    def close(self, result: MoaResult) -> None:
        try:
            self.recorder.close(result)
        finally:
            self.store.close()
        if result.status == "complete":
            self.remember(result.answer)


class _Sink:
    """Passes the run's events to :meth:`Turn.events`; None marks the end."""

    def __init__(self, queue: asyncio.Queue[Event | None]) -> None:
        self.queue = queue

    def handle(self, event: Event) -> None:
        self.queue.put_nowait(event)

    def close(self, result: MoaResult) -> None:
        self.queue.put_nowait(None)


class Turn:
    """One answer being made. Iterate :meth:`events` once; :meth:`stop` cancels the run at once."""

    def __init__(self, run: MoaRun, settings: Settings, recorder: Callable[[], Renderer]) -> None:
        self.run = run
        self.settings = settings
        self._recorder = recorder
        self._queue: asyncio.Queue[Event | None] = asyncio.Queue()
        self._task: asyncio.Future[MoaResult] | None = None

    @property
    def result(self) -> MoaResult:
        return self.run.result

    async def events(self) -> AsyncIterator[Event]:
        """The engine's events as they come, the session store fed alongside (as ``moa ask`` does)."""
        sink = _Sink(self._queue)
        self._task = task = asyncio.ensure_future(self._drive(sink))
        task.add_done_callback(lambda _: self._queue.put_nowait(None))  # even if drive itself failed
        try:
            while (event := await self._queue.get()) is not None:
                yield event
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        if not task.cancelled() and (failure := task.exception()) is not None:
            raise failure

    async def _drive(self, sink: _Sink) -> MoaResult:
        recorder = await asyncio.to_thread(self._recorder)  # the question is stored before requests leave
        return await drive(self.run, [recorder, sink])

    def stop(self) -> None:
        """Cancel the run: its open requests are closed, and what arrived is stored as interrupted."""
        if self._task is not None:
            self._task.cancel()

    def finish_reason(self) -> str:
        """Why the answer ended, as OpenAI says it: ``length`` or ``content_filter`` when the
        aggregator's server said so, ``length`` too when it used every token it was allowed (a
        server that says no reason), else ``stop``."""
        aggregator = self.result.aggregator
        if aggregator is None:
            return "stop"
        if aggregator.finish_reason in ("length", "content_filter"):
            return aggregator.finish_reason
        _, max_tokens, _ = self.run.request.settings_for(self.run.request.aggregator)
        if aggregator.usage and aggregator.usage.completion_tokens >= max_tokens:
            return "length"
        return "stop"
