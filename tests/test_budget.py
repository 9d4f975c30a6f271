"""The token budget: requests fitted to their model's limits, and paced instead of refused."""

from __future__ import annotations

from dataclasses import replace

import pytest

from moa_cli.budget import Budget, TooLarge, even_caps, fit_tokens, shorten
from moa_cli.context import estimate_tokens
from moa_cli.errors import ProviderError
from moa_cli.events import Agent, AgentWaiting, Usage
from moa_cli.limits import DAY, LimitsBook, ModelLimits, Window
from moa_cli.model_limits import ModelConfig
from moa_cli.prompts import build_messages
from moa_cli.providers.base import ChatCall

AGENT = Agent("aggregator", 2, 0, "m")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def budget_with(limits: ModelLimits | None = None, clock: Clock | None = None, **declared: object) -> Budget:
    book = LimitsBook(None)
    if limits is not None:
        book.update("m", lambda _: limits)
    return Budget(book, {"m": ModelConfig(**declared)}, clock=clock or Clock())  # type: ignore[arg-type]


def call(question: str = "q", answers: tuple[str, ...] = (), max_tokens: int = 2048) -> ChatCall:
    return ChatCall("m", build_messages(question, (), None, answers), 0.7, max_tokens)


def test_even_caps_cut_only_the_longest_answers():
    assert even_caps([100, 500, 900], 900) == [100, 400, 400]
    assert even_caps([100, 200], 1000) == [100, 200]


def test_max_tokens_is_lowered_first():
    assert fit_tokens(8000, 5000, [], 4096) == (3000, [])


def test_answers_are_shortened_once_max_tokens_is_at_its_floor():
    assert fit_tokens(8000, 1000, [3000, 3000, 1000], 2048, floor=512) == (512, [2744, 2744, 1000])


def test_a_prompt_that_cannot_fit_at_all_is_too_large():
    with pytest.raises(TooLarge):
        fit_tokens(8000, 7900, [], 2048)


def test_shorten_cuts_at_a_word_and_says_so():
    text = "word " * 1000
    cut = shorten(text, 100, estimate_tokens)
    assert cut.endswith(" […]") and estimate_tokens(cut) <= 100 and "wor […]" not in cut


def test_a_request_that_fits_is_left_alone():
    fitted, note = budget_with(ModelLimits(tokens=Window(8000, 8000, 0, 8000 / 60))).fit(call(), [])
    assert fitted == call() and note is None


def test_the_aggregator_is_fitted_with_one_line_saying_what_was_cut():
    answers = ("alpha " * 3000, "beta " * 3000, "short")
    budget = budget_with(ModelLimits(tokens=Window(8000, 8000, 0, 8000 / 60)))
    fitted, note = budget.fit(call(answers=answers), answers)
    assert fitted.max_tokens == 512
    assert note == "m: max tokens 2,048 → 512; 2 of 3 answers shortened to ~3,598 tokens each, to fit its limit of 8,000 tokens per request"
    assert budget.prompt_tokens(fitted.messages, 1.0) + fitted.max_tokens <= 8000
    assert "3. short" in fitted.messages[-1].content


def test_a_question_too_large_for_the_limit_fails_before_sending():
    with pytest.raises(ProviderError) as info:
        budget_with(tpm=1000).fit(call("word " * 3000), [])
    assert info.value.kind == "too_large"


def test_the_context_window_and_max_output_bound_the_request_too():
    fitted, _ = budget_with(context_window=4096, max_output=1000).fit(call(max_tokens=8000), [])
    assert fitted.max_tokens == 1000


async def test_a_request_waits_exactly_until_the_minute_frees_counting_down():
    clock = Clock()
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock.now += seconds

    budget = budget_with(ModelLimits(tokens=Window(6000, 0.0, clock.now, 100.0)), clock)
    budget.sleep = sleep
    events = [e async for e in budget.clear(AGENT, call(max_tokens=1000))]
    need = budget.prompt_tokens(call().messages, 1.0) + 1000
    assert sum(slept) == pytest.approx(need / 100)
    assert all(isinstance(e, AgentWaiting) for e in events) and events[0].wait == pytest.approx(need / 100)
    assert "waiting for" in events[0].reason and "6,000 tokens a minute" in events[0].reason
    assert budget.book.get("m").tokens.available(clock.now) == pytest.approx(0, abs=1e-6)  # type: ignore[union-attr]


async def test_an_exhausted_daily_limit_fails_at_once_with_its_reset_time():
    clock = Clock()
    budget = budget_with(ModelLimits(requests=Window(1000, 0.0, clock.now, 1000 / DAY)), clock)
    with pytest.raises(ProviderError) as info:
        async for _ in budget.clear(AGENT, call()):
            pass
    assert info.value.kind == "rate_limited"
    assert "daily limit of 1,000 requests reached; it frees in 1m27s" in str(info.value)


async def test_a_model_with_no_known_limits_is_sent_at_once_and_nothing_is_written(tmp_path):
    budget = Budget(LimitsBook(tmp_path / "limits.json"), {})
    assert [e async for e in budget.clear(AGENT, call())] == []
    budget.settle(call(), Usage(10, 10))
    assert not (tmp_path / "limits.json").exists()


