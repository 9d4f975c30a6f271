"""The live panels are redrawn while references stream, but not between the last reference and the
next stage: a redraw holds the GIL for milliseconds, and the aggregator's request goes first."""

from __future__ import annotations

import io
import threading

from rich.console import Console

from moa_cli.events import Agent, AgentResult, AgentStarted, MoaResult
from moa_cli.ui.live import LiveRenderer


def counted(renderer: LiveRenderer) -> tuple[threading.Event, list[int]]:
    """An event set on each of ``renderer``'s redraws, and a list that grows by one with each."""
    drawn = threading.Event()
    draws: list[int] = []
    refresh = renderer.live.refresh

    def count() -> None:
        draws.append(1)
        drawn.set()
        refresh()

    renderer.live.refresh = count  # type: ignore[method-assign]
    return drawn, draws


def test_no_redraw_between_the_last_reference_and_the_aggregator() -> None:
    console = Console(file=io.StringIO(), force_terminal=True, width=100, height=30)
    renderer = LiveRenderer(console, refresh_per_second=200)
    drawn, _ = counted(renderer)
    results = [AgentResult(Agent("reference", 1, i, f"ref/{i}")) for i in range(2)]
    for result in results:
        renderer.handle(AgentStarted(result.agent, result))
    assert drawn.wait(5), "the panels are drawn while the references stream"
    results[0].status = "done"
    drawn.clear()
    assert drawn.wait(5), "still drawn while one reference streams"
    results[1].status = "done"  # as the engine marks it, before anyone hears of its end
    drawn.clear()
    drawn.wait(0.02)  # a redraw that began before may still finish
    drawn.clear()
    assert not drawn.wait(0.1), "20 redraw periods pass without a redraw: the hop goes first"
    aggregator = AgentResult(Agent("aggregator", 2, 0, "agg"))
    renderer.handle(AgentStarted(aggregator.agent, aggregator))
    assert drawn.wait(5), "drawn again once the aggregator has started"
    renderer.close(MoaResult("q"))


def test_redraws_wait_while_a_layers_references_keep_ending() -> None:
    console = Console(file=io.StringIO(), force_terminal=True, width=100, height=30)
    renderer = LiveRenderer(console, refresh_per_second=20)
    drawn, draws = counted(renderer)
    results = [AgentResult(Agent("reference", 1, i, f"ref/{i}")) for i in range(64)]
    for result in results:
        renderer.handle(AgentStarted(result.agent, result))
    assert drawn.wait(5), "the panels are drawn while the references stream"
    draws.clear()
    pause = threading.Event()
    for result in results[:60]:  # 60 ends over 0.3 s: six redraw periods
        result.status = "done"
        pause.wait(0.005)
    assert len(draws) <= 1, "at most a redraw already under way when the ends began"
    drawn.clear()
    assert drawn.wait(5), "drawn again once the ends stop, the last references still streaming"
    renderer.close(MoaResult("q"))
