"""A conversation: its settings, its stored session and history, and how one turn runs.

Every face uses it the same way: ``ask`` for one turn, ``chat`` for many, ``serve`` per request.
The history is read from the store alone, so what the models see is what is stored.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from moa_cli.app.requests import budget_for, history_bytes, prepare_run
from moa_cli.app.turn import Builder, drive
from moa_cli.engine import MoaRun
from moa_cli.errors import StoreError, UsageError
from moa_cli.events import MoaResult
from moa_cli.providers.router import ProviderRouter
from moa_cli.recorder import NoRecorder, TurnRecorder
from moa_cli.request import Message, ModelSpec
from moa_cli.settings import Settings, check_values
from moa_cli.store import SessionInfo, Store
from moa_cli.ui.base import Renderer

Warn = Callable[[str], None]


@dataclass(slots=True)
class Turn:
    """One question on its way: the run, the turns of history left out to fit, and its recorder."""

    run: MoaRun
    dropped: int
    recorder: Renderer

    async def drive(self, builders: Sequence[Builder] = ()) -> MoaResult:
        """Run it, the recorder first, then the consumers ``builders`` make."""
        return await drive(self.run, [self.recorder], builders)


class Conversation:
    """A session in progress. Without a store (it could not be opened) turns run but are not kept."""

    def __init__(
        self,
        settings: Settings,
        provider: ProviderRouter,
        store: Store | None,
        session: SessionInfo | None = None,
        *,
        warn: Warn = lambda message: None,
    ) -> None:
        self.settings = settings
        self.provider = provider
        self.store = store
        self.session: SessionInfo | None = None
        self.warn = warn
        self.budget = budget_for(settings)
        self.last_turn: tuple[int | None, str] | None = None
        """The stored id (None if it could not be stored) and question of the last turn, for ``/retry``."""
        if session is not None:
            self.resume(session)

    # --- the session ----------------------------------------------------------------------------

    def history(self, question: str) -> tuple[list[Message], int]:
        """What the models may see of the conversation so far for ``question``: the stored, answered
        turns, newest first as far as they could fit it; and how many older turns were not read."""
        if self.store is None or self.session is None:
            return [], 0
        most = history_bytes(self.settings, question, self.budget)
        if most is None:  # the question alone does not fit: build_request says why, with no history read
            return [], 0
        return self.store.recent_history(self.session.id, most)

    def resume(self, session: SessionInfo) -> None:
        """Continue ``session``: its last answered turn is the one ``/retry`` asks again."""
        self.session = session
        self.last_turn = self.store.last_answered(session.id) if self.store is not None else None

    def new(self) -> None:
        """Start afresh; the new session is created with its first question."""
        self.session, self.last_turn = None, None

    def retry(self) -> str:
        """Take the last turn out of the history (it stays stored, marked), for ``/retry``; its question."""
        if self.last_turn is None:
            raise UsageError("nothing to retry yet")
        turn_id, question = self.last_turn
        if turn_id and self.store is not None:
            self.store.mark_retried(turn_id)
        self.last_turn = None
        return question

    # --- settings -------------------------------------------------------------------------------

    def change(self, **values: Any) -> None:
        """Change settings, checked as the config file's are; models are checked for their keys."""
        checked = check_values(values)
        models = [spec.model for spec in checked.get("references", ())]
        if aggregator := checked.get("aggregator"):
            models.append(aggregator.model)
        self.provider.check(models)
        self.settings = replace(self.settings, **checked)

    def models(self) -> list[ModelSpec]:
        return [*self.settings.references, self.settings.aggregator]

    # --- turns ----------------------------------------------------------------------------------

    def prepare(self, question: str, *, title: str | None = None) -> Turn:
        """The turn for ``question``: its question is stored before any request leaves.

        ``title`` names a session this turn starts, when the question's first line would not
        (``git diff | moa ask "Write a commit message"``).
        """
        self._check_session()
        history, unread = self.history(question)
        run, dropped = prepare_run(self.settings, self.provider, question, history, self.budget)
        dropped += unread
        recorder = self._recorder(question, title)
        self.last_turn = (recorder.turn_id or None, question)
        return Turn(run, dropped, recorder)

    async def ask(self, question: str, builders: Sequence[Builder] = ()) -> MoaResult:
        """Run one turn to the consumers ``builders`` make."""
        return await self.prepare(question).drive(builders)

    def _check_session(self) -> None:
        """A session deleted meanwhile (``moa sessions rm`` in another terminal): say so, start a new one."""
        if self.store is None or self.session is None:
            return
        try:
            gone = self.store.find_session(self.session.id) is None
        except StoreError:
            return
        if gone:
            self.warn(f"session {self.session.id} was deleted meanwhile; this turn starts a new session")
            self.new()

    def _recorder(self, question: str, title: str | None = None) -> TurnRecorder | NoRecorder:
        if self.store is None:
            return NoRecorder()
        if self.session is None:
            try:
                self.session = self.store.create_session(title=title)
            except StoreError as exc:
                self.warn(f"this turn was not saved: {exc}")
                return NoRecorder()
        return TurnRecorder(self.store, self.session.id, question, self.settings)


def pick_session(
    store: Store, *, continue_last: bool, name: str | None, warn: Warn = lambda message: None
) -> SessionInfo | None:
    """The session named (created if new), the last one for ``continue_last``, else None.

    A name is a name: an id is matched only when no session has that name, and then ``warn`` says so.
    """
    if name:
        if found := store.find_session(name):
            if found.by_prefix:
                warn(f"no session is named '{name}'; using session {found.id}, whose id starts with it")
            return found
        try:
            return store.create_session(name)
        except StoreError:
            # Another moa may have created it since we looked: then it is ours too.
            if found := store.find_session(name):
                return found
            raise
    if continue_last:
        return store.last_session()  # none yet: the first question starts one, as ``llm -c`` does
    return None
