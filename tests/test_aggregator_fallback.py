"""When the aggregator fails, the best reference answer stands in, labelled, and the exit status is still 1."""

from __future__ import annotations

import json

from conftest import run_moa
from groq_server import Behavior, GroqServer
from test_ask_terminal import read_all, spawn, visible

REFS = ["-m", "ref/a", "-m", "ref/b", "-m", "ref/c", "-a", "agg/x"]


def failing_aggregator(server: GroqServer) -> None:
    server.set("ref/a", Behavior(text="A short one."))
    server.set("ref/b", Behavior(text="The longest and most complete answer of the three."))
    server.set("ref/c", Behavior(status=500))
    server.set("agg/x", Behavior(status=400, error_message="bad thing"))


def test_on_a_pipe_the_best_reference_answer_goes_to_stderr_labelled(
    groq_server: GroqServer, moa_env: dict[str, str]
) -> None:
    failing_aggregator(groq_server)
    proc = run_moa(["ask", *REFS, "q"], moa_env)
    assert proc.returncode == 1
    assert proc.stdout == b""  # stdout carries the aggregated answer only
    stderr = proc.stderr.decode()
    assert (
        "moa: the aggregator failed; best reference answer: ref/b (the longest complete of 2); "
        "all answers: moa sessions show --refs\nThe longest and most complete answer of the three.\n"
    ) in stderr
    assert "A short one." not in stderr
    assert stderr.endswith("moa: error: agg/x: request refused (400: bad thing)\n")


def test_json_names_the_reference_answer_that_stands_in(groq_server: GroqServer, moa_env: dict[str, str]) -> None:
    failing_aggregator(groq_server)
    proc = run_moa(["ask", "--json", *REFS, "q"], moa_env)
    assert proc.returncode == 1
    data = json.loads(proc.stdout)
    assert data["answer"] == ""
    assert data["fallback"] == {
        "reference": 1,
        "model": "ref/b",
        "answer": "The longest and most complete answer of the three.",
        "chosen_by": "the longest complete reference answer",
    }


def test_json_has_no_fallback_when_the_aggregator_answers(groq_server: GroqServer, moa_env: dict[str, str]) -> None:
    proc = run_moa(["ask", "--json", *REFS, "q"], moa_env)
    assert proc.returncode == 0
    assert json.loads(proc.stdout)["fallback"] is None


def test_on_a_terminal_the_best_reference_answer_is_drawn_labelled(
    groq_server: GroqServer, moa_env: dict[str, str]
) -> None:
    failing_aggregator(groq_server)
    child = spawn(["ask", *REFS, "q"], moa_env)
    shown = visible(read_all(child))
    assert child.exitstatus == 1
    assert "the aggregator failed; best reference answer: ref/b (the longest complete of 2)" in shown
    assert "The longest and most complete answer of the three." in shown
    assert "A short one." not in shown.split("best reference answer")[1]
