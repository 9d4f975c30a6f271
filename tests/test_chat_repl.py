"""`moa chat` driven for real on a pseudo-terminal against the local Groq-speaking server."""

from __future__ import annotations

from pathlib import Path

import pexpect
import procs
from conftest import run_moa
from groq_server import Behavior, GroqServer

from moa_cli.store import Store

REFS = ["-m", "ref/a", "-m", "ref/b", "-a", "agg/x"]
PROMPT = "you›"


def spawn_chat(args: list[str], env: dict[str, str]) -> pexpect.spawn:
    env = {**env, "TERM": "xterm-256color", "PROMPT_TOOLKIT_NO_CPR": "1"}
    child = procs.spawn(["chat", *args], env, dimensions=(40, 120), timeout=15, encoding="utf-8")
    child.expect_exact(PROMPT)
    return child


def say(child: pexpect.spawn, text: str, until: str = r"\d+/\d+ references") -> str:
    """Type ``text`` and Enter; wait for ``until`` (by default a turn's closing line), then the prompt."""
    child.send(text + "\r")
    child.expect(until)
    seen = child.before + child.after
    child.expect_exact(PROMPT)
    return seen + child.before


def leave(child: pexpect.spawn) -> None:
    child.sendcontrol("d")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0


def open_store(env: dict[str, str]) -> Store:
    return Store.open(env=env)


def test_second_turn_carries_the_first(groq_server: GroqServer, moa_env: dict[str, str]) -> None:
    groq_server.set("agg/x", Behavior(text="Paris is the capital."))
    child = spawn_chat(REFS, moa_env)
    assert "Paris is the capital." in say(child, "What is the capital of France?")
    say(child, "And its population?")
    leave(child)
    second = groq_server.requests_for("ref/a")[1]
    assert second.messages == [
        {"role": "user", "content": "What is the capital of France?"},
        {"role": "assistant", "content": "Paris is the capital."},
        {"role": "user", "content": "And its population?"},
    ]
    with open_store(moa_env) as store:
        (session,) = store.list_sessions()
        assert session.turns == 2
        assert [t.status for t in store.turns(session.id)] == ["complete", "complete"]


def test_ctrl_c_mid_answer_returns_to_the_prompt_and_keeps_the_partial_answer(
    groq_server: GroqServer, moa_env: dict[str, str]
) -> None:
    words = " ".join(f"word{i}" for i in range(400))
    groq_server.set("agg/x", Behavior(text=words, tokens_per_second=40))
    child = spawn_chat(REFS, moa_env)
    child.send("Tell me a long story\r")
    child.expect("word5 ")
    child.sendintr()
    child.expect_exact("interrupted")
    child.expect_exact(PROMPT)
    assert "word1" in say(child, "/history", until="moa: ")
    leave(child)
    with open_store(moa_env) as store:
        (session,) = store.list_sessions()
        (turn,) = store.turns(session.id, with_agents=True)
    assert turn.status == "interrupted"
    assert turn.question == "Tell me a long story"
    assert turn.answer.startswith("word0 word1 word2 word3 word4 word5 ")
    assert len(turn.answer) < len(words)
    assert {a.role for a in turn.agents} == {"reference", "aggregator"}


def test_retry_asks_the_last_question_again_without_repeating_it_in_history(
    groq_server: GroqServer, moa_env: dict[str, str]
) -> None:
    child = spawn_chat(REFS, moa_env)
    say(child, "First question")
    say(child, "/retry")
    leave(child)
    calls = groq_server.requests_for("ref/a")
    assert len(calls) == 2
    assert calls[1].messages == [{"role": "user", "content": "First question"}]
    child = spawn_chat(["-c", *REFS], moa_env)  # resumed later, the retried turn is not sent again
    say(child, "Next")
    leave(child)
    assert [m["content"] for m in groq_server.requests_for("ref/a")[-1].messages] == [
        "First question", "agg/x answers: First question", "Next",
    ]
    with open_store(moa_env) as store:
        assert [t.question for t in store.turns(store.list_sessions()[0].id)] == ["First question"] * 2 + ["Next"]


