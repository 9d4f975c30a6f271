"""Issue #6: SIGINT and SIGTERM at each phase of `moa ask` and `moa chat` lose nothing.

Each phase is interrupted once per signal, through a pipe or on a pseudo-terminal (pexpect),
never both the same way twice; SIGTERM through a pipe while the aggregator streams is
``test_sessions_cli.py``'s, and Ctrl-C mid-answer in chat is ``test_chat_repl.py``'s.
"""

from __future__ import annotations

import os
import signal
import subprocess

import pexpect
import procs
import pytest
from groq_server import Behavior, GroqServer
from test_reliability import (
    REFS,
    WORDS,
    agents_of,
    assert_database_consistent,
    only_turn,
    raw_statuses,
    read_to_end,
    spawn_pty,
    stored_turns,
)

PROMPT = "you›"
TURN_END = r"\d+/\d+ references"


def start_ask(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return procs.popen(["ask", *REFS, "q"], env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def assert_stopped_cleanly(env: dict[str, str], output: bytes) -> None:
    """No traceback; moa itself marked the turn interrupted (not the next open's crash recovery)."""
    assert b"Traceback" not in output
    assert raw_statuses(env) == [("interrupted", None)]
    assert_database_consistent(env)


# --- moa ask -------------------------------------------------------------------------------------


def test_ctrl_c_while_references_stream_on_a_terminal(groq_server: GroqServer, moa_env: dict[str, str]) -> None:
    groq_server.set("ref/a", Behavior(text=WORDS, tokens_per_second=50))
    groq_server.set("ref/b", Behavior(text=WORDS, tokens_per_second=50))
    child = spawn_pty(["ask", *REFS, "q"], moa_env)
    child.expect(b"w3 ")  # a reference panel shows its answer streaming
    child.sendintr()
    output = read_to_end(child)
    assert child.exitstatus == 130, output
    assert b"moa: interrupted" in output
    assert_stopped_cleanly(moa_env, output)
    turn = only_turn(moa_env)
    assert (turn.question, turn.answer) == ("q", "")
    assert set(agents_of(turn)) == {"ref/a", "ref/b"}  # the aggregator never started
    # Each kept what it had when stopped; the screen showed w3 in one panel (the other may be a word behind).
    answers = agents_of(turn).values()
    assert all(status == "interrupted" and WORDS.startswith(text) and "w0 " in text for status, text in answers)
    assert max(len(text) for _, text in answers) >= len("w0 w1 w2 w3 ")
    assert all(len(text) < len(WORDS) for _, text in answers)
    assert groq_server.requests_for("agg/x") == []


def test_sigterm_while_references_stream_through_a_pipe(groq_server: GroqServer, moa_env: dict[str, str]) -> None:
    groq_server.set("ref/a", Behavior(first_token_delay=0.3))
    groq_server.set("ref/b", Behavior(text=WORDS, tokens_per_second=50))
    proc = start_ask(moa_env)
    assert proc.stderr is not None
    assert proc.stderr.readline().startswith(b"moa: ref/a done")  # ref/b has streamed for 0.3 s by now
    proc.terminate()
    stdout, stderr = proc.communicate(timeout=10)
    assert proc.returncode == 143, stderr
    assert stdout == b""
    assert stderr.decode().splitlines()[-1] == "moa: interrupted"
    assert_stopped_cleanly(moa_env, stderr)
    turn = only_turn(moa_env)
    assert turn.answer == ""
    agents = agents_of(turn)
    assert agents["ref/a"] == ("done", "ref/a answers: q")
    assert agents["ref/b"][0] == "interrupted" and agents["ref/b"][1].startswith("w0 ")
    assert "agg/x" not in agents


@pytest.mark.parametrize(
    ("signum", "code"), [(signal.SIGINT, 130), (signal.SIGHUP, 129)], ids=["ctrl-c", "terminal-closed"]
)
def test_ctrl_c_or_sighup_while_the_aggregator_streams_through_a_pipe(
    groq_server: GroqServer, moa_env: dict[str, str], signum: int, code: int
) -> None:
    groq_server.set("agg/x", Behavior(text=WORDS, tokens_per_second=50))
    proc = start_ask(moa_env)
    assert proc.stdout is not None
    first = os.read(proc.stdout.fileno(), 3)  # unbuffered: communicate() reads the fd, not a buffer
    assert first == b"w0 "
    proc.send_signal(signum)  # SIGHUP: the terminal or the tmux pane was closed (issue 16, F2)
    rest, stderr = proc.communicate(timeout=10)
    assert proc.returncode == code, stderr
    assert stderr.decode().splitlines()[-1] == "moa: interrupted"
    assert "--- ref/a" not in stderr.decode()  # interrupted on purpose: stored, not repeated on stderr
    assert_stopped_cleanly(moa_env, stderr)
    turn = only_turn(moa_env)
    assert turn.answer.startswith("w0 ") and len(turn.answer) < len(WORDS)
    assert (first + rest).decode() == turn.answer + "\n"  # stdout had exactly what is stored, and a newline
    assert agents_of(turn) == {
        "ref/a": ("done", "ref/a answers: q"),
        "ref/b": ("done", "ref/b answers: q"),
        "agg/x": ("interrupted", turn.answer),
    }


def test_sigterm_while_the_aggregator_streams_on_a_terminal(
    groq_server: GroqServer, moa_env: dict[str, str]
) -> None:
    groq_server.set("agg/x", Behavior(text=WORDS, tokens_per_second=50))
    child = spawn_pty(["ask", *REFS, "q"], moa_env)
    child.expect(b"w5 ")
    child.kill(signal.SIGTERM)
    output = read_to_end(child)
    assert child.exitstatus == 143, output
    assert b"moa: interrupted" in output
    assert_stopped_cleanly(moa_env, output)
    turn = only_turn(moa_env)
    assert turn.answer.startswith("w0 w1 w2 w3 w4 w5 ") and len(turn.answer) < len(WORDS)
    assert agents_of(turn)["agg/x"] == ("interrupted", turn.answer)


# --- moa chat ------------------------------------------------------------------------------------


def spawn_chat(env: dict[str, str]) -> pexpect.spawn:
    child = spawn_pty(["chat", *REFS], env, encoding="utf-8")
    child.expect_exact(PROMPT)
    return child


def test_chat_ctrl_c_in_each_phase_returns_to_the_prompt(groq_server: GroqServer, moa_env: dict[str, str]) -> None:
    child = spawn_chat(moa_env)

    groq_server.set("ref/a", Behavior(text=WORDS, tokens_per_second=50))
    child.send("first\r")
    child.expect("w3 ")  # ref/a's panel streams
    child.sendintr()
    child.expect_exact("interrupted")
    child.expect_exact(PROMPT)

    groq_server.set("ref/a", Behavior())
    groq_server.set("agg/x", Behavior(text=WORDS, tokens_per_second=50))
    child.send("second\r")
    child.expect("w3 ")  # the answer streams
    child.sendintr()
    child.expect_exact("interrupted")
    child.expect_exact(PROMPT)

    groq_server.set("agg/x", Behavior(text="Third answer."))
    child.send("third\r")
    child.expect(TURN_END)
    child.expect_exact(PROMPT)
    child.sendcontrol("d")
    output = read_to_end(child)
    assert child.exitstatus == 0 and "Traceback" not in output

    assert_database_consistent(moa_env)
    first, second, third = stored_turns(moa_env)
    assert [t.status for t in (first, second, third)] == ["interrupted", "interrupted", "complete"]
    assert first.answer == "" and set(agents_of(first)) == {"ref/a", "ref/b"}
    assert agents_of(first)["ref/a"][0] == "interrupted" and agents_of(first)["ref/a"][1].startswith("w0 w1 w2 w3 ")
    assert second.answer.startswith("w0 w1 w2 w3 ") and agents_of(second)["agg/x"] == ("interrupted", second.answer)
    assert third.answer == "Third answer."
    # The unanswered first turn is not history; the partial second answer is, marked as cut short.
    assert groq_server.requests_for("ref/b")[-1].messages == [
        {"role": "user", "content": "second"},
        {"role": "assistant", "content": second.answer + "\n\n[The user stopped this answer here.]"},
        {"role": "user", "content": "third"},
    ]


def test_chat_sigterm_at_the_prompt_exits_cleanly(groq_server: GroqServer, moa_env: dict[str, str]) -> None:
    child = spawn_chat(moa_env)
    child.send("hello\r")
    child.expect(TURN_END)
    child.expect_exact(PROMPT)
    child.kill(signal.SIGTERM)
    output = read_to_end(child)
    assert child.exitstatus == 143, output
    assert "moa: stopped" in output and "Traceback" not in output
    assert raw_statuses(moa_env) == [("complete", None)]
    assert_database_consistent(moa_env)


@pytest.mark.parametrize(
    ("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGHUP, 129)], ids=["sigterm", "terminal-closed"]
)
def test_chat_sigterm_or_sighup_while_streaming_stores_the_turn_interrupted(
    groq_server: GroqServer, moa_env: dict[str, str], signum: int, code: int
) -> None:
    groq_server.set("agg/x", Behavior(text=WORDS, tokens_per_second=50))
    child = spawn_chat(moa_env)
    child.send("hello\r")
    child.expect("w3 ")
    child.kill(signum)  # SIGHUP: the terminal or the tmux pane was closed (issue 16, F2)
    output = read_to_end(child)
    assert child.exitstatus == code, output
    assert "moa: stopped" in output
    assert_stopped_cleanly(moa_env, output.encode())
    turn = only_turn(moa_env)
    assert turn.question == "hello"
    assert turn.answer.startswith("w0 w1 w2 w3 ") and len(turn.answer) < len(WORDS)
    assert agents_of(turn)["agg/x"] == ("interrupted", turn.answer)
    assert agents_of(turn)["ref/a"] == ("done", "ref/a answers: hello")
