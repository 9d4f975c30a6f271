"""With stdout piped, stderr says what is still running: a status line on a terminal, plain lines in a file."""

from __future__ import annotations

import asyncio
import io
import os
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyte
import pytest
from groq_server import Behavior, GroqServer
from screen import Pty, rewrap, screen

from moa_cli.events import Agent, AgentDone, AgentResult, AgentStarted, MoaResult
from moa_cli.ui import progress
from moa_cli.ui.progress import StderrProgress
from moa_cli.ui.status_line import fit

ASK = ["ask", "-m", "ref/slow", "-m", "ref/fast", "-a", "agg/x", "Why is the sky blue?"]
SLOW = 2.2
"""Seconds before the slow reference's first token: past the status line's first redraw."""


@pytest.fixture
def slow_server(groq_server: GroqServer) -> GroqServer:
    groq_server.set("ref/slow", Behavior(first_token_delay=SLOW, text="Rayleigh."))
    groq_server.set("agg/x", Behavior(text="Rayleigh scattering."))
    return groq_server


def test_a_slow_reference_shows_in_a_status_line_on_a_terminal_while_stdout_is_piped(
    slow_server: GroqServer, moa_env: dict[str, str]
) -> None:
    term = Pty(ASK, moa_env, on_pty=("stderr",))
    shown, piped = term.finish()
    assert term.proc.returncode == 0, shown
    assert piped == b"Rayleigh scattering.\n"
    assert re.search(rb"\r\x1b\[Kmoa: running: ref/slow \ds \xc2\xb7 0 tokens", shown), shown
    lines = [line for line in screen(shown) if line]
    assert lines[0].startswith("moa: ref/fast done (")
    assert lines[1].startswith("moa: ref/slow done (")  # over the status line, which left nothing behind
    assert lines[2:4] == ["moa: aggregating with agg/x", lines[3]] and lines[3].startswith("moa: 2/2 references")
    assert len(lines) == 4 and not any("running" in line for line in lines)


def test_a_narrower_terminal_that_rewraps_the_status_line_keeps_no_piece_of_it(
    slow_server: GroqServer, moa_env: dict[str, str]
) -> None:
    term = Pty(ASK, {**moa_env, "TERM": "xterm-256color"}, on_pty=("stderr",))
    term.read_until(lambda out: b"moa: running: ref/slow" in out)
    term.proc.send_signal(signal.SIGSTOP)  # all it drew is on the screen before the window changes
    while select.select([term.master], [], [], 0.2)[0]:
        term.output += os.read(term.master, 65536)
    shown = pyte.Screen(100, 24)
    pyte.ByteStream(shown).feed(term.output)
    shown = rewrap(shown, 20, keep_cursor_row=False)  # "moa: running: ref/slow 1s · 0 tokens": two rows
    drawn = len(term.output)
    term.resize(24, 20)
    term.proc.send_signal(signal.SIGCONT)
    output, piped = term.finish()
    assert term.proc.returncode == 0 and piped == b"Rayleigh scattering.\n"
    pyte.ByteStream(shown).feed(output[drawn:])
    text = "\n".join(line.rstrip() for line in shown.display)
    assert "running" not in text.replace("\n", ""), text
    assert "moa: ref/slow done" in text.replace("\n", ""), text


def test_stderr_in_a_file_gets_plain_lines_and_no_terminal_codes(
    slow_server: GroqServer, moa_env: dict[str, str], tmp_path: Path
) -> None:
    log = tmp_path / "log"
    with log.open("wb") as err:
        proc = subprocess.run([sys.executable, "-m", "moa_cli", *ASK], stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=err, env=moa_env, timeout=30)
    assert proc.returncode == 0 and proc.stdout == b"Rayleigh scattering.\n"
    written = log.read_bytes()
    assert b"\r" not in written and b"\x1b" not in written
    assert [line.split(" (")[0] for line in written.decode().splitlines()[:3]] == [
        "moa: ref/fast done", "moa: ref/slow done", "moa: aggregating with agg/x"
    ]


def test_a_file_is_told_what_is_still_running_after_each_quiet_heartbeat(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(progress, "TICK", 0.01)
    monkeypatch.setattr(progress, "HEARTBEAT", 0.05)
    log = io.StringIO()
    slow = AgentResult(Agent("reference", 0, 0, "ref/slow"), started_at=time.perf_counter(), streamed=7)

    async def run() -> None:
        feed = StderrProgress(log)
        feed.handle(AgentStarted(slow.agent, slow))
        deadline = time.monotonic() + 5
        while log.getvalue().count("\n") < 2 and time.monotonic() < deadline:
            await asyncio.sleep(0.01)  # the event loop runs the progress timer meanwhile
        slow.status, slow.finished_at = "done", time.perf_counter()
        feed.handle(AgentDone(slow))
        feed.close(MoaResult("q", references=[slow], status="failed"))

    asyncio.run(run())
    lines = log.getvalue().splitlines()
    assert [re.sub(r"\d+s", "Ns", line) for line in lines[:2]] == ["moa: still running: ref/slow Ns · 7 tokens"] * 2
    assert lines[2].startswith("moa: ref/slow done (")


def test_the_status_line_is_cut_to_the_terminal_width_counting_wide_characters() -> None:
    assert fit("moa: running: 模型 3s", 12) == "moa: runnin…"
    assert fit("moa: 模型模型", 8) == "moa: 模…"
    assert fit("short", 10) == "short"