def test_continue_resumes_the_last_session(groq_server: GroqServer, moa_env: dict[str, str]) -> None:
    groq_server.set("agg/x", Behavior(text="Remembered answer."))
    child = spawn_chat(REFS, moa_env)
    say(child, "Remember this")
    leave(child)
    child = spawn_chat(["-c", *REFS], moa_env)
    assert "1 turn)" in child.before
    say(child, "What did I say?")
    leave(child)
    last = groq_server.requests_for("ref/a")[-1]
    assert [m["content"] for m in last.messages] == ["Remember this", "Remembered answer.", "What did I say?"]


def test_multiline_input_with_escape_enter_and_ctrl_j(groq_server: GroqServer, moa_env: dict[str, str]) -> None:
    child = spawn_chat(REFS, moa_env)
    child.send("line one")
    child.send("\x1b\r")
    child.send("line two")
    child.sendcontrol("j")
    say(child, "line three")
    leave(child)
    assert groq_server.requests_for("ref/a")[0].messages[-1]["content"] == "line one\nline two\nline three"


def test_bracketed_paste_keeps_a_pasted_block_whole(groq_server: GroqServer, moa_env: dict[str, str]) -> None:
    child = spawn_chat(REFS, moa_env)
    child.send("\x1b[200~pasted one\rpasted two\x1b[201~")
    say(child, "")
    leave(child)
    assert groq_server.requests_for("ref/a")[0].messages[-1]["content"] == "pasted one\npasted two"


def test_slash_commands_change_the_models_and_tab_completes(
    groq_server: GroqServer, moa_env: dict[str, str]
) -> None:
    child = spawn_chat(REFS, moa_env)
    say(child, "/models ref/c", until="references: ref/c")
    child.send("/aggr\t")
    child.send(" agg/y\r")
    child.expect_exact("aggregator: agg/y")
    child.expect_exact(PROMPT)
    say(child, "hello")
    leave(child)
    assert sorted(r.model for r in groq_server.requests) == ["agg/y", "ref/c"]


def test_ctrl_c_at_the_prompt_says_how_to_quit(groq_server: GroqServer, moa_env: dict[str, str]) -> None:
    child = spawn_chat(REFS, moa_env)
    child.sendintr()
    child.expect_exact("Ctrl-D or /exit to quit")
    child.expect_exact(PROMPT)
    child.send("/exit\r")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0


def test_chat_without_a_terminal_points_to_ask(moa_env: dict[str, str]) -> None:
    proc = run_moa(["chat"], moa_env, stdin=b"hello\n")
    assert proc.returncode == 2
    assert proc.stderr.decode() == 'moa: error: moa chat needs a terminal; for pipes and scripts use: moa ask "question"\n'


def test_input_history_file_is_private(groq_server: GroqServer, moa_env: dict[str, str], tmp_path: Path) -> None:
    moa_env["MOA_HOME"] = str(tmp_path / "moa-home")
    child = spawn_chat(REFS, moa_env)
    say(child, "remember me")
    leave(child)
    history = tmp_path / "moa-home" / "input_history"
    assert "remember me" in history.read_text()
    assert history.stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "moa-home").stat().st_mode & 0o777 == 0o700


def test_long_conversations_are_trimmed_and_the_user_is_told(
    groq_server: GroqServer, moa_env: dict[str, str], tmp_path: Path
) -> None:
    config = tmp_path / "moa.toml"
    config.write_text("context_window = 4000\nmax_tokens = 500\n")
    moa_env["MOA_CONFIG"] = str(config)
    groq_server.set("agg/x", Behavior(text="long answer " * 300))
    child = spawn_chat(REFS, moa_env)
    say(child, "first")
    say(child, "second")
    assert "left out the oldest turn " in say(child, "third")
    leave(child)
    assert [m["content"] for m in groq_server.requests_for("ref/a")[-1].messages][0] == "second"
