"""A long session is continued by reading only its newest turns, and sends what reading all would."""

from __future__ import annotations

from pathlib import Path

from conftest import run_moa
from groq_server import Behavior, GroqServer

from moa_cli.app.requests import build_request
from moa_cli.config import load_config
from moa_cli.events import Agent, AgentResult, MoaResult
from moa_cli.store import Store

TURNS = 1000


def finish(store: Store, session_id: str, question: str, answer: str, status: str = "complete") -> int:
    turn = store.begin_turn(session_id, question, {"references": ["ref/a"], "aggregator": "agg/x"})
    aggregator = AgentResult(Agent("aggregator", 2, 0, "agg/x"), [answer], status="done" if answer else "failed")
    store.finish_turn(turn, MoaResult(question, [], aggregator, status, started_at=0.0, finished_at=1.0))
    return turn


def test_ask_c_on_a_thousand_turn_session_sends_the_newest_turns_that_fit_as_reading_all_would(
    groq_server: GroqServer, moa_env: dict[str, str], tmp_path: Path
) -> None:
    config = tmp_path / "moa.toml"
    config.write_text("context_window = 60000\nmax_tokens = 1000\n")
    moa_env["MOA_CONFIG"] = str(config)
    with Store.open(env=moa_env) as store:
        session = store.create_session("long")
        for n in range(TURNS):
            answer = f"answer {n}: " + "é word " * (n % 37 * 20)  # sizes vary; non-ASCII too
            if n % 97 == 5:
                finish(store, session.id, f"question {n}", "", status="failed")
            elif n % 89 == 3:
                store.mark_retried(finish(store, session.id, f"question {n}", answer))
            else:
                finish(store, session.id, f"question {n}", answer, status="interrupted" if n % 50 == 0 else "complete")
        full = store.history(session.id)
    groq_server.set("agg/x", Behavior(text="the answer"))

    proc = run_moa(["ask", "-c", "-m", "ref/a", "-m", "ref/b", "-a", "agg/x", "And now?"], moa_env)

    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.decode().strip() == "the answer"
    settings = load_config(env=moa_env).resolve(None, references=("ref/a", "ref/b"), aggregator="agg/x")
    expected, dropped = build_request(settings, "And now?", full)
    assert 0 < dropped < TURNS
    sent = [m.as_dict() for m in (*expected.history,)] + [{"role": "user", "content": "And now?"}]
    for model in ("ref/a", "ref/b"):
        (request,) = groq_server.requests_for(model)
        assert request.messages == sent
    assert groq_server.requests_for("agg/x")[0].messages[:-1] == sent
    assert f"left out the {dropped} oldest turns of this session" in proc.stderr.decode()
