"""Fitting history into the context window: whole turns, oldest first, and a clear error when it cannot."""

from __future__ import annotations

import pytest

from moa_cli.context import estimate_tokens, fit_history
from moa_cli.errors import UsageError
from moa_cli.request import Message, MoaRequest, ModelSpec


def request(history: list[Message], question: str = "now?", max_tokens: int = 100) -> MoaRequest:
    return MoaRequest(
        question=question,
        references=(ModelSpec("a"), ModelSpec("b")),
        aggregator=ModelSpec("agg"),
        history=tuple(history),
        max_tokens=max_tokens,
    )


def turns(n: int, size: int = 300) -> list[Message]:
    out = []
    for i in range(n):
        out += [Message("user", f"q{i} " + "x" * size), Message("assistant", f"a{i} " + "y" * size)]
    return out


def test_history_that_fits_is_kept_whole() -> None:
    history = turns(3)
    kept, dropped = fit_history(request(history), context_window=100_000)
    assert kept == tuple(history) and dropped == 0


def test_oldest_turns_are_dropped_first_and_counted() -> None:
    history = turns(10)
    per_turn = estimate_tokens(history[0].content) + estimate_tokens(history[1].content)
    window = 3 * 100 + 512 + estimate_tokens("now?") + 4 * per_turn + 5
    kept, dropped = fit_history(request(history), context_window=window)
    assert dropped == 6
    assert kept == tuple(history[12:])
    assert kept[0].role == "user"


def test_room_for_every_answer_is_reserved() -> None:
    history = turns(2)
    roomy, _ = fit_history(request(history, max_tokens=10), context_window=3000)
    tight, dropped = fit_history(request(history, max_tokens=800), context_window=3000)
    assert len(roomy) == 4 and dropped == 2 and tight == ()


def test_a_question_too_large_for_the_context_is_refused_before_any_request() -> None:
    with pytest.raises(UsageError, match="more than fits the models' context"):
        fit_history(request([], question="word " * 100_000), context_window=8192)


def test_under_a_rate_limit_the_conversation_keeps_half_of_it_newest_turns_first() -> None:
    from moa_cli.context import fit_history_to_rate_limit

    turn = (Message("user", "q " * 600), Message("assistant", "a " * 600))  # ~800 tokens a turn
    request = MoaRequest("now?", (ModelSpec("m"),), ModelSpec("m"), history=turn * 10)
    kept, dropped = fit_history_to_rate_limit(request, 8000)
    assert (len(kept), dropped) == (8, 6)
    assert kept[0].role == "user"
