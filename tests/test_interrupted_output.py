"""A run stopped while pieces of the answer are still on their way to the front end: they arrived,
so they are stored, and shown too. stdout and the terminal end with the answer the store keeps."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator

import pytest
from memory_provider import MemoryProvider
from rich.console import Console

from moa_cli.app.turn import drive
from moa_cli.budget import Budget
from moa_cli.engine import MoaRun
from moa_cli.events import MoaResult
from moa_cli.limits import LimitsBook
from moa_cli.providers.base import ChatCall, Chunk, Delta
from moa_cli.request import MoaRequest, ModelSpec
from moa_cli.ui.base import Renderer
from moa_cli.ui.live import LiveRenderer
from moa_cli.ui.plain import PlainRenderer


class StoppedMidAnswer(MemoryProvider):
    """References answer at once; the aggregator sends "w0 ", then "w1 ", and the run is stopped
    (as by Ctrl-C or SIGHUP: the driving task is cancelled) the moment "w1 " has been queued for
    the front end, before the front end had its turn."""

    driver: asyncio.Task[MoaResult] | None = None

    async def stream(self, call: ChatCall) -> AsyncIterator[Chunk]:
        if call.model != "agg":
            async for chunk in super().stream(call):
                yield chunk
            return
        yield Delta("text", "w0 ")
        await asyncio.sleep(0.05)  # "w0 " is shown; the front end waits for more
        yield Delta("text", "w1 ")
        assert self.driver is not None
        self.driver.cancel()  # "w1 " is in the answer and on its way: stop now
        await asyncio.sleep(30)


async def stopped_run(front: Renderer) -> MoaResult:
    request = MoaRequest("q", (ModelSpec("a"), ModelSpec("b")), ModelSpec("agg"))
    provider = StoppedMidAnswer()
    run = MoaRun(request, provider, budget=Budget(LimitsBook(None)))
    provider.driver = asyncio.ensure_future(drive(run, [front]))
    with pytest.raises(asyncio.CancelledError):
        await provider.driver
    return run.result


async def test_stdout_ends_with_every_piece_that_arrived_before_the_stop() -> None:
    out = io.StringIO()
    result = await stopped_run(PlainRenderer(out, io.StringIO()))
    assert result.aggregator is not None and result.aggregator.text == "w0 w1 "
    assert out.getvalue() == "w0 w1 \n"


async def test_the_terminal_shows_every_piece_that_arrived_before_the_stop() -> None:
    screen = io.StringIO()
    result = await stopped_run(LiveRenderer(Console(file=screen, force_terminal=True, width=80, height=24)))
    assert result.status == "interrupted"
    assert "w0 w1" in screen.getvalue()
