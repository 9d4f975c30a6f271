"""Pausing caught-up reference streams, and never pausing the one the aggregator waits for."""

from __future__ import annotations

import asyncio

from memory_provider import MemoryProvider, Script

from moa_cli.engine import REFERENCE_READ_INTERVAL, MoaRun
from moa_cli.providers.base import Pace
from moa_cli.request import MoaRequest, ModelSpec


async def test_release_ends_a_pause_in_progress_at_once() -> None:
    pace = Pace(30.0)
    pausing = asyncio.ensure_future(pace.pause())
    await asyncio.sleep(0)
    pace.release()
    await asyncio.wait_for(pausing, 0.5)
    assert pace.interval == 0.0


async def test_the_last_running_reference_is_released_and_the_aggregator_never_paced() -> None:
    provider = MemoryProvider({"fast": Script("a b"), "slow": Script("a b c d", delay=0.02)})
    request = MoaRequest("q", (ModelSpec("fast"), ModelSpec("slow")), ModelSpec("agg"))
    [event async for event in MoaRun(request, provider)]
    fast, slow, aggregator = provider.calls
    assert fast.pace is not None and fast.pace.interval == REFERENCE_READ_INTERVAL
    assert slow.pace is not None and slow.pace.interval == 0.0
    assert aggregator.pace is None


async def test_the_others_keep_their_pace_until_one_is_left() -> None:
    scripts = {"fast": Script("a b"), "mid": Script("a b c", delay=0.01), "slow": Script("a b c d", delay=0.02)}
    provider = MemoryProvider(scripts)
    request = MoaRequest("q", (ModelSpec("fast"), ModelSpec("mid"), ModelSpec("slow")), ModelSpec("agg"))
    [event async for event in MoaRun(request, provider)]
    fast, mid, slow, _ = provider.calls
    assert fast.pace is not None and fast.pace.interval == REFERENCE_READ_INTERVAL
    assert mid.pace is not None and mid.pace.interval == REFERENCE_READ_INTERVAL
    assert slow.pace is not None and slow.pace.interval == 0.0


async def test_wake_ends_a_long_pause_and_keeps_the_next_as_long() -> None:
    pace = Pace(30.0)
    pausing = asyncio.ensure_future(pace.pause())
    await asyncio.sleep(0)
    pace.wake()
    await asyncio.wait_for(pausing, 0.5)
    assert pace.interval == 30.0
