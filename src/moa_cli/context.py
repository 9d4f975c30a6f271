"""Fitting a conversation into the models' context window, oldest turns dropped first."""

from __future__ import annotations

from collections.abc import Sequence

from moa_cli.errors import UsageError
from moa_cli.request import Message, MoaRequest

MARGIN_TOKENS = 512
"""Room left for the aggregation prompt's own words and for the estimate being off."""


def estimate_tokens(text: str) -> int:
    """A cautious token estimate: UTF-8 bytes / 3 (real tokenizers average 3.5 to 4 for English)."""
    return len(text.encode("utf-8", errors="replace")) // 3 + 1


def _answer_room(request: MoaRequest) -> int:
    """Tokens the aggregator's prompt needs for the reference answers plus its own answer."""
    limits = [request.settings_for(spec)[1] for spec in (*request.references, request.aggregator)]
    return sum(limits[:-1]) * request.samples + limits[-1]


def question_room(request: MoaRequest, context_window: int) -> int:
    """Tokens left for the question and history once the answers, the margin and the system prompt have room.

    Raises :class:`UsageError` when the answers alone cannot fit, naming their cost: the
    references' max tokens times their number (and samples), plus the aggregator's.
    """
    answers = _answer_room(request)
    if answers + MARGIN_TOKENS >= context_window:
        calls = len(request.references) * request.samples
        raise UsageError(
            f"the answers alone need {answers:,} tokens ({calls} reference answers and the aggregator's, "
            f"up to {request.max_tokens:,} tokens each), more than the models' context of "
            f"{context_window:,} tokens; lower --max-tokens or use fewer references"
        )
    return context_window - answers - MARGIN_TOKENS - estimate_tokens(request.system or "")


def fit_history(request: MoaRequest, context_window: int) -> tuple[tuple[Message, ...], int]:
    """The longest suffix of ``request.history`` (whole turns) that fits, and how many turns were dropped.

    Raises :class:`UsageError` when the question alone cannot fit: better a clear error before
    any request than a 413 from every model.
    """
    budget = question_room(request, context_window)
    needed = estimate_tokens(request.question)
    if needed > budget:
        raise UsageError(
            f"the question is about {needed:,} tokens, more than fits the models' context "
            f"({max(budget, 0):,} tokens left after room for the answers); shorten it or lower --max-tokens"
        )
    return newest_turns(request.history, budget - needed)


def fit_history_to_rate_limit(request: MoaRequest, limit: int) -> tuple[tuple[Message, ...], int]:
    """The newest whole turns of ``request.history`` within half of ``limit``, a model's tokens per request.

    Under a per-minute token limit (Groq's free tier: 8,000) the aggregator's one request must hold
    the conversation, the question, the reference answers and its own answer: the conversation
    gets half, the rest is left for the others (see :mod:`moa_cli.budget`).
    """
    return newest_turns(request.history, limit // 2 - estimate_tokens(request.question))


def newest_turns(history: Sequence[Message], budget: int) -> tuple[tuple[Message, ...], int]:
    """The longest suffix of whole turns within ``budget`` tokens, and how many turns were dropped."""
    sizes = [estimate_tokens(m.content) for m in history]
    start, used = len(history), 0
    # Walk back over whole turns (a user message and what follows it) while they fit.
    index = len(history)
    while index > 0:
        turn_start = index - 1
        while turn_start > 0 and history[turn_start].role != "user":
            turn_start -= 1
        cost = sum(sizes[turn_start:index])
        if used + cost > budget:
            break
        used += cost
        start = index = turn_start
    kept = tuple(history[start:])
    dropped = sum(1 for m in history[:start] if m.role == "user")
    return kept, dropped
