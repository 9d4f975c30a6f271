"""Issue #6: the key stays secret, the files stay private, and model or server text stays inert.

Already covered elsewhere: the key not in the database after `moa ask` (``test_sessions_cli``,
``test_store``), the history file and data directory modes (``test_chat_repl``), `moa ask`'s
panels and answer on a terminal (``test_ask_terminal``), a piped answer passing unchanged
(``test_ask_cli``), and unknown config keys (``test_config``, ``test_reliability_input``).
"""

from __future__ import annotations

import os
import pty
import secrets
import stat
import subprocess
import sys

import pexpect
from conftest import run_moa
from groq_server import Behavior, GroqServer
from test_reliability import FAST_RETRY, REFS, read_to_end, spawn_pty

from moa_cli.store import data_dir

PROMPT = "you›"
TURN_END = r"\d+/\d+ references"
EVIL = (
    "safe \x1b]0;pwned-title\x07 \x1b[2J\x1b[H \x1b[5A [red]literal[/red] "
    "\x1b]8;;http://evil.example\x1b\\link\x1b]8;;\x1b\\ \x9b31m end"
)
"""A window-title change, screen clear, cursor moves, an OSC 8 hyperlink, an 8-bit CSI, Rich markup."""
NO_KEYRING = "keyring.backends.fail.Keyring"
"""If ``keyring`` is installed, it must not store test keys in the real keyring: moa then uses its file."""
DRIVERS = [b"pwned-title", b"\x1b[2J", b"\x1b[H", b"\x1b[5A", b"\x1b]8;;", "\x9b".encode()]


def assert_inert(output: bytes) -> None:
    """None of EVIL's control sequences reached the terminal, and its markup shows literally."""
    for sequence in DRIVERS:
        assert sequence not in output, sequence
    assert b"[red]literal[/red]" in output


def test_the_api_key_appears_only_in_the_authorization_header(
    groq_server: GroqServer, moa_env: dict[str, str]
) -> None:
    key = "gsk_" + secrets.token_hex(20)
    del moa_env["GROQ_API_KEY"]
    moa_env["PYTHON_KEYRING_BACKEND"] = NO_KEYRING
    stored = run_moa(["keys", "set", "groq"], moa_env, stdin=key.encode() + b"\n")  # kept by moa, not the shell
    assert stored.returncode == 0, stored.stderr
    outputs = [stored]

    outputs.append(run_moa(["ask", "--json", "--session", "s", *REFS, "q"], moa_env))
    groq_server.set("ref/b", Behavior(status=401))
    groq_server.set("agg/x", Behavior(status=500, headers=FAST_RETRY))
    failed = run_moa(["--verbose", "ask", "--json", "--session", "s", *REFS, "again"], moa_env)
    assert failed.returncode == 1 and "Groq rejected the API key" in failed.stderr.decode()
    assert "'authorization': 'Bearer [redacted]'" in failed.stderr.decode()  # each request logged
    outputs.append(failed)
    for args in (
        ["ask", "--dry-run", *REFS, "q"],
        ["ask", "--dry-run", "--json", *REFS, "q"],
        ["sessions", "export", "s", "--format", "md"],
        ["sessions", "export", "s", "--format", "json"],
        ["keys", "list"],
    ):
        outputs.append(run_moa(args, moa_env))
        assert outputs[-1].returncode == 0, (args, outputs[-1].stderr)

    assert {r.headers["authorization"] for r in groq_server.requests} == {f"Bearer {key}"}
    for proc in outputs:
        assert key.encode() not in proc.stdout + proc.stderr, proc.args
    home = data_dir(moa_env)
    databases = [p for p in home.iterdir() if p.name.startswith("moa.db")]
    assert databases
    for path in databases:
        assert key.encode() not in path.read_bytes(), path


def test_data_files_are_private_even_with_an_open_umask(groq_server: GroqServer, moa_env: dict[str, str]) -> None:
    open_umask = lambda: os.umask(0)  # noqa: E731
    moa_env["PYTHON_KEYRING_BACKEND"] = NO_KEYRING
    stored = subprocess.run(
        [sys.executable, "-m", "moa_cli", "keys", "set", "openrouter"],
        input=b"sk-or-test\n", capture_output=True, env=moa_env, preexec_fn=open_umask, timeout=30,
    )
    assert stored.returncode == 0, stored.stderr
    child = spawn_pty(["chat", *REFS], moa_env, encoding="utf-8", preexec_fn=open_umask)
    child.expect_exact(PROMPT)
    child.send("hello\r")
    child.expect(TURN_END)
    child.expect_exact(PROMPT)
    home = data_dir(moa_env)
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in home.iterdir()}  # while chat holds them open
    child.sendcontrol("d")
    read_to_end(child)
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    assert modes == {name: 0o600 for name in ("moa.db", "moa.db-wal", "moa.db-shm", "input_history", "keys.json")}


