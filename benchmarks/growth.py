"""How the cost of a turn's requests grows with the session: 10, 100, 1,000 stored turns.

Measured in process, through the real provider and the groq SDK's client: from ``Conversation``
reading the history out of the store (as ``moa ask -c`` does) to the 1st and the 4th reference
request handed to the HTTP client (stamped by moa's ``--verbose`` request hook). The server,
``tests/groq_server.py``, runs in a process of its own, so that its parsing of the bodies does not
hold the measured process's GIL. Each turn is a 20-token question and a 300-token answer.
"""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

SERVER = Path(__file__).resolve().parent.parent / "tests" / "groq_server.py"

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


@contextmanager
def server_process(text: str) -> Iterator[str]:
    """``tests/groq_server.py`` in a process of its own, answering ``text`` to every model; its URL."""
    with tempfile.NamedTemporaryFile("w", suffix=".json") as profile:
        json.dump({"*": {"text": text}}, profile)
        profile.flush()
        proc = subprocess.Popen([sys.executable, str(SERVER), "--profile", profile.name],
                                stdout=subprocess.PIPE, text=True)
        try:
            assert proc.stdout is not None
            ready = proc.stdout.readline().split()
            if ready[:1] != ["READY"]:
                raise RuntimeError(f"groq_server.py did not start: {ready}")
            yield ready[1]
        finally:
            proc.terminate()
            proc.wait(10)


async def _one_turn(env: Mapping[str, str], session_id: str, stamps: _Stamps) -> tuple[float, float]:
    """Seconds from reading the history to the 1st and to the 4th reference request handed to the
    HTTP client."""
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
    return stamps.posts[0] - started, stamps.posts[len(REFS) - 1] - started


def session_growth(
    env: Mapping[str, str], make_text: Any, repeats: int = 9, sizes: tuple[int, ...] = SIZES
) -> list[tuple[int, list[float], list[float]]]:
    """(turns stored, seconds to the 1st request, to the 4th) for each of ``sizes``, ``repeats`` each,
    in ``env``'s store, against a server of its own."""
    from moa_cli.log import LOGGER

    stamps = _Stamps()
    LOGGER.addHandler(stamps)
    LOGGER.setLevel(logging.DEBUG)  # moa's HTTP hooks are on under --verbose only
    try:
        out = []
        with server_process(make_text(8)) as url:
            env = {**env, "GROQ_BASE_URL": url}
            for size in sizes:
                session_id = fill_session(env, size, make_text, name=f"s{size}")
                times = [asyncio.run(_one_turn(env, session_id, stamps)) for _ in range(repeats + 1)]
                times = times[1:]  # the first imports the SDK's parts
                out.append((size, [first for first, _ in times], [last for _, last in times]))
        return out
    finally:
        LOGGER.removeHandler(stamps)
        LOGGER.setLevel(logging.NOTSET)
