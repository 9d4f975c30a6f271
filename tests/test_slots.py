"""Slots, the per-provider limit on requests at once, and what the engine makes of queued and restarted calls."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from moa_cli.engine import MoaRun
from moa_cli.events import AgentQueued, AgentRetrying, Finished
from moa_cli.providers.base import ChatCall, Chunk, Delta, Finish, Queued, Retrying
from moa_cli.providers.slots import Slots
from moa_cli.request import MoaRequest, ModelSpec


async def test_slots_let_in_at_most_the_limit_in_arrival_order() -> None:
    slots = Slots(2)
    order: list[int] = []
    running = 0
    most = 0
    gate = asyncio.Event()

    async def use(n: int) -> None:
        nonlocal running, most
        await slots.acquire()
        order.append(n)
        running += 1
        most = max(most, running)
        await gate.wait()
        running -= 1
        slots.release()

    tasks = [asyncio.create_task(use(n)) for n in range(5)]
    await asyncio.sleep(0)
    assert order == [0, 1] and slots.must_wait()
    gate.set()
    await asyncio.gather(*tasks)
    assert (order, most, slots.busy) == ([0, 1, 2, 3, 4], 2, 0)


async def test_a_lowered_limit_holds_newcomers_until_the_holders_are_few_enough() -> None:
    slots = Slots(None)
    for _ in range(3):
        await slots.acquire()
    slots.limit = 1
    waiter = asyncio.create_task(slots.acquire())
    slots.release()
    slots.release()
    await asyncio.sleep(0)
    assert not waiter.done()
    slots.release()
    await waiter
    assert slots.busy == 1


async def test_a_cancelled_waiter_gives_up_its_place_and_leaks_no_slot() -> None:
    slots = Slots(1)
    await slots.acquire()
    waiter = asyncio.create_task(slots.acquire())
    await asyncio.sleep(0)
    waiter.cancel()
    await asyncio.gather(waiter, return_exceptions=True)
    slots.release()
    assert (slots.busy, slots.must_wait()) == (0, False)


class Restarting:
    """Queues, streams half an answer, restarts, then answers whole."""

    async def stream(self, call: ChatCall) -> AsyncIterator[Chunk]:
        yield Queued(True)
        yield Queued(False)
        yield Delta("text", "half ")
        yield Retrying(0.0, f"{call.model}: cut off; asking again", restart=True)
        yield Delta("text", "whole answer")
        yield Finish("stop")

    async def aclose(self) -> None:
        pass


async def test_the_engine_reports_queueing_and_forgets_a_restarted_answer() -> None:
    request = MoaRequest(question="q", references=(ModelSpec("r"),), aggregator=ModelSpec("a"))
    events = [event async for event in MoaRun(request, Restarting())]
    assert [e.waiting for e in events if isinstance(e, AgentQueued)] == [True, False, True, False]
    assert sum(isinstance(e, AgentRetrying) for e in events) == 2
    result = events[-1].result if isinstance(events[-1], Finished) else None
    assert result is not None and result.status == "complete"
    assert result.references[0].text == "whole answer" and not result.references[0].queued
    assert result.answer == "whole answer"
