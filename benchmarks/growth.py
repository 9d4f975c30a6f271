"""How the cost of a turn's requests grows with the session: 10, 100, 1,000 stored turns.

Measured in process, through the real provider and the groq SDK's client against
``tests/groq_server.py``: from reading the history out of the store (as ``moa ask -c`` does) to
the last reference's request handed to the HTTP client (stamped by moa's ``--verbose`` request
hook). Each turn is a 20-token question and a 300-token answer.
"""

from __future__ import annotations

import asyncio
import logging
import statistics
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

SIZES = (10, 100, 1000)
REFS = ("ref/1", "ref/2", "ref/3", "ref/4")
AGG = "agg/x"
QUESTION = "And in one sentence?"


def _result(question: str, answer: str) -> Any:
    from moa_cli.events import Agent, AgentResult, MoaResult, Usage

    def agent(role: str, index: int, model: str, text: str) -> AgentResult:
        return AgentResult(Agent(role, 1 if role == "reference" else 2, index, model), [text],  # type: ignore[arg-type]
                           usage=Usage(40, 300), status="done", started_at=0.0, first_token_at=0.2, finished_at=1.0)

    references = [agent("reference", i, f"ref/{i}", answer) for i in range(1, 5)]
    return MoaResult(question, references, agent("aggregator", 0, AGG, answer), "complete",
                     started_at=0.0, finished_at=2.0)


def fill_session(env: Mapping[str, str], turns: int, make_text: Any, name: str = "long") -> str:
    """A session of ``turns`` finished turns in ``env``'s store (moa's own ``Store`` API); its id."""
    from moa_cli.store import Store

    question, answer = make_text(20), make_text(300)
    with Store.open(env=env) as store:
        session = store.create_session(name)
        for _ in range(turns):
            turn = store.begin_turn(session.id, question, {"references": list(REFS), "aggregator": AGG})
            store.finish_turn(turn, _result(question, answer))
    return session.id


class _Stamps(logging.Handler):
    """Stamps every request moa's ``--verbose`` hook logs (``POST <url> ...``)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.posts: list[float] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith("POST "):
            self.posts.append(time.perf_counter())


async def _one_turn(env: Mapping[str, str], session_id: str, stamps: _Stamps) -> float:
    """Seconds from reading the history to the last reference request handed to the HTTP client."""
    from moa_cli.app.conversation import Conversation
    from moa_cli.app.providers import make_provider
    from moa_cli.request import ModelSpec
    from moa_cli.settings import Settings
    from moa_cli.store import Store

    settings = Settings(references=tuple(ModelSpec(m) for m in REFS), aggregator=ModelSpec(AGG))
    provider = make_provider(settings, env)
    with Store.open(env=env) as store:
        session = store.find_session(session_id)
        stamps.posts.clear()
        started = time.perf_counter()
        turn = Conversation(settings, provider, store, session).prepare(QUESTION)
        try:
            await turn.drive()
        finally:
            await provider.aclose()
        store.mark_retried(turn.recorder.turn_id)  # the session stays as long as it was
    if len(stamps.posts) < len(REFS):
        raise RuntimeError(f"expected {len(REFS)} reference requests, saw {len(stamps.posts)}")
    return stamps.posts[len(REFS) - 1] - started


def session_growth(
    env: Mapping[str, str], make_text: Any, repeats: int = 9, sizes: tuple[int, ...] = SIZES
) -> list[tuple[int, float, list[float]]]:
    """(turns stored, median seconds, every sample) for each of ``sizes``, in ``env``'s store."""
    from moa_cli.log import LOGGER

    stamps = _Stamps()
    LOGGER.addHandler(stamps)
    LOGGER.setLevel(logging.DEBUG)  # moa's HTTP hooks are on under --verbose only
    try:
        out = []
        for size in sizes:
            session_id = fill_session(env, size, make_text, name=f"s{size}")
            times = [asyncio.run(_one_turn(env, session_id, stamps)) for _ in range(repeats + 1)]
            out.append((size, statistics.median(times[1:]), times[1:]))  # the first imports the SDK's parts
        return out
    finally:
        LOGGER.removeHandler(stamps)
        LOGGER.setLevel(logging.NOTSET)
