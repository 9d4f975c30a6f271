"""The judge's verdicts and the figures drawn from them (pure functions, no server)."""

from __future__ import annotations

from moa_cli.evaluate.judge import judge_question, outcome, parse_verdict
from moa_cli.evaluate.stats import bootstrap_interval, percentile, win_rate


def test_a_verdict_is_the_last_bracketed_letter() -> None:
    assert parse_verdict("[[A]] looked good at first, but on reflection [[B]]") == "B"
    assert parse_verdict("no verdict here") is None


def test_a_system_wins_only_when_it_wins_in_both_orders() -> None:
    assert outcome("A", "B") == "win"  # shown first: A; shown second: B
    assert outcome("B", "A") == "loss"
    assert outcome("A", "A") == "tie"  # the judge always picks the first: the verdict flips
    assert outcome("A", "C") == "tie" and outcome(None, "B") == "tie"


def test_ties_count_half_in_the_win_rate() -> None:
    assert win_rate(["win", "tie", "loss", "tie"]) == 0.5
    assert win_rate(["win", "win", "tie", "loss"]) == 0.625


def test_the_bootstrap_interval_is_reproducible_and_holds_the_rate() -> None:
    outcomes = ["win"] * 30 + ["loss"] * 10 + ["tie"] * 10
    low, high = bootstrap_interval(outcomes, seed=7)
    assert (low, high) == bootstrap_interval(outcomes, seed=7)
    assert low < win_rate(outcomes) < high and 0.5 < low and high < 0.85


def test_percentiles_interpolate_between_values() -> None:
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5
    assert percentile([], 0.95) is None


def test_a_multi_turn_question_shows_each_assistant_its_own_conversation() -> None:
    prompt = judge_question([("Q1", "a1", "b1"), ("Q2", "a2", "b2")])
    assert prompt.index("### Assistant A:\na1") < prompt.index("### Assistant A:\na2") < prompt.index("### Assistant B:\nb1")
