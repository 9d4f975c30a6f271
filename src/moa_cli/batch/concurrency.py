"""How many rows ``moa batch`` and ``moa eval`` run at once when not told: from the models' limits.

Rows share one :class:`~moa_cli.budget.Budget`, which reserves each request's prompt plus its
``max_tokens`` before it leaves and makes it wait while the model's minute is spent. So rows in
flight beyond what the budget lets through only wait; too few leave the minute partly unused.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

from moa_cli.app.requests import budget_for
from moa_cli.batch.rows import Row
from moa_cli.budget import Budget
from moa_cli.context import estimate_tokens
from moa_cli.model_limits import ModelConfig
from moa_cli.settings import Settings

DEFAULT_CONCURRENCY = 4
"""Rows at once when no model's tokens-per-minute limit is known (local servers, a first run)."""
MAX_CONCURRENCY = 32
"""Never more rows at once than this, however large the limits."""
HEADROOM = 2
"""Rows kept in flight per minute's worth of tokens: while one set holds the busiest model's
minute, another is at its other stages (references on other models, the next turn)."""


def turn_tokens(settings: Settings, question: int) -> Counter[str]:
    """Tokens one turn reserves from each model: every call's prompt plus its ``max_tokens``.

    ``question`` is the question's size in tokens. References in later layers and the aggregator
    carry the previous layer's answers, counted at their ``max_tokens``.
    """
    system = estimate_tokens(settings.system) if settings.system else 0

    def most(spec_max: int | None, model: str) -> int:
        declared = settings.models.get(model, ModelConfig()).max_output
        return min(spec_max or settings.max_tokens, declared or settings.max_tokens)

    panel = [(spec.model, most(spec.max_tokens, spec.model)) for spec in settings.references] * settings.samples
    answers = sum(tokens for _, tokens in panel)
    reserved: Counter[str] = Counter()
    for layer in range(1, settings.layers + 1):
        carried = answers if layer > 1 else 0
        for model, tokens in panel:
            reserved[model] += system + question + carried + tokens
    aggregator = settings.aggregator.model
    reserved[aggregator] += system + question + answers + most(settings.aggregator.max_tokens, aggregator)
    return reserved


def default_concurrency(settings: Settings, rows: Sequence[Row] = (), budget: Budget | None = None) -> int:
    """Rows to run at once when ``--concurrency`` is not given.

    For each model with a known tokens-per-minute limit (learned from its headers into
    ``limits.json``, or declared as ``tpm`` under ``[models."ID"]``): how many rows' turns fit in
    one minute of it, a turn reserving its prompts (the rows' mean question) plus ``max_tokens``
    (never more than the limit: the budget lowers ``max_tokens`` to fit). The busiest model (the
    one the fewest rows fill) sets the pace: :data:`HEADROOM` times that many rows keep its minute
    full, bounded to 1..:data:`MAX_CONCURRENCY`. With no limit known, :data:`DEFAULT_CONCURRENCY`.
    """
    budget = budget or budget_for(settings)
    questions = [estimate_tokens(turn) for row in rows for turn in row.turns]
    question = sum(questions) // len(questions) if questions else 0
    fills = []
    for model, tokens in turn_tokens(settings, question).items():
        known = budget.book.get(model).tokens
        tpm = known.limit if known else settings.models.get(model, ModelConfig()).tpm
        if tpm:
            fills.append(tpm / min(tokens, tpm))
    if not fills:
        return DEFAULT_CONCURRENCY
    return max(1, min(MAX_CONCURRENCY, math.ceil(HEADROOM * min(fills))))
