"""The engine on its own, against an in-memory provider: order of calls, prompts, failures, timing."""

from __future__ import annotations

import asyncio

import pytest
from memory_provider import MemoryProvider, Script, failure

from moa_cli.engine import MoaRun
from moa_cli.errors import ProviderError
from moa_cli.events import AgentDone, AgentFailed, AgentStarted, Finished, TextDelta
from moa_cli.prompts import AGGREGATE_PROMPT
from moa_cli.request import Message, MoaRequest, ModelSpec


def request(*refs: str, aggregator: str = "agg", **kwargs: object) -> MoaRequest:
    return MoaRequest(
        question="What is MoA?",
        references=tuple(ModelSpec(r) for r in refs),
        aggregator=ModelSpec(aggregator),
        **kwargs,  # type: ignore[arg-type]
    )


async def collect(run: MoaRun) -> list[object]:
    return [event async for event in run]


async def test_every_reference_starts_before_any_answers() -> None:
    provider = MemoryProvider({m: Script("a b c", delay=0.01) for m in ("r1", "r2", "r3")})
    events = await collect(MoaRun(request("r1", "r2", "r3"), provider))
    kinds = [type(e).__name__ for e in events]
    first_delta = kinds.index("TextDelta")
    assert kinds[:first_delta].count("AgentStarted") == 3


async def test_aggregator_sees_every_successful_answer_and_not_the_failed_one() -> None:
    provider = MemoryProvider(
        {"r1": Script("alpha answer"), "r2": Script(fail=failure("r2")), "r3": Script("gamma answer")}
    )
    run = MoaRun(request("r1", "r2", "r3"), provider)
    events = await collect(run)
    aggregator_call = provider.calls[-1]
    assert aggregator_call.model == "agg"
    answers = aggregator_call.messages[-1].content
    assert AGGREGATE_PROMPT in answers
    assert "1. alpha answer" in answers and "2. gamma answer" in answers
    assert aggregator_call.messages[-2] == Message("user", "What is MoA?")
    assert run.result.status == "complete"
    assert run.result.answer == "agg answer"
    failed = [e for e in events if isinstance(e, AgentFailed)]
    assert [f.result.agent.model for f in failed] == ["r2"]
    assert isinstance(events[-1], Finished)


async def test_all_references_failing_fails_the_run_without_calling_the_aggregator() -> None:
    provider = MemoryProvider({"r1": Script(fail=failure("r1")), "r2": Script(fail=failure("r2", "timeout"))})
    run = MoaRun(request("r1", "r2"), provider)
    await collect(run)
    assert run.result.status == "failed"
    assert "all 2 reference models failed" in (run.result.error or "")
    assert [c.model for c in provider.calls] == ["r1", "r2"]


async def test_shared_auth_failure_is_reported_once() -> None:
    provider = MemoryProvider({m: Script(fail=failure(m, "auth")) for m in ("r1", "r2")})
    run = MoaRun(request("r1", "r2"), provider)
    await collect(run)
    assert run.result.error == "r1: boom (auth)"


async def test_aggregator_failure_keeps_reference_answers() -> None:
    provider = MemoryProvider({"r1": Script("kept text"), "agg": Script("partial more", fail=failure("agg"), fail_after=1)})
    run = MoaRun(request("r1"), provider)
    await collect(run)
    assert run.result.status == "failed"
    assert run.result.references[0].text == "kept text"
    assert run.result.aggregator is not None and run.result.aggregator.text == "partial "


async def test_second_layer_references_see_first_layer_answers() -> None:
    provider = MemoryProvider()
    run = MoaRun(request("r1", "r2", layers=2), provider)
    await collect(run)
    layer2 = provider.calls[2:4]
    for call in layer2:
        assert "1. r1 answer" in call.messages[-1].content and "2. r2 answer" in call.messages[-1].content
    assert [c.model for c in provider.calls] == ["r1", "r2", "r1", "r2", "agg"]
    assert [r.agent.layer for r in run.result.references] == [1, 1, 2, 2]


async def test_history_and_system_prompt_reach_references_and_aggregator() -> None:
    history = (Message("user", "earlier q"), Message("assistant", "earlier a"))
    provider = MemoryProvider()
    await collect(MoaRun(request("r1", history=history, system="Be brief."), provider))
    reference, aggregator = provider.calls
    assert reference.messages == (Message("system", "Be brief."), *history, Message("user", "What is MoA?"))
    # One identical prefix, the answers after it: what a prompt cache can serve.
    assert aggregator.messages[:-1] == reference.messages
    assert aggregator.messages[-1].content.startswith(AGGREGATE_PROMPT)


