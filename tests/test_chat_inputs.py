"""`moa chat` on a real pty: messages starting with /, files, roles, $EDITOR, /copy, /refs, /export, /retry."""

from __future__ import annotations

import base64
import stat
from pathlib import Path

import pexpect
import procs
from conftest import run_moa
from groq_server import Behavior, GroqServer
from test_chat_repl import PROMPT, REFS, leave, say, spawn_chat

from moa_cli.store import Store


def fake_editor(tmp_path: Path, text: str) -> str:
    """A program that, run as ``$EDITOR FILE``, writes ``text`` into FILE (as a person would, then saves)."""
    script = tmp_path / "editor.sh"
    script.write_text(f"#!/bin/sh\nprintf '%s' '{text}' > \"$1\"\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return str(script)


def last_user_message(server: GroqServer) -> str:
    return server.requests_for("ref/a")[-1].messages[-1]["content"]


def test_double_slash_sends_a_message_starting_with_a_slash(groq_server: GroqServer, moa_env: dict[str, str]) -> None:
    child = spawn_chat(REFS, moa_env)
    say(child, "//etc/hosts: what is it for?")
    assert last_user_message(groq_server) == "/etc/hosts: what is it for?"
    say(child, " /usr/bin is a directory?")
    assert last_user_message(groq_server) == "/usr/bin is a directory?"
    leave(child)


def test_file_goes_before_the_next_message(groq_server: GroqServer, moa_env: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("alpha\n")
    child = spawn_chat(REFS, moa_env)
    say(child, f"/file {tmp_path}/a.txt", until="next message")
    say(child, "Explain it")
    assert last_user_message(groq_server) == f'<file path="{tmp_path}/a.txt">\nalpha\n</file>\n\nExplain it'
    say(child, "And now?")
    assert last_user_message(groq_server) == "And now?"  # attached once, to one message
    leave(child)


def test_a_binary_file_is_refused_in_chat_without_leaving(
    groq_server: GroqServer, moa_env: dict[str, str], tmp_path: Path
) -> None:
    (tmp_path / "x.bin").write_bytes(b"\x00\x01")
    child = spawn_chat(REFS, moa_env)
    say(child, f"/file {tmp_path}/x.bin", until="is a binary file")
    leave(child)
    assert groq_server.requests == []


def test_role_switches_the_system_prompt_and_template(
    groq_server: GroqServer, moa_env: dict[str, str], tmp_path: Path
) -> None:
    config = tmp_path / "moa.toml"
    config.write_text('[roles.fr]\nsystem = "Answer in French."\nprompt = "Translate: {input}"\n'
                      'models = ["ref/a", "ref/b"]\naggregator = "agg/x"\n')
    moa_env["MOA_CONFIG"] = str(config)
    child = spawn_chat(REFS, moa_env)
    say(child, "/role fr", until="role fr: ref/a, ref/b")
    say(child, "good morning")
    assert groq_server.requests_for("ref/a")[-1].messages == [
        {"role": "system", "content": "Answer in French."},
        {"role": "user", "content": "Translate: good morning"},
    ]
    leave(child)


def test_role_given_on_the_command_line(groq_server: GroqServer, moa_env: dict[str, str], tmp_path: Path) -> None:
    config = tmp_path / "moa.toml"
    config.write_text('[roles.short]\nsystem = "Be brief."\n')
    moa_env["MOA_CONFIG"] = str(config)
    child = spawn_chat(["--role", "short", *REFS], moa_env)
    say(child, "hi")
    assert groq_server.requests_for("ref/a")[-1].messages[0] == {"role": "system", "content": "Be brief."}
    leave(child)


def test_edit_writes_the_message_in_the_editor(groq_server: GroqServer, moa_env: dict[str, str], tmp_path: Path) -> None:
    moa_env["EDITOR"] = fake_editor(tmp_path, "written in the editor")
    moa_env.pop("VISUAL", None)
    child = spawn_chat(REFS, moa_env)
    say(child, "/edit")
    assert last_user_message(groq_server) == "written in the editor"
    leave(child)


def test_ctrl_x_ctrl_e_opens_the_editor_and_sends_what_was_saved(
    groq_server: GroqServer, moa_env: dict[str, str], tmp_path: Path
) -> None:
    moa_env["EDITOR"] = fake_editor(tmp_path, "from ctrl-x ctrl-e")
    moa_env.pop("VISUAL", None)
    child = spawn_chat(REFS, moa_env)
    child.sendcontrol("x")
    child.sendcontrol("e")
    child.expect(r"\d+/\d+ references")
    child.expect_exact(PROMPT)
    assert last_user_message(groq_server) == "from ctrl-x ctrl-e"
    leave(child)


def test_copy_puts_the_last_answer_on_the_clipboard_with_osc52(
    groq_server: GroqServer, moa_env: dict[str, str]
) -> None:
    groq_server.set("agg/x", Behavior(text="Copy me."))
    child = spawn_chat(REFS, moa_env)
    say(child, "q")
    child.send("/copy\r")
    child.expect_exact("\x1b]52;c;" + base64.b64encode(b"Copy me.").decode() + "\x07")
    child.expect_exact("copied 8 characters")
    child.expect_exact(PROMPT)
    leave(child)


def test_refs_shows_the_last_turns_reference_answers_again(
    groq_server: GroqServer, moa_env: dict[str, str]
) -> None:
    groq_server.set("ref/b", Behavior(text="Bee's own answer"))
    child = spawn_chat(REFS, moa_env)
    say(child, "q")
    seen = say(child, "/refs", until="Bee's own answer")
    assert "ref/a answers: q" in seen
    leave(child)


def test_export_refuses_to_overwrite_unless_told(groq_server: GroqServer, moa_env: dict[str, str], tmp_path: Path) -> None:
    target = tmp_path / "out.md"
    target.write_text("precious")
    child = spawn_chat(REFS, moa_env)
    say(child, "q")
    say(child, f"/export {target}", until="exists; /export!")
    assert target.read_text() == "precious"
    say(child, f"/export! {target}", until="exported to")
    assert "## You" in target.read_text()
    leave(child)


def test_a_session_deleted_while_chatting_is_said_and_a_new_one_started(
    groq_server: GroqServer, moa_env: dict[str, str]
) -> None:
    groq_server.set("agg/x", Behavior(text="first answer"))
    child = spawn_chat(REFS, moa_env)
    say(child, "first")
    with Store.open(env=moa_env) as store:
        (session,) = store.list_sessions()
    assert run_moa(["sessions", "rm", session.id], moa_env).returncode == 0
    assert "was deleted meanwhile" in say(child, "second")
    leave(child)
    assert groq_server.requests_for("ref/a")[-1].messages == [{"role": "user", "content": "second"}]
    with Store.open(env=moa_env) as store:
        (fresh,) = store.list_sessions()
        assert fresh.id != session.id and [t.question for t in store.turns(fresh.id)] == ["second"]


def test_history_after_retry_shows_every_stored_turn_marked(groq_server: GroqServer, moa_env: dict[str, str]) -> None:
    child = spawn_chat(REFS, moa_env)
    say(child, "one")
    say(child, "/retry")
    seen = say(child, "/history", until=r"\d+ turns")
    leave(child)
    assert "asked again with /retry" in seen and "2 turns" in seen
    listing = run_moa(["sessions"], moa_env).stdout.decode()
    assert "   2 turns" in listing


def test_verbose_is_accepted_after_chat(groq_server: GroqServer, moa_env: dict[str, str]) -> None:
    child = spawn_chat(["-v", *REFS], moa_env)
    leave(child)


def test_continue_and_session_together_are_refused_by_chat(moa_env: dict[str, str]) -> None:
    env = {**moa_env, "TERM": "xterm-256color"}
    child = procs.spawn(["chat", "-c", "--session", "x"], env, encoding="utf-8")
    child.expect("contradict each other")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 2
