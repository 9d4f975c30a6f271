"""From settings and a question to the engine's request, with as much history as fits."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import replace

from moa_cli.context import fit_history, question_room
from moa_cli.request import Message, MoaRequest
from moa_cli.settings import Settings

_FROM_SETTINGS = tuple(
    f.name for f in dataclasses.fields(MoaRequest) if f.name in {s.name for s in dataclasses.fields(Settings)}
)
"""The request's fields that settings give (the rest: the question and the history)."""


def build_request(settings: Settings, question: str, history: Sequence[Message] = ()) -> tuple[MoaRequest, int]:
    """The engine's request for ``question``, with as much history as fits; and the turns dropped."""
    given = {name: getattr(settings, name) for name in _FROM_SETTINGS}
    request = MoaRequest(question=question, history=tuple(history), **given)
    kept, dropped = fit_history(request, settings.context_window)
    return (replace(request, history=kept) if dropped else request), dropped


def room_for_question(settings: Settings) -> int:
    """Tokens the question (and any history) may take under ``settings``; raises if the answers alone overflow."""
    given = {name: getattr(settings, name) for name in _FROM_SETTINGS}
    return question_room(MoaRequest(question="", **given), settings.context_window)