async def test_per_model_settings_override_request_defaults() -> None:
    provider = MemoryProvider()
    req = MoaRequest(
        question="q",
        references=(ModelSpec("r1", temperature=0.1, max_tokens=50, system="terse"), ModelSpec("r2")),
        aggregator=ModelSpec("agg"),
        temperature=0.9,
        max_tokens=500,
    )
    await collect(MoaRun(req, provider))
    r1, r2, _ = provider.calls
    assert (r1.temperature, r1.max_tokens, r1.messages[0].content) == (0.1, 50, "terse")
    assert (r2.temperature, r2.max_tokens, r2.messages[0].role) == (0.9, 500, "user")


async def test_reference_timeout_leaves_out_the_slow_model_and_keeps_its_partial_text() -> None:
    provider = MemoryProvider({"fast": Script("quick"), "slow": Script("one two three four five six", delay=0.2)})
    run = MoaRun(request("fast", "slow", ref_timeout=0.3), provider)
    events = await collect(run)
    slow = run.result.references[1]
    assert slow.status == "timed_out"
    assert slow.text.startswith("one ")
    assert "left out" in (slow.error or "")
    assert run.result.status == "complete"
    assert "quick" in provider.calls[-1].messages[-1].content
    assert "one" not in provider.calls[-1].messages[-1].content
    assert provider.open_streams == 0
    assert any(isinstance(e, AgentFailed) and e.result is slow for e in events)


async def test_straggler_policy_drops_a_reference_ten_times_slower() -> None:
    scripts = {f"f{i}": Script("a b", delay=0.02) for i in range(3)}
    scripts["slow"] = Script("a b", delay=0.4)
    provider = MemoryProvider(scripts)
    run = MoaRun(request("f0", "f1", "f2", "slow", straggler_factor=2.0), provider)
    loop = asyncio.get_running_loop()
    start = loop.time()
    await collect(run)
    assert run.result.references[3].status == "dropped"
    assert run.result.status == "complete"
    assert loop.time() - start < 0.4


async def test_cancelling_mid_answer_marks_the_run_interrupted_and_closes_streams() -> None:
    provider = MemoryProvider({"r1": Script("one two three four", delay=0.05), "r2": Script("x y z w", delay=0.05)})
    run = MoaRun(request("r1", "r2"), provider)
    seen = asyncio.Event()

    async def consume() -> None:
        async for event in run:
            if isinstance(event, TextDelta):
                seen.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(seen.wait(), 2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert run.result.status == "interrupted"
    assert all(r.status == "interrupted" for r in run.result.references)
    assert run.result.references[0].text.startswith("one")
    assert provider.open_streams == 0


async def test_events_bracket_each_agent_with_started_and_done() -> None:
    provider = MemoryProvider()
    events = await collect(MoaRun(request("r1"), provider))
    assert isinstance(events[0], AgentStarted)
    done = [e for e in events if isinstance(e, AgentDone)]
    assert [d.result.agent.role for d in done] == ["reference", "aggregator"]
    assert done[1].result.usage is not None and done[1].result.usage.completion_tokens == 2


async def test_quick_failures_do_not_start_the_straggler_clock() -> None:
    provider = MemoryProvider(
        {"bad1": Script(fail=failure("bad1", "auth")), "bad2": Script(fail=failure("bad2", "auth")),
         "slow": Script("a b c", delay=0.05)}
    )
    run = MoaRun(request("bad1", "bad2", "slow", straggler_factor=2.0), provider)
    await collect(run)
    assert run.result.references[2].status == "done"
    assert run.result.status == "complete"


async def test_one_cause_for_every_failure_is_said_once() -> None:
    def refused(model: str) -> Script:
        return Script(fail=ProviderError(f"{model}: cannot connect to http://x", kind="connection", model=model))

    provider = MemoryProvider({m: refused(m) for m in ("r1", "r2", "r3")})
    run = MoaRun(request("r1", "r2", "r3"), provider)
    await collect(run)
    assert run.result.error == "cannot connect to http://x (all 3 reference models)"


async def test_the_aggregator_is_announced_only_once_its_request_has_reached_the_server() -> None:
    from dataclasses import replace

    from groq_server import Behavior, GroqServer

    from moa_cli.providers.groq import GroqProvider
    from moa_cli.providers.registry import BUILTIN_PROVIDERS

    with GroqServer() as server:
        server.set("agg", Behavior(text="the answer", first_token_delay=0.3))
        provider = GroqProvider(replace(BUILTIN_PROVIDERS["groq"], base_url=server.base_url), api_key="k", timeout=10)
        seen_by_server: list[str] = []
        async for event in MoaRun(request("r1", "r2"), provider):
            if isinstance(event, AgentStarted) and event.agent.role == "aggregator":
                seen_by_server = [r.model for r in server.requests]
        await provider.aclose()
    assert seen_by_server[-1] == "agg"