async def test_unused_max_tokens_come_back_and_the_token_ratio_is_learned():
    clock = Clock()
    budget = budget_with(ModelLimits(tokens=Window(8000, 8000.0, clock.now, 8000 / 60)), clock)
    sent = call("word " * 300, max_tokens=1000)
    _ = [e async for e in budget.clear(AGENT, sent)]
    taken = 8000 - budget.book.get("m").tokens.remaining  # type: ignore[union-attr]
    budget.settle(sent, Usage(prompt_tokens=300, completion_tokens=100))
    known = budget.book.get("m")
    assert known.tokens.remaining == pytest.approx(8000 - taken + 900)  # type: ignore[union-attr]
    assert known.token_ratio == pytest.approx(300 / budget.prompt_tokens(sent.messages, 1.0))


async def test_the_prefix_sent_before_is_not_counted_again():
    clock = Clock()
    budget = budget_with(ModelLimits(tokens=Window(100_000, 100_000.0, clock.now, 0.0)), clock)
    question = "word " * 3000
    first, second = call(question), call(question, answers=("a", "b"))
    for sent in (first, second):
        _ = [e async for e in budget.clear(AGENT, sent)]
    used = 100_000 - budget.book.get("m").tokens.remaining  # type: ignore[union-attr]
    answers_only = budget.prompt_tokens(second.messages[-1:], 1.0)
    assert used == budget.prompt_tokens(first.messages, 1.0) + 2048 + answers_only + 2048


@pytest.mark.parametrize(
    ("model", "takes"),
    [("openai/gpt-oss-120b", True), ("ollama:gpt-oss:20b", True), ("openai:o3-mini", True), ("openai:gpt-5-mini", True),
     ("qwen/qwen3.8-27b", False), ("openai:gpt-4.1", False), ("openrouter:openai/o3", False)],
)
def test_reasoning_effort_is_known_to_be_taken_by_gpt_oss_and_openais_reasoning_models(model, takes):
    from moa_cli.model_limits import takes_reasoning_effort

    assert takes_reasoning_effort(model) is takes


async def test_reasoning_effort_goes_only_to_models_that_take_it_the_specs_own_first():
    from memory_provider import MemoryProvider

    from moa_cli.engine import MoaRun
    from moa_cli.request import ModelSpec, MoaRequest

    provider = MemoryProvider()
    references = (ModelSpec("openai/gpt-oss-20b"), ModelSpec("qwen/qwen3.8-27b"))
    request = MoaRequest("q", references, ModelSpec("openai/gpt-oss-120b", reasoning_effort="high"), reasoning_effort="low")
    async for _ in MoaRun(request, provider, budget=Budget(LimitsBook(None))):
        pass
    efforts = {c.model: c.reasoning_effort for c in provider.calls}
    assert efforts == {"openai/gpt-oss-20b": "low", "qwen/qwen3.8-27b": None, "openai/gpt-oss-120b": "high"}


async def test_the_groq_sdk_sends_reasoning_effort_in_the_request_body():
    from groq_server import GroqServer

    from moa_cli.providers.groq import GroqProvider
    from moa_cli.providers.registry import BUILTIN_PROVIDERS

    with GroqServer() as server:
        config = replace(BUILTIN_PROVIDERS["groq"], base_url=server.base_url)
        provider = GroqProvider(config, api_key="k", timeout=10)
        async for _ in provider.stream(replace(call(), model="openai/gpt-oss-20b", reasoning_effort="low")):
            pass
        await provider.aclose()
    assert server.requests[0].body["reasoning_effort"] == "low"


def test_a_calls_cost_counts_cached_input_at_its_own_price():
    budget = budget_with(price=(0.15, 0.075, 0.60))
    assert budget.cost("m", Usage(prompt_tokens=1000, completion_tokens=500, cached_tokens=400)) == pytest.approx(
        (600 * 0.15 + 400 * 0.075 + 500 * 0.60) / 1e6
    )
    assert budget.cost("unpriced", Usage(1, 1)) is None


async def test_a_request_larger_than_the_announced_limit_fails_instead_of_waiting_forever():
    clock = Clock()
    budget = budget_with(ModelLimits(tokens=Window(1000, 1000.0, clock.now, 10.0)), clock)
    with pytest.raises(ProviderError) as info:
        async for _ in budget.clear(AGENT, call(max_tokens=2000)):
            pass
    assert info.value.kind == "too_large" and "more than it will ever allow" in str(info.value)


def test_a_reference_waiting_for_its_rate_limit_gets_its_panel_before_its_request_leaves() -> None:
    """The live renderer is given no run: a reference's wait comes before its AgentStarted."""
    import io

    from rich.console import Console

    from moa_cli.events import AgentResult, AgentStarted, AgentWaiting, TextDelta
    from moa_cli.ui.live import LiveRenderer

    reference = Agent("reference", 1, 0, "m")
    renderer = LiveRenderer(Console(file=io.StringIO(), width=80, force_terminal=True), layers=1)
    try:
        renderer.handle(AgentWaiting(reference, 12.0, "waiting for 6,000 of 8,000 tokens a minute"))
        assert "sending in 12s" in renderer.panels[reference].note
        result = AgentResult(reference, text_parts=["hello"])
        renderer.handle(AgentStarted(reference, result))
        renderer.handle(TextDelta(reference, "hello"))
        assert renderer.panels[reference].result is result
    finally:
        renderer.live.stop()
