"""``moa batch``'s default concurrency: enough rows to keep the busiest model's minute full."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from moa_cli.batch.concurrency import DEFAULT_CONCURRENCY, MAX_CONCURRENCY, default_concurrency, turn_tokens
from moa_cli.batch.rows import Row
from moa_cli.budget import Budget
from moa_cli.limits import LimitsBook, ModelLimits, Window
from moa_cli.model_limits import ModelConfig
from moa_cli.request import ModelSpec
from moa_cli.settings import Settings


def settings(tpm: dict[str, int]) -> Settings:
    """Two references (a, b) and aggregator a, 100 tokens per answer; ``tpm`` declared per model."""
    models = {model: ModelConfig(tpm=limit) for model, limit in tpm.items()}
    return replace(Settings(), references=(ModelSpec("a"), ModelSpec("b")), aggregator=ModelSpec("a"),
                   max_tokens=100, models=models)


def budget(tmp_path: Path, models: dict[str, ModelConfig] | None = None) -> Budget:
    return Budget(LimitsBook(tmp_path / "limits.json"), models or {})


def test_a_turn_reserves_each_calls_prompt_and_max_tokens_and_the_aggregator_carries_the_answers() -> None:
    reserved = turn_tokens(settings({}), question=50)
    assert reserved == {"a": (50 + 100) + (50 + 200 + 100), "b": 50 + 100}


def test_with_no_limit_known_a_cautious_default(tmp_path: Path) -> None:
    assert default_concurrency(settings({}), budget=budget(tmp_path)) == DEFAULT_CONCURRENCY


def test_the_busiest_model_sets_the_rows_twice_what_fills_its_minute(tmp_path: Path) -> None:
    # a: 400 tokens a turn, 2,000 a minute: 5 turns fill it; b: 100 a turn, 5,000 a minute: 50.
    assert default_concurrency(settings({"a": 2000, "b": 5000}), budget=budget(tmp_path)) == 10


def test_longer_questions_mean_fewer_rows(tmp_path: Path) -> None:
    rows = [Row(id="1", turns=("word " * 300,))]  # ~500 tokens, in both of a's prompts
    assert default_concurrency(settings({"a": 2000}), rows, budget(tmp_path)) == 3


def test_a_limit_learned_from_headers_overrides_the_declared_one(tmp_path: Path) -> None:
    book = budget(tmp_path)
    book.book.update("a", lambda known: ModelLimits(tokens=Window.full(4000, 60.0, 0.0)))
    assert default_concurrency(settings({"a": 2000}), budget=book) == 20


def test_the_rows_are_bounded_by_the_limit_fitting_one_turn_and_by_the_maximum(tmp_path: Path) -> None:
    # A turn larger than the minute still runs two rows: one waits while the other holds it.
    assert default_concurrency(settings({"a": 100}), budget=budget(tmp_path)) == 2
    assert default_concurrency(settings({"a": 10**7}), budget=budget(tmp_path)) == MAX_CONCURRENCY
