"""Each reference's answer is stored as it ends, yet never between the last one and the aggregator's request:
the engine hands on the end of a layer once the next stage's requests are out."""

from __future__ import annotations

from pathlib import Path

import pytest

from memory_provider import MemoryProvider, Script

from moa_cli.app.turn import drive
from moa_cli.budget import Budget
from moa_cli.engine import MoaRun
from moa_cli.limits import LimitsBook
from moa_cli.recorder import TurnRecorder
from moa_cli.request import MoaRequest, ModelSpec
from moa_cli.settings import Settings
from moa_cli.store import Store


@pytest.mark.parametrize(
    ("delay", "expected"),
    [
        # "slow" ends 20 ms after "quick": both rows are written once the aggregator's request is out.
        (0.005, [("request", "quick"), ("request", "slow"), ("request", "agg"), ("row", "quick"), ("row", "slow")]),
        # "slow" goes on for 400 ms: "quick" is written after HELD_AT_MOST, "slow" after the aggregator's request.
        (0.1, [("request", "quick"), ("request", "slow"), ("row", "quick"), ("request", "agg"), ("row", "slow")]),
    ],
)
async def test_the_aggregators_request_leaves_before_the_layers_last_rows_are_written_and_all_are_stored(
    tmp_path: Path, delay: float, expected: list[tuple[str, str]]
) -> None:
    provider = MemoryProvider({"quick": Script("a b"), "slow": Script("c d e f", delay=delay)})
    order: list[tuple[str, str]] = []
    stream = provider.stream
    provider.stream = lambda call: (order.append(("request", call.model)), stream(call))[1]  # type: ignore[method-assign]
    request = MoaRequest("q", (ModelSpec("quick"), ModelSpec("slow")), ModelSpec("agg"))
    with Store.open(tmp_path / "moa.db") as store:
        session = store.create_session()
        recorder = TurnRecorder(store, session.id, "q", Settings())
        save = store.save_agents
        store.save_agents = lambda turn, results: (order.extend(("row", r.agent.model) for r in results), save(turn, results))[1]  # type: ignore[method-assign]
        result = await drive(MoaRun(request, provider, budget=Budget(LimitsBook(None))), [recorder])
        assert order == expected
        assert result.status == "complete"
        [turn] = store.turns(session.id, with_agents=True)
        assert {(a.model, a.status, a.text) for a in turn.agents if a.role == "reference"} == {
            ("quick", "done", "a b"),
            ("slow", "done", "c d e f"),
        }


async def test_references_that_end_together_are_written_in_one_transaction(tmp_path: Path) -> None:
    names = [f"ref{i}" for i in range(8)]
    provider = MemoryProvider({**{name: Script(f"{name} says") for name in names}, "agg": Script("all say")})
    request = MoaRequest("q", tuple(ModelSpec(name) for name in names), ModelSpec("agg"))
    with Store.open(tmp_path / "moa.db") as store:
        session = store.create_session()
        recorder = TurnRecorder(store, session.id, "q", Settings())
        writes: list[list[str]] = []
        save = store.save_agents
        store.save_agents = lambda turn, results: (writes.append([r.agent.model for r in results]), save(turn, results))[1]  # type: ignore[method-assign]
        result = await drive(MoaRun(request, provider, budget=Budget(LimitsBook(None))), [recorder])
        assert result.status == "complete"
        assert [sorted(write) for write in writes] == [sorted(names)]
        [turn] = store.turns(session.id, with_agents=True)
        assert sorted(a.text for a in turn.agents if a.role == "reference") == sorted(f"{name} says" for name in names)
