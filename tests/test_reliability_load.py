"""Issue #6 under load: many `moa ask` at once on one database, and one long `moa chat`.

``MOA_LONG_CHAT=1`` runs the 1,000-turn chat (about 30 s); by default a 200-turn one checks the
same flat-memory property between turn 50 and turn 200.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import time
from pathlib import Path

import procs
import pytest
from groq_server import Behavior, GroqServer
from test_reliability import REFS, assert_database_consistent, db_path, read_to_end, spawn_pty, stored_turns, use_config

from moa_cli.context import estimate_tokens
from moa_cli.store import Store

PROMPT = "you›"
TURN_END = r"\d+/\d+ references"
MB = 1024  # /proc/PID/status counts kB


def start_ask(env: dict[str, str], *args: str) -> subprocess.Popen[bytes]:
    return procs.popen(["ask", "-q", *args], env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_asks_at_once_on_one_database_lose_nothing(groq_server: GroqServer, moa_env: dict[str, str]) -> None:
    with Store.open(env=moa_env) as store:
        store.create_session("shared")
    expected = []
    for count in (2, 8):
        procs = []
        for i in range(count):
            question = f"round {count} question {i}"
            session = ["--session", "shared"] if i % 2 else []  # half write one session, half their own
            procs.append(start_ask(moa_env, *session, *REFS, question))
            expected.append(question)
        for proc in procs:
            stdout, stderr = proc.communicate(timeout=60)
            assert (proc.returncode, stderr) == (0, b""), stderr
            assert stdout.startswith(b"agg/x answers: round")
    assert_database_consistent(moa_env)
    turns = stored_turns(moa_env)
    assert sorted(t.question for t in turns) == sorted(expected)  # all 10, none twice
    assert all(t.status == "complete" and t.answer == f"agg/x answers: {t.question}" for t in turns)
    assert all(len(t.agents) == 3 for t in turns)
    with Store.open(env=moa_env) as store:
        shared = store.find_session("shared")
        assert shared is not None and shared.turns == 5
        assert [t.seq for t in store.turns(shared.id)] == [1, 2, 3, 4, 5]


def sleeping_in_sqlite(pid: int) -> bool:
    """True while the process's main thread sleeps in SQLite's busy handler (waiting for a lock)."""
    try:
        return "nanosleep" in Path(f"/proc/{pid}/wchan").read_text()
    except OSError:
        return False


@pytest.mark.skipif(not Path("/proc/self/wchan").exists(), reason="needs Linux /proc/PID/wchan")
def test_asks_creating_one_named_session_at_once_all_answer(groq_server: GroqServer, moa_env: dict[str, str]) -> None:
    Store.open(env=moa_env).close()
    blocker = sqlite3.connect(db_path(moa_env), isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # another writer: each moa finds no 'team', then waits to create it
    try:
        procs = [start_ask(moa_env, "--session", "team", *REFS, f"question {i}") for i in range(3)]
        deadline = time.monotonic() + 20
        while not all(sleeping_in_sqlite(p.pid) for p in procs):
            if time.monotonic() > deadline:
                for proc in procs:
                    proc.kill()
                    proc.communicate()
                pytest.skip("could not see the processes wait for the database lock in /proc/PID/wchan")
            time.sleep(0.01)
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    results = [p.communicate(timeout=30) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], [err for _, err in results]
    assert sorted(t.question for t in stored_turns(moa_env)) == [f"question {i}" for i in range(3)]


def memory_kb(pid: int) -> dict[str, int]:
    """VmRSS (now) and VmHWM (peak) of ``pid``, in kB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0])
    return fields


LONG = os.environ.get("MOA_LONG_CHAT") == "1"


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads RSS from /proc/PID/status")
@pytest.mark.parametrize(
    ("turns", "baseline"),
    [
        pytest.param(200, 50, id="200-turns"),
        pytest.param(
            1000, 100, id="1000-turns",
            marks=pytest.mark.skipif(not LONG, reason="about 30 s; run with MOA_LONG_CHAT=1"),
        ),
    ],
)
def test_a_long_chat_keeps_memory_flat_and_requests_bounded(
    groq_server: GroqServer, moa_env: dict[str, str], tmp_path: Path, turns: int, baseline: int
) -> None:
    window = 1_500
    use_config(moa_env, tmp_path, f"context_window = {window}\nmax_tokens = 100\n")
    groq_server.set("agg/x", Behavior(text="A steady answer of about twenty words, so that history fills the "
                                           "small context window within a few turns and is trimmed."))
    child = spawn_pty(["chat", "-m", "ref/a", "-a", "agg/x"], moa_env, encoding="utf-8")
    child.expect_exact(PROMPT)
    started = time.monotonic()
    at_baseline: dict[str, int] = {}
    for turn in range(1, turns + 1):
        child.send(f"question number {turn}\r")
        child.expect(TURN_END)
        child.expect_exact(PROMPT)
        if turn == baseline:
            at_baseline = memory_kb(child.pid)
    at_end = memory_kb(child.pid)
    elapsed = time.monotonic() - started
    child.sendcontrol("d")
    read_to_end(child)
    assert child.exitstatus == 0

    growth = at_end["VmHWM"] - at_baseline["VmHWM"]
    print(f"\n{turns} turns in {elapsed:.1f}s; RSS at turn {baseline}: {at_baseline}, at turn {turns}: {at_end}; "
          f"peak growth {growth / MB:.2f} MB")
    assert growth < 20 * MB

    sizes = [sum(estimate_tokens(m["content"]) for m in r.messages) for r in groq_server.requests]
    messages = [len(r.messages) for r in groq_server.requests_for("ref/a")]
    print(f"largest request ~{max(sizes)} tokens (window {window}); most messages in a request: {max(messages)}")
    assert max(sizes) <= window  # every request, references' and aggregator's, fits the window
    assert max(messages[baseline:]) <= max(messages[:baseline]) < 40  # trimmed early, no growth after

    records = stored_turns(moa_env)
    assert len(records) == turns  # trimming drops turns from requests, never from the database
    assert all(t.status == "complete" for t in records)
    assert records[-1].question == f"question number {turns}"
