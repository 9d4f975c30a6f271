"""A terminal made narrower while reference panels stream keeps no piece of the old, wider panels."""

from __future__ import annotations

import os
import select
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pyte
import pytest
from groq_server import Behavior, GroqServer
from screen import Pty, rewrap

ASK = ["ask", "-m", "ref/a", "-m", "ref/b", "-a", "agg/x", "Why is the sky blue?"]
PROMPT = "$ moa ask 'Why is the sky blue?'"
"""The line above moa's output, as a shell leaves it: it must stay."""
ROWS, WIDE, NARROW = 30, 100, 60
BOX = set("╭╮╰╯│─")
WORDS = " ".join(f"word{i}" for i in range(50))


@pytest.fixture
def streaming(groq_server: GroqServer, moa_env: dict[str, str]) -> dict[str, str]:
    """References that stream for about two seconds; an environment with no fixed width."""
    for model in ("ref/a", "ref/b"):
        groq_server.set(model, Behavior(text=WORDS, tokens_per_second=25))
    groq_server.set("agg/x", Behavior(text="Rayleigh scattering."))
    env = {k: v for k, v in moa_env.items() if k not in ("COLUMNS", "LINES", "TMUX", "XTERM_VERSION")}
    return env | {"TERM": "xterm-256color"}


def _narrowed_while_streaming(env: dict[str, str], shown: pyte.Screen, rewraps: str | None) -> list[str]:
    """Runs `moa ask` on a pty, made narrower while the panels stream; the lines it shows at the end.

    moa is stopped (SIGSTOP) while the window changes, so that all it drew at the old width is on
    the screen first, as a terminal would have drawn it.
    """
    term = Pty(ASK, env, rows=ROWS, columns=WIDE)
    term.read_until(lambda out: b"word3 " in out)
    term.proc.send_signal(signal.SIGSTOP)
    while select.select([term.master], [], [], 0.2)[0]:  # what it wrote before it stopped
        term.output += os.read(term.master, 65536)
    pyte.ByteStream(shown).feed(term.output)
    assert any(BOX & set(line) for line in shown.display)  # the wide panels are drawn
    if rewraps is not None:
        shown = rewrap(shown, NARROW, keep_cursor_row=rewraps == "cursor row kept")
    else:
        shown.resize(ROWS, NARROW)
    drawn = len(term.output)
    term.resize(ROWS, NARROW)
    term.proc.send_signal(signal.SIGCONT)
    output, _ = term.finish()
    assert term.proc.returncode == 0
    pyte.ByteStream(shown).feed(output[drawn:])
    return [line.rstrip() for line in shown.display]


def _prompted() -> pyte.Screen:
    shown = pyte.Screen(WIDE, ROWS)
    pyte.Stream(shown).feed(PROMPT + "\r\n")
    return shown


def _assert_clean(lines: list[str], prompt_kept: bool = True) -> None:
    """No piece of a panel left; the prompt above kept (unless the terminal pushed it off the top)."""
    if lines[0] != PROMPT:
        assert not prompt_kept, "\n".join(lines)
        lines = [PROMPT, *lines]
    assert not [line for line in lines if BOX & set(line)], "\n".join(lines)
    assert [line.split("  ")[0] for line in lines[1:3]] == ["✓ ref/a", "✓ ref/b"], "\n".join(lines)
    assert "Rayleigh scattering." in lines


@pytest.mark.parametrize("rewraps", ["cursor row kept", "cursor moved down"])
def test_a_narrower_window_that_rewraps_lines_keeps_no_piece_of_the_wider_panels(
    streaming: dict[str, str], rewraps: str
) -> None:
    lines = _narrowed_while_streaming(streaming, _prompted(), rewraps)
    _assert_clean(lines, prompt_kept=rewraps == "cursor moved down")


def test_a_narrower_window_that_cuts_lines_keeps_what_was_above_the_panels(streaming: dict[str, str]) -> None:
    env = streaming | {"XTERM_VERSION": "XTerm(390)"}  # xterm cuts lines: no rewrapped rows to erase
    _assert_clean(_narrowed_while_streaming(env, _prompted(), None))


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed: the pyte tests above emulate it")
@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="finds moa's pid in Linux's /proc")
def test_in_tmux_a_narrower_window_keeps_no_piece_of_the_wider_panels(
    streaming: dict[str, str], tmp_path: Path
) -> None:
    script = tmp_path / "run.sh"
    # moa as sh's child, not tmux's: tmux wakes up a child of its own that is stopped
    # A full screen before it, as in a terminal used for a while: the panels are drawn at the bottom.
    script.write_text(f"seq {ROWS}\nprintf '%s\\n' {shlex.quote(PROMPT)}\n"
                      f"{shlex.quote(sys.executable)} -m moa_cli {shlex.join(ASK)}\n")
    tmux = ["tmux", "-L", f"moa-test-{os.getpid()}", "-f", os.devnull]

    def run(*args: str) -> str:  # the server gets this environment, and its pane too (no inherited COLUMNS)
        return subprocess.run([*tmux, *args], env=streaming, capture_output=True, text=True, check=True).stdout

    run("new-session", "-d", "-x", str(WIDE), "-y", str(ROWS), "sh", str(script), ";",
        "set-option", "-g", "remain-on-exit", "on")
    try:
        _poll(lambda: run("capture-pane", "-p"), "word3")
        shell = run("display-message", "-p", "#{pane_pid}").strip()
        moa = int(Path(f"/proc/{shell}/task/{shell}/children").read_text())
        os.kill(moa, signal.SIGSTOP)  # as in _narrowed_while_streaming: all it drew is on the screen first
        _settled(lambda: run("capture-pane", "-p"))
        run("resize-window", "-x", str(NARROW), "-y", str(ROWS))
        os.kill(moa, signal.SIGCONT)
        screen = _poll(lambda: run("capture-pane", "-p"), "references").splitlines()
        everything = run("capture-pane", "-p", "-S", "-").splitlines()  # with what tmux pushed off the top
    finally:
        subprocess.run([*tmux, "kill-server"], env=streaming, capture_output=True)
    assert not [line for line in screen if BOX & set(line)], "\n".join(screen)
    summary = [line.split("  ")[0] for line in everything if line.startswith("✓")]
    assert summary == ["✓ ref/a", "✓ ref/b"] and "Rayleigh scattering." in screen, "\n".join(everything)


def _poll(capture: Callable[[], str], text: str, timeout: float = 20) -> str:
    """The screen once it shows ``text``; tmux has no event to wait on, so it is polled."""
    deadline = time.monotonic() + timeout
    while text not in (shown := capture()):
        assert time.monotonic() < deadline, shown
        time.sleep(0.05)
    return shown


def _settled(capture: Callable[[], str], quiet: float = 0.2, timeout: float = 10) -> None:
    """Returns once the screen has not changed for ``quiet`` seconds."""
    deadline = time.monotonic() + timeout
    shown, since = capture(), time.monotonic()
    while time.monotonic() - since < quiet:
        assert time.monotonic() < deadline, shown
        time.sleep(0.05)
        if (now := capture()) != shown:
            shown, since = now, time.monotonic()
