"""Every exchange is stored; `moa ask -c` continues, `moa sessions ...` lists, shows, searches, exports."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import procs
from conftest import run_moa
from groq_server import Behavior, GroqServer

from moa_cli.store import Store

REFS = ["-m", "ref/a", "-m", "ref/b", "-a", "agg/x"]


def ask(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[bytes]:
    proc = run_moa(["ask", "-q", *REFS, *args], env)
    assert proc.returncode == 0, proc.stderr
    return proc


def test_ask_stores_each_exchange_with_every_agent(groq_server: GroqServer, moa_env: dict[str, str]) -> None:
    ask(moa_env, "first question")
    with Store.open(env=moa_env) as store:
        (session,) = store.list_sessions()
        (turn,) = store.turns(session.id, with_agents=True)
    assert (turn.question, turn.answer, turn.status) == ("first question", "agg/x answers: first question", "complete")
    assert sorted((a.role, a.model) for a in turn.agents) == [
        ("aggregator", "agg/x"),
        ("reference", "ref/a"),
        ("reference", "ref/b"),
    ]
    assert turn.settings["references"] == ["ref/a", "ref/b"]


def test_ask_continue_sends_the_last_session_as_history(groq_server: GroqServer, moa_env: dict[str, str]) -> None:
    groq_server.set("agg/x", Behavior(text="Blue, because of Rayleigh scattering."))
    ask(moa_env, "Why is the sky blue?")
    ask(moa_env, "-c", "Say it shorter")
    last = groq_server.requests_for("ref/a")[-1]
    assert [m["content"] for m in last.messages] == [
        "Why is the sky blue?",
        "Blue, because of Rayleigh scattering.",
        "Say it shorter",
    ]
    with Store.open(env=moa_env) as store:
        assert [s.turns for s in store.list_sessions()] == [2]


def test_ask_session_by_name_creates_then_resumes_it(groq_server: GroqServer, moa_env: dict[str, str]) -> None:
    ask(moa_env, "--session", "work", "one")
    ask(moa_env, "unrelated")
    ask(moa_env, "--session", "work", "two")
    last = groq_server.requests_for("ref/a")[-1]
    assert [m["content"] for m in last.messages][0] == "one"
    listing = run_moa(["sessions", "--json"], moa_env)
    sessions = json.loads(listing.stdout)
    assert {(s["name"], s["turns"]) for s in sessions} == {("work", 2), (None, 1)}


def test_sessions_show_search_export_and_rm(groq_server: GroqServer, moa_env: dict[str, str], tmp_path: Path) -> None:
    ask(moa_env, "--session", "physics", "What is entanglement?")
    ask(moa_env, "What is a sonnet?")

    listing = run_moa(["sessions"], moa_env).stdout.decode()
    assert "What is a sonnet?" in listing and "physics" in listing

    shown = run_moa(["sessions", "show", "physics", "--refs"], moa_env)
    assert shown.returncode == 0
    assert "What is entanglement?" in shown.stdout.decode()
    assert "ref/a answers: What is entanglement?" in shown.stdout.decode()

    found = run_moa(["sessions", "search", "sonnet", "--json"], moa_env)
    hits = json.loads(found.stdout)
    assert len(hits) == 1 and hits[0]["title"] == "What is a sonnet?"

    exported = run_moa(["sessions", "export", "physics", "--format", "json"], moa_env)
    data = json.loads(exported.stdout)
    assert "test-key" not in exported.stdout.decode()
    assert data["session"]["name"] == "physics"

    removed = run_moa(["sessions", "rm", "physics"], moa_env)
    assert removed.returncode == 0
    missing = run_moa(["sessions", "show", "physics"], moa_env)
    assert missing.returncode == 1 and "no session 'physics'" in missing.stderr.decode()


def test_sessions_path_prints_the_database_location(moa_env: dict[str, str], tmp_path: Path) -> None:
    moa_env["MOA_HOME"] = str(tmp_path / "h")
    proc = run_moa(["sessions", "path"], moa_env)
    assert proc.stdout.decode().strip() == str(tmp_path / "h" / "moa.db")


def test_the_api_key_is_never_stored(groq_server: GroqServer, moa_env: dict[str, str], tmp_path: Path) -> None:
    """The key reaches the server on every request, and no file moa writes, however it runs."""
    moa_env["GROQ_API_KEY"] = "gsk_supersecret_value"
    moa_env["MOA_HOME"] = str(tmp_path / "h")
    ask(moa_env, "anything")
    ask(moa_env, "-c", "and again, verbosely")
    assert run_moa(["-v", "ask", "--json", *REFS, "-c", "as JSON"], moa_env).returncode == 0
    assert {r.headers["authorization"] for r in groq_server.requests} == {"Bearer gsk_supersecret_value"}
    written = [file for file in (tmp_path / "h").iterdir() if file.is_file()]
    assert written
    for file in written:
        assert b"gsk_supersecret_value" not in file.read_bytes(), file


def test_ask_still_answers_when_the_database_is_unusable(
    groq_server: GroqServer, moa_env: dict[str, str], tmp_path: Path
) -> None:
    home = tmp_path / "h"
    home.mkdir()
    (home / "moa.db").write_bytes(b"this is not a database" * 100)
    moa_env["MOA_HOME"] = str(home)
    proc = run_moa(["ask", *REFS, "q"], moa_env)
    assert proc.returncode == 0
    assert proc.stdout == b"agg/x answers: q\n"
    assert "history will not be saved" in proc.stderr.decode()
    assert (home / "moa.db").read_bytes() == b"this is not a database" * 100


def test_sigterm_while_the_aggregator_streams_stores_the_turn_as_interrupted(
    groq_server: GroqServer, moa_env: dict[str, str]
) -> None:
    groq_server.set("agg/x", Behavior(text=" ".join(f"w{i}" for i in range(300)), tokens_per_second=50))
    proc = procs.popen(["ask", *REFS, "long one"], moa_env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE)
    assert proc.stdout is not None
    first = proc.stdout.read(3)  # the aggregator has started streaming
    assert first == b"w0 "
    proc.terminate()
    stdout, stderr = proc.communicate(timeout=10)
    assert proc.returncode == 143
    assert b"Traceback" not in stderr
    with Store.open(env=moa_env) as store:
        (session,) = store.list_sessions()
        (turn,) = store.turns(session.id)
    assert turn.status == "interrupted"
    assert turn.answer.startswith("w0 ")
    assert (first + stdout).decode().startswith(turn.answer.rstrip())
