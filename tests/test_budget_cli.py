"""The free tier, end to end: Groq's limits emulated, the real CLI, two long questions back to back."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pytest
from conftest import run_moa
from groq_limits import FREE_TIER, Limiter
from groq_server import Behavior, GroqServer

MINUTE = 6.0
"""The emulated minute, shortened tenfold so the test waits seconds, not a minute."""
QUESTION = " ".join(f"word{i}" for i in range(600))


@pytest.fixture
def groq_server() -> Iterator[GroqServer]:
    answer = " ".join(f"point{i}" for i in range(1200))
    with GroqServer(default=Behavior(text=answer), limits=Limiter(FREE_TIER, minute=MINUTE)) as server:
        yield server


def test_two_long_questions_back_to_back_are_both_answered_without_413_or_429(
    groq_server: GroqServer, moa_env: dict[str, str]
) -> None:
    started = time.monotonic()
    first = run_moa(["ask", "First: " + QUESTION], moa_env, timeout=120)
    second = run_moa(["ask", "Second: " + QUESTION], moa_env, timeout=120)
    elapsed = time.monotonic() - started
    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    assert first.stdout.startswith(b"point0 point1") and second.stdout.startswith(b"point0 point1")
    statuses = [r.status for r in groq_server.requests]
    assert statuses == [200] * 8, statuses
    assert elapsed < 20 * MINUTE


def test_a_request_waits_for_the_minute_to_free_with_a_countdown_on_stderr(
    groq_server: GroqServer, moa_env: dict[str, str]
) -> None:
    import json
    from pathlib import Path

    # What another moa process left in the shared book: the aggregator's minute is spent, and
    # frees at 1,000 tokens a second: the aggregator needs ~4,700 (~4 s after its reference's ~1 s).
    book = Path(moa_env["XDG_DATA_HOME"]) / "moa" / "limits.json"
    book.parent.mkdir(parents=True)
    spent = {"limit": 8000, "remaining": 0.0, "at": time.time(), "rate": 1000.0}
    book.write_text(json.dumps({"version": 1, "models": {"openai/gpt-oss-120b": {"tokens": spent}}}))
    started = time.monotonic()
    proc = run_moa(["ask", "-m", "openai/gpt-oss-20b", "hello"], moa_env, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert time.monotonic() - started >= 2.0
    assert re.search(rb"openai/gpt-oss-120b: waiting for [\d,]+ of 8,000 tokens a minute; sending in \ds", proc.stderr)
    assert [r.status for r in groq_server.requests] == [200, 200]


def test_json_and_the_store_show_cached_tokens_and_cost_per_agent(
    groq_server: GroqServer, moa_env: dict[str, str]
) -> None:
    import json
    import sqlite3
    from pathlib import Path

    proc = run_moa(["ask", "--json", QUESTION], moa_env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    aggregator = data["aggregator"]
    # The aggregator's request repeats the 120b reference's word for word up to the question.
    usage = aggregator["usage"]
    assert usage["cached_tokens"] == 600
    expected = ((usage["prompt_tokens"] - 600) * 0.15 + 600 * 0.075 + usage["completion_tokens"] * 0.60) / 1e6
    assert aggregator["cost_usd"] == pytest.approx(expected)
    assert data["cost_usd"] == pytest.approx(sum(a["cost_usd"] for a in [*data["references"], aggregator]))
    db = sqlite3.connect(Path(moa_env["XDG_DATA_HOME"]) / "moa" / "moa.db")
    rows = db.execute("SELECT role, cached_tokens, cost FROM agent_outputs ORDER BY id").fetchall()
    assert rows[-1] == ("aggregator", 600, pytest.approx(expected))
    (turn_cost,) = db.execute("SELECT cost FROM turns").fetchone()
    assert turn_cost == pytest.approx(data["cost_usd"])


def test_the_last_status_line_shows_cached_tokens_and_each_agents_cost(
    groq_server: GroqServer, moa_env: dict[str, str]
) -> None:
    proc = run_moa(["ask", QUESTION], moa_env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    last = proc.stderr.decode().splitlines()[-1]
    assert last.startswith("moa: 3/3 references · ")
    assert "(600 cached) · $0.00" in last
    assert ", aggregator $0.00" in last and "(references $0.0008 + " in last


def test_moa_sessions_shows_each_sessions_total_cost(groq_server: GroqServer, moa_env: dict[str, str]) -> None:
    import json

    first = run_moa(["ask", "--json", QUESTION], moa_env, timeout=120)
    second = run_moa(["ask", "--json", "-c", "And then?"], moa_env, timeout=120)
    total = sum(json.loads(p.stdout)["cost_usd"] for p in (first, second))
    listing = run_moa(["sessions"], moa_env)
    assert "   2 turns  " in listing.stdout.decode() and f"${total:.4f}" in listing.stdout.decode()
    assert json.loads(run_moa(["sessions", "--json"], moa_env).stdout)[0]["cost"] == pytest.approx(total)


def test_on_a_terminal_the_aggregators_wait_counts_down_under_the_panels(
    groq_server: GroqServer, moa_env: dict[str, str]
) -> None:
    import json
    from pathlib import Path

    from test_ask_terminal import read_all, spawn, visible

    book = Path(moa_env["XDG_DATA_HOME"]) / "moa" / "limits.json"
    book.parent.mkdir(parents=True)
    spent = {"limit": 8000, "remaining": -3000.0, "at": time.time(), "rate": 1000.0}
    book.write_text(json.dumps({"version": 1, "models": {"agg/x": {"tokens": spent}}}))
    child = spawn(["ask", "-m", "ref/a", "-a", "agg/x", "q"], moa_env)
    child.expect("agg/x: waiting for")
    text = visible(read_all(child))
    assert child.exitstatus == 0
    assert re.search(r"of 8,000 tokens a minute; sending in \ds", text)
    assert "point0 point1" in text  # then the answer


def test_reasoning_effort_from_the_flag_reaches_only_the_models_that_take_it(
    groq_server: GroqServer, moa_env: dict[str, str]
) -> None:
    args = ["ask", "--reasoning-effort", "high", "-m", "openai/gpt-oss-20b", "-m", "qwen/qwen3.8-27b"]
    proc = run_moa([*args, "-a", "openai/gpt-oss-120b", "q"], moa_env, timeout=60)
    assert proc.returncode == 0, proc.stderr
    sent = {r.model: r.body.get("reasoning_effort") for r in groq_server.requests}
    assert sent == {"openai/gpt-oss-20b": "high", "qwen/qwen3.8-27b": None, "openai/gpt-oss-120b": "high"}


def test_a_bad_reasoning_effort_is_one_line_naming_the_flag(groq_server: GroqServer, moa_env: dict[str, str]) -> None:
    proc = run_moa(["ask", "--reasoning-effort", "max", "q"], moa_env)
    assert proc.returncode == 2
    assert proc.stderr.decode() == "moa: error: '--reasoning-effort' must be 'low' or 'medium' or 'high', not \"max\"\n"
    assert groq_server.requests == []


def test_a_long_session_is_trimmed_to_the_token_limit_before_the_aggregator_is_refused(
    groq_server: GroqServer, moa_env: dict[str, str]
) -> None:
    """History fits the smallest per-minute token limit known, not only the context window."""
    refs = ["-m", "openai/gpt-oss-20b", "-a", "openai/gpt-oss-120b", "--max-tokens", "300"]
    for n in range(4):
        proc = run_moa(["ask", *refs, "-c" if n else "--session=long", f"turn {n}: " + QUESTION], moa_env, timeout=120)
        assert proc.returncode == 0, proc.stderr
    assert b"oldest turns of this session to fit" in proc.stderr
    assert 413 not in [r.status for r in groq_server.requests]
