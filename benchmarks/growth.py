"""How the cost of building a turn's request grows with the session: 10, 100, 1,000 stored turns.

Measured in process: ``Store.history(session_id)`` plus building the engine's request from it (the
CLI's ``build_request``, which trims the history to the context window) plus the messages one
reference receives.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

SIZES = (10, 100, 1000)


def _result(question: str, answer: str) -> Any:
    from moa_cli.events import Agent, AgentResult, MoaResult, Usage

    def agent(role: str, index: int, model: str, text: str) -> AgentResult:
        return AgentResult(Agent(role, 1 if role == "reference" else 2, index, model), [text],  # type: ignore[arg-type]
                           usage=Usage(40, 300), status="done", started_at=0.0, first_token_at=0.2, finished_at=1.0)

    references = [agent("reference", i, f"ref/{i}", answer) for i in range(1, 5)]
    return MoaResult(question, references, agent("aggregator", 0, "agg/x", answer), "complete",
                     started_at=0.0, finished_at=2.0)


def _build(store: Any, session_id: str, question: str) -> Any:
    from moa_cli.config import Settings
    from moa_cli.prompts import build_messages
    from moa_cli.request import MoaRequest

    history = store.history(session_id)
    try:
        from moa_cli.app.requests import build_request
    except ImportError:  # before the CLI trims history
        request = MoaRequest(question, Settings().references, Settings().aggregator, tuple(history))
    else:
        request, _ = build_request(Settings(), question, history)
    return build_messages(request.question, request.history, request.system)


def session_growth(tmp: Path, make_text: Any, repeats: int = 20) -> list[tuple[int, float, int]]:
    """(turns stored, median seconds to build the request, messages kept) for each of SIZES."""
    from moa_cli.store import Store

    question, answer = make_text(20), make_text(300)
    out = []
    with Store.open(tmp / "growth" / "moa.db") as store:
        session = store.create_session("bench")
        stored = 0
        for size in SIZES:
            for _ in range(size - stored):
                turn = store.begin_turn(session.id, question, {"references": ["ref/1"], "aggregator": "agg/x"})
                store.finish_turn(turn, _result(question, answer))
            stored = size
            times = []
            for _ in range(repeats):
                started = time.perf_counter()
                messages = _build(store, session.id, question)
                times.append(time.perf_counter() - started)
            out.append((size, statistics.median(times), len(messages)))
    return out