def chat_turn_with_evil_answers(server: GroqServer, env: dict[str, str]) -> tuple[pexpect.spawn, bytes]:
    """A chat on a terminal after one turn in which every model answered EVIL; and what it showed."""
    for model in ("ref/a", "ref/b", "agg/x"):
        server.set(model, Behavior(text=EVIL + "\n"))
    child = spawn_pty(["chat", *REFS], env)
    child.expect_exact(PROMPT.encode())
    child.send(b"hi\r")
    child.expect(TURN_END.encode())
    seen = child.before
    child.expect_exact(PROMPT.encode())
    return child, seen + child.before


def test_model_text_cannot_drive_the_terminal_in_chat(groq_server: GroqServer, moa_env: dict[str, str]) -> None:
    child, seen = chat_turn_with_evil_answers(groq_server, moa_env)
    child.sendcontrol("d")
    read_to_end(child)
    assert seen.count(b"safe") >= 2  # the reference panels' summary and the answer
    assert_inert(seen)


def test_history_command_in_chat_shows_model_text_inert(groq_server: GroqServer, moa_env: dict[str, str]) -> None:
    child, _ = chat_turn_with_evil_answers(groq_server, moa_env)
    child.send(b"/history\r")
    child.expect_exact(b"moa: ")
    child.expect_exact(PROMPT.encode())
    seen = child.before
    child.sendcontrol("d")
    read_to_end(child)
    assert b"safe" in seen
    assert_inert(seen)


def test_sessions_show_on_a_terminal_shows_model_text_inert(groq_server: GroqServer, moa_env: dict[str, str]) -> None:
    for model in ("ref/a", "agg/x"):
        groq_server.set(model, Behavior(text=EVIL))
    assert run_moa(["ask", "--session", "s", *REFS, "q"], moa_env).returncode == 0
    output = read_to_end(spawn_pty(["sessions", "show", "s", "--refs"], moa_env))
    assert output.count(b"safe") == 2  # the answer and ref/a's
    assert_inert(output)


def test_error_text_cannot_drive_the_terminal_in_chat(groq_server: GroqServer, moa_env: dict[str, str]) -> None:
    groq_server.set("agg/x", Behavior(status=400, error_message=EVIL))
    child = spawn_pty(["chat", *REFS], moa_env)
    child.expect_exact(PROMPT.encode())
    child.send(b"hi\r")
    child.expect_exact(b"error: ")
    child.expect_exact(PROMPT.encode())
    seen = child.before
    child.sendcontrol("d")
    read_to_end(child)
    assert b"safe" in seen
    assert_inert(seen)


def test_error_line_of_ask_cannot_drive_the_terminal(groq_server: GroqServer, moa_env: dict[str, str]) -> None:
    groq_server.set("agg/x", Behavior(status=400, error_message=EVIL))
    output = read_to_end(spawn_pty(["ask", *REFS, "q"], moa_env))
    assert b"moa: error: " in output and b"safe" in output
    assert_inert(output)


def test_reference_answers_kept_on_a_terminal_stderr_are_inert(
    groq_server: GroqServer, moa_env: dict[str, str]
) -> None:
    groq_server.set("ref/a", Behavior(text=EVIL))
    groq_server.set("agg/x", Behavior(status=500, headers=FAST_RETRY))
    master, slave = pty.openpty()  # `moa ask q > answer.md` typed at a terminal
    try:
        with os.fdopen(slave, "wb") as terminal:
            proc = subprocess.run(
                [sys.executable, "-m", "moa_cli", "ask", *REFS, "q"],
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=terminal, env=moa_env, timeout=30,
            )
        seen = b""
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the terminal's other side is closed and drained
                break
            if not chunk:
                break
            seen += chunk
    finally:
        os.close(master)
    assert proc.returncode == 1 and proc.stdout == b""
    assert b"best reference answer: ref/" in seen and b"safe" in seen
    assert_inert(seen)
