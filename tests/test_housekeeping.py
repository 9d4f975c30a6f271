"""Housekeeping commands as a user runs them: sessions show/rename, keys rm, completion."""

from __future__ import annotations

import json
import re

import pexpect
import procs
from conftest import run_moa
from groq_server import Behavior, GroqServer

REFS = ["-m", "ref/a", "-a", "agg/x"]


def test_sessions_show_without_an_id_prints_the_last_session(groq_server: GroqServer, moa_env: dict[str, str]) -> None:
    run_moa(["ask", *REFS, "older question"], moa_env)
    run_moa(["ask", *REFS, "newest question"], moa_env)
    proc = run_moa(["sessions", "show"], moa_env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.decode().startswith("# newest question\n")
    assert "## You" in proc.stdout.decode()  # plain Markdown to a pipe


def test_sessions_show_with_no_sessions_says_so(moa_env: dict[str, str]) -> None:
    proc = run_moa(["sessions", "show"], moa_env)
    assert proc.returncode == 1
    assert proc.stderr.decode() == "moa: error: no sessions yet; ask something first\n"


def test_sessions_show_renders_markdown_on_a_terminal(groq_server: GroqServer, moa_env: dict[str, str]) -> None:
    groq_server.set("agg/x", Behavior(text="Some **bold** words"))
    run_moa(["ask", *REFS, "q"], moa_env)
    child = procs.spawn(["sessions", "show"], moa_env, encoding="utf-8", dimensions=(40, 100))
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    shown = re.sub(r"\x1b\[[0-9;]*m", "", child.before)
    assert "Some bold words" in shown and "**" not in shown and "## You" not in shown


def test_a_short_session_prefix_says_ids_need_four_characters(groq_server: GroqServer, moa_env: dict[str, str]) -> None:
    proc = run_moa(["sessions", "show", "4b7"], moa_env)
    assert proc.returncode == 1
    assert "an id prefix needs 4 characters or more" in proc.stderr.decode()


def test_sessions_rename_names_a_session_that_session_then_resumes(
    groq_server: GroqServer, moa_env: dict[str, str]
) -> None:
    run_moa(["ask", *REFS, "first"], moa_env)
    (session,) = json.loads(run_moa(["sessions", "--json"], moa_env).stdout)
    proc = run_moa(["sessions", "rename", session["id"], "work"], moa_env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.decode() == f"moa: session {session['id']} is now named 'work'\n"
    run_moa(["ask", *REFS, "--session", "work", "second"], moa_env)
    assert [m["content"] for m in groq_server.requests_for("ref/a")[-1].messages] == [
        "first", "agg/x answers: first", "second",
    ]


def test_keys_rm_forgets_a_stored_key(moa_env: dict[str, str]) -> None:
    moa_env = {**moa_env, "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}
    assert run_moa(["keys", "set", "openai"], moa_env, stdin=b"sk-test\n").returncode == 0
    assert "keys.json" in run_moa(["keys", "list"], moa_env).stdout.decode().splitlines()[1]
    proc = run_moa(["keys", "rm", "openai"], moa_env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.decode().startswith("moa: removed the openai key from ")
    assert run_moa(["keys", "list"], moa_env).stdout.decode().splitlines()[1].split() == ["openai", "missing"]
    again = run_moa(["keys", "rm", "openai"], moa_env)
    assert again.returncode == 2 and "no stored key for 'openai'" in again.stderr.decode()


def complete(words: str, env: dict[str, str]) -> list[str]:
    """What bash completion offers for the command line ``words`` (the cursor after the last word)."""
    parts = words.split(" ")
    env = {**env, "_MOA_COMPLETE": "complete_bash", "COMP_WORDS": words, "COMP_CWORD": str(len(parts) - 1)}
    proc = run_moa([], env)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.decode().split()


def test_completion_prints_a_script_for_each_shell(moa_env: dict[str, str]) -> None:
    for shell, mark in (("bash", "complete -o"), ("zsh", "compdef"), ("fish", "complete --command moa")):
        proc = run_moa(["completion", shell], moa_env)
        assert proc.returncode == 0, proc.stderr
        assert mark in proc.stdout.decode() and "_MOA_COMPLETE" in proc.stdout.decode()
    wrong = run_moa(["completion", "tcsh"], moa_env)
    assert wrong.returncode == 2 and wrong.stderr.decode().count("\n") == 1


def test_completion_offers_commands_options_and_session_ids(groq_server: GroqServer, moa_env: dict[str, str]) -> None:
    assert complete("moa ses", moa_env) == ["sessions"]
    assert complete("moa ask --ro", moa_env) == ["--role"]
    run_moa(["ask", *REFS, "q"], moa_env)
    (session,) = json.loads(run_moa(["sessions", "--json"], moa_env).stdout)
    assert complete("moa sessions show ", moa_env) == [session["id"]]


def test_completion_offers_the_config_files_roles(moa_env: dict[str, str], tmp_path) -> None:
    (tmp_path / "moa.toml").write_text('[roles.reviewer]\nsystem = "R"\n[roles.poet]\nsystem = "P"\n')
    moa_env["MOA_CONFIG"] = str(tmp_path / "moa.toml")
    assert complete("moa chat --role p", moa_env) == ["poet"]
