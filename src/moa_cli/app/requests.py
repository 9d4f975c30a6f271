"""From settings and a question to the engine's run: the request, with as much history as fits
the models' context window and their per-minute token limits, and the budget that paces it."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import replace

from moa_cli.budget import Budget
from moa_cli.context import estimate_tokens, fit_history, fit_history_to_rate_limit, question_room
from moa_cli.engine import MoaRun
from moa_cli.errors import UsageError
from moa_cli.providers.base import ChatStreamer
from moa_cli.request import Message, MoaRequest
from moa_cli.settings import Settings

_FROM_SETTINGS = tuple(
    f.name for f in dataclasses.fields(MoaRequest) if f.name in {s.name for s in dataclasses.fields(Settings)}
)
"""The request's fields that settings give (the rest: the question and the history)."""


def budget_for(settings: Settings) -> Budget:
    """The rate-limit budget for ``settings``' models, shared with every moa process of this user.

    Runs that may overlap (chat turns, a server's requests, batch rows) share one: its
    reservations for requests in flight are what keeps them from overdrawing a model's minute.
    """
    return Budget.default(settings.models)


def build_request(
    settings: Settings, question: str, history: Sequence[Message] = (), budget: Budget | None = None
) -> tuple[MoaRequest, int]:
    """The engine's request for ``question``, with as much history as fits; and the turns dropped.

    With a ``budget``, the history must also fit the smallest per-request token limit it knows
    of these models (Groq's free tier: 8,000 a minute), not just their context window.
    """
    request = _request(settings, question, history)
    kept, dropped = fit_history(request, settings.context_window)
    if (limit := _smallest_limit(settings, budget)) is not None:
        kept, more = fit_history_to_rate_limit(replace(request, history=kept), limit)
        dropped += more
    return (replace(request, history=kept) if dropped else request), dropped


def history_bytes(settings: Settings, question: str, budget: Budget | None = None) -> int | None:
    """The most UTF-8 bytes of history that could fit ``question``'s request; None when not even
    the answers fit the context (:func:`build_request` says why).

    A token of moa's estimate stands for at most 3 bytes, so a history longer than 3 bytes per
    token of room cannot fit: older turns need not even be read (the exact fit is build_request's).
    """
    question_tokens = estimate_tokens(question)
    try:
        room = question_room(_request(settings, question), settings.context_window) - question_tokens
    except UsageError:
        return None
    if (limit := _smallest_limit(settings, budget)) is not None:
        room = min(room, limit // 2 - question_tokens)
    return 3 * max(room, 0)


def _request(settings: Settings, question: str, history: Sequence[Message] = ()) -> MoaRequest:
    given = {name: getattr(settings, name) for name in _FROM_SETTINGS}
    return MoaRequest(question=question, history=tuple(history), **given)


def _smallest_limit(settings: Settings, budget: Budget | None) -> int | None:
    """The smallest per-request token limit ``budget`` knows of the settings' models (None: none known)."""
    if budget is None:
        return None
    return budget.smallest_limit([spec.model for spec in (*settings.references, settings.aggregator)])


def prepare_run(
    settings: Settings,
    provider: ChatStreamer,
    question: str,
    history: Sequence[Message] = (),
    budget: Budget | None = None,
) -> tuple[MoaRun, int]:
    """The run answering ``question`` after ``history``, paced by ``budget`` (else a new one); and the
    turns of history left out to fit."""
    budget = budget or budget_for(settings)
    request, dropped = build_request(settings, question, history, budget)
    return MoaRun(request, provider, budget=budget), dropped


def room_for_question(settings: Settings) -> int:
    """Tokens the question (and any history) may take under ``settings``; raises if the answers alone overflow."""
    given = {name: getattr(settings, name) for name in _FROM_SETTINGS}
    return question_room(MoaRequest(question="", **given), settings.context_window)
