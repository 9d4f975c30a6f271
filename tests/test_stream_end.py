"""A stream's end is heard at ``[DONE]``: closing its response comes after, off the hop."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace

from groq_server import Behavior, GroqServer

from moa_cli.engine import MoaRun
from moa_cli.events import AgentDone, Finished, Usage
from moa_cli.providers.base import ChatCall, Chunk, Delta, Finish
from moa_cli.providers.groq import GroqProvider
from moa_cli.providers.registry import BUILTIN_PROVIDERS
from moa_cli.request import Message, MoaRequest, ModelSpec


class SlowToClose:
    """Answers at once, then takes until ``closable`` is set to close each stream."""

    def __init__(self) -> None:
        self.closable = asyncio.Event()
        self.closed: list[str] = []

    async def stream(self, call: ChatCall) -> AsyncIterator[Chunk]:
        yield Delta("text", f"{call.model} answer")
        yield Usage(prompt_tokens=5, completion_tokens=2)
        yield Finish("stop")
        await self.closable.wait()
        self.closed.append(call.model)

    async def aclose(self) -> None:
        pass


async def test_a_reference_is_done_before_its_stream_has_closed() -> None:
    provider = SlowToClose()
    request = MoaRequest(question="q", references=(ModelSpec("r1"), ModelSpec("r2")), aggregator=ModelSpec("agg"))
    run = MoaRun(request, provider)
    done_before_closing = []

    async def watch() -> None:
        async for event in run:
            if isinstance(event, AgentDone) and event.result.agent.role == "reference":
                done_before_closing.append(event.result.agent.model not in provider.closed)
                provider.closable.set()
            if isinstance(event, Finished):
                break

    await asyncio.wait_for(watch(), 5)  # a reference heard only once closed never lets them close
    assert done_before_closing == [True, True]
    assert run.result.status == "complete" and run.result.answer == "agg answer"
    assert [r.status for r in run.result.references] == ["done", "done"]
    assert sorted(provider.closed) == ["agg", "r1", "r2"]  # the run waited for every stream to close


async def test_the_groq_stream_ends_once_and_its_connection_is_kept_for_the_next_request() -> None:
    with GroqServer(default=Behavior(text="fine answer")) as server:
        config = replace(BUILTIN_PROVIDERS["groq"], base_url=server.base_url)
        provider = GroqProvider(config, api_key="test-key", timeout=10)
        try:
            call = ChatCall("m", (Message("user", "hi"),), 0.5, 100)
            for _ in range(2):
                chunks = [chunk async for chunk in provider.stream(call)]
                assert [c for c in chunks if isinstance(c, Finish)] == [Finish("stop")]
                assert isinstance(chunks[-1], Finish)
                assert "".join(c.text for c in chunks if isinstance(c, Delta)) == "fine answer"
                assert len(server._connections) == 1  # read to its end: back in the pool, not dropped
        finally:
            await provider.aclose()


class ClosesWhenLetGo:
    """Answers (``r1`` first), then closes each stream when its pace lets it, noting whether the
    aggregator had been called by then."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.closed: dict[str, bool] = {}

    async def stream(self, call: ChatCall) -> AsyncIterator[Chunk]:
        self.calls.append(call.model)
        name = f"{call.model} of layer {self.calls.count(call.model)}"
        if call.model != "r1":
            await asyncio.sleep(0.01 * len(self.calls))  # r1 answers first
        yield Delta("text", f"{call.model} answer")
        yield Finish("stop")
        if call.pace is not None:
            await call.pace.closable()
        self.closed[name] = "agg" in self.calls

    async def aclose(self) -> None:
        pass


async def test_the_last_layer_closes_all_but_its_first_answer_after_the_aggregator_is_asked() -> None:
    provider = ClosesWhenLetGo()
    refs = (ModelSpec("r1"), ModelSpec("r2"), ModelSpec("r3"))
    run = MoaRun(MoaRequest(question="q", references=refs, aggregator=ModelSpec("agg"), layers=2), provider)
    await asyncio.wait_for(collect(run), 5)
    assert run.result.status == "complete"
    # Layer 1 closes at once: layer 2 needs every connection. Layer 2's r1 closes at once (its
    # connection serves the aggregator); r2 and r3 once the aggregator has been asked.
    assert provider.closed == {
        "r1 of layer 1": False, "r2 of layer 1": False, "r3 of layer 1": False,
        "r1 of layer 2": False, "r2 of layer 2": True, "r3 of layer 2": True, "agg of layer 1": True,
    }


async def collect(run: MoaRun) -> list[object]:
    return [event async for event in run]
