"""`moa ask` on a real pseudo-terminal: live panels, the streamed answer, and model text kept inert."""

from __future__ import annotations

import re

import pexpect
import procs
import pytest
from groq_server import Behavior, GroqServer

REFS = ["-m", "ref/a", "-m", "ref/b", "-a", "agg/x"]


def spawn(args: list[str], env: dict[str, str]) -> pexpect.spawn:
    env = {**env, "TERM": "xterm-256color"}
    return procs.spawn(args, env, dimensions=(40, 120), timeout=15)


def read_all(child: pexpect.spawn) -> bytes:
    child.expect(pexpect.EOF)
    child.close()
    return child.before


def visible(output: bytes) -> str:
    """The text a person sees: output without the terminal's own style and cursor sequences."""
    return re.sub(r"\x1b\[[0-?]*[ -/]*[@-~]", "", output.decode())


def test_terminal_shows_a_panel_per_reference_then_the_answer(
    groq_server: GroqServer, moa_env: dict[str, str]
) -> None:
    groq_server.set("ref/a", Behavior(text="alpha " * 30, tokens_per_second=20))  # 1.5 s: drawn live under load
    groq_server.set("ref/b", Behavior(status=404))
    groq_server.set("agg/x", Behavior(text="# Title\n\nThe final answer.\n\nSecond paragraph.\n"))
    child = spawn(["ask", *REFS, "q"], moa_env)
    child.expect("ref/a")  # the live panel's title
    output = read_all(child)
    assert child.exitstatus == 0
    text = visible(output)
    assert "streaming" in text or "waiting" in text
    assert "✓ ref/a" in text and "✗ ref/b" in text
    assert "The final answer." in text and "Second paragraph." in text
    assert "1/2 references" in text


def test_model_text_cannot_drive_the_terminal_or_inject_markup(
    groq_server: GroqServer, moa_env: dict[str, str]
) -> None:
    evil = "safe \x1b]0;pwned-title\x07 \x1b[2J\x1b[H [bold red]literal[/bold red] \x1b]8;;http://x\x1b\\link\n"
    groq_server.set("ref/a", Behavior(text=evil))
    groq_server.set("ref/b", Behavior(text=evil))
    groq_server.set("agg/x", Behavior(text=evil))
    output = read_all(spawn(["ask", *REFS, "q"], moa_env))
    assert b"pwned-title" not in output
    assert b"\x1b[2J" not in output
    assert b"\x1b]8;;http://x" not in output
    assert b"[bold red]literal[/bold red]" in output


def test_ctrl_c_on_a_terminal_exits_130_without_traceback(
    groq_server: GroqServer, moa_env: dict[str, str]
) -> None:
    groq_server.set("ref/a", Behavior(hang=True))
    child = spawn(["ask", *REFS, "q"], moa_env)
    child.expect("ref/a")
    groq_server.wait_for_requests(2)
    child.sendintr()
    output = read_all(child)
    assert child.exitstatus == 130, output
    assert b"moa: interrupted" in output
    assert b"Traceback" not in output


@pytest.mark.parametrize("flag", ["--show-reasoning", None])
def test_reasoning_shows_only_when_asked(groq_server: GroqServer, moa_env: dict[str, str], flag: str | None) -> None:
    groq_server.set("ref/a", Behavior(text="answer", reasoning="pondering deeply"))
    groq_server.set("agg/x", Behavior(text="final", reasoning="weighing answers"))
    output = visible(read_all(spawn(["ask", *([flag] if flag else []), *REFS, "q"], moa_env)))
    assert ("weighing answers" in output or "pondering deeply" in output) == (flag is not None)
    assert "final" in output


def test_every_one_of_64_references_and_a_failure_shows_on_a_12_row_terminal(
    groq_server: GroqServer, moa_env: dict[str, str]
) -> None:
    models = [f"ref/{i}" for i in range(1, 65)]
    for model in models:
        groq_server.set(model, Behavior(text="slowly " * 20, tokens_per_second=10))  # 2 s: drawn live
    groq_server.set("ref/7", Behavior(status=404))
    groq_server.set("agg/x", Behavior(text="done"))
    args = ["ask", "--max-tokens", "500", *[a for m in models for a in ("-m", m)], "-a", "agg/x", "q"]
    child = procs.spawn(args, {**moa_env, "TERM": "xterm-256color", "LINES": "12", "COLUMNS": "120"},
                        dimensions=(12, 120), timeout=30)
    text = visible(read_all(child))
    assert child.exitstatus == 0
    # Live, a box's title reads "─ label ─" and a row "mark label state"; the summary printed after
    # the layer reads "mark label  stats", so it does not count.
    live = {m for m in models if re.search(rf"─ {m} ─|{m} [a-z]", text)}
    assert live == set(models)
    assert re.search(r"✗ ref/7 [a-z]", text)
