"""Issue 16, F2, F4 and F16: a terminal that goes away, a closed stdout, and a kill the moment
requests leave each keep the question and every answer that arrived. (SIGHUP through a pipe and in
chat is test_reliability_signals.py's, beside Ctrl-C and SIGTERM.)"""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from groq_server import Behavior, GroqServer
from test_reliability import REFS, WORDS, only_turn, read_to_end, spawn_pty
from test_reliability_signals import start_ask


def test_a_closed_stdout_is_one_line_and_the_answer_is_stored(
    groq_server: GroqServer, moa_env: dict[str, str]
) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "moa_cli", "ask", *REFS, "q"],
        stdin=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=moa_env,
        preexec_fn=lambda: os.close(1),  # noqa: PLW1509 - as `moa ask q >&-` starts it
        timeout=30,
    )
    stderr = proc.stderr.decode()
    assert proc.returncode == 0, stderr
    assert "Traceback" not in stderr
    assert stderr.startswith("moa: warning: stdout is closed: the answer goes to the session store only")
    turn = only_turn(moa_env)
    assert (turn.question, turn.status, turn.answer) == ("q", "complete", "agg/x answers: q")


def test_the_question_is_stored_before_any_request_leaves(groq_server: GroqServer, moa_env: dict[str, str]) -> None:
    for model in ("ref/a", "ref/b"):
        groq_server.set(model, Behavior(hang=True))
    proc = start_ask(moa_env)
    try:
        groq_server.wait_for_requests(1, timeout=20)
        proc.kill()  # kill -9 the moment the first request has arrived
        proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    turn = only_turn(moa_env)  # opening the store again marks it interrupted: its process is gone
    assert (turn.question, turn.status) == ("q", "interrupted")


def test_sigterm_and_sighup_on_a_terminal_say_interrupted_once(groq_server: GroqServer, moa_env: dict[str, str]) -> None:
    groq_server.set("agg/x", Behavior(text=WORDS, tokens_per_second=50))
    child = spawn_pty(["ask", *REFS, "q"], moa_env)
    child.expect(b"w3 ")
    child.kill(signal.SIGHUP)
    output = read_to_end(child)
    assert child.exitstatus == 129, output
    assert output.count(b"moa: interrupted") <= 1 and b"Traceback" not in output
    assert only_turn(moa_env).status == "interrupted"
