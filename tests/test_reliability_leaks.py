"""Issue #16: what must not leak: server text driving a terminal, credentials, keys, and the files.

Server-supplied model ids and answers carrying C1 and bidi controls (``moa models``, ``--json``
on a terminal), credentials in a provider's URL and a key echoed by a server (shown nowhere,
stored nowhere), data files another user owns or can write (refused, naming the fix), a corrupt
``keys.json`` (one line, and repairable), and a session name that is also another session's id.
``docs/reliability.md`` has the table.
"""

from __future__ import annotations

import json
import os
import secrets
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import run_moa
from groq_server import Behavior, GroqServer
from test_reliability import REFS, closed_port, db_path, read_to_end, spawn_pty, stored_turns
from test_reliability_security import NO_KEYRING

from moa_cli.store import Store, data_dir

C1_AND_BIDI = ["\x9b", "\x9d", "\u202e", "\u2066", "\u2069"]
EVIL_ID = "evil\x1b]0;pwned-title\x07\x1b]52;c;cHduZWQ=\x07\x1b[2J\u202egnp.exe\x9b31m"
"""A model id that would retitle the pane, write the clipboard (OSC 52), clear the screen and
reverse what follows, if drawn raw."""


def raw_drivers(output: bytes) -> list[bytes]:
    """The terminal-driving sequences of EVIL_ID, C1 and bidi controls that ``output`` holds raw."""
    drivers = [b"pwned-title", b"\x1b]52", b"\x1b[2J", *(c.encode() for c in C1_AND_BIDI)]
    return [d for d in drivers if d in output]


def raw_in_json(output: bytes) -> list[bytes]:
    """What JSON would carry raw to a terminal: ESC (JSON escapes it, ``\\u001b``), C1 and bidi controls."""
    return [d for d in (b"\x1b]", b"\x1b[", *(c.encode() for c in C1_AND_BIDI)) if d in output]


# --- F7, F8: server text on a terminal -----------------------------------------------------------


def test_moa_models_on_a_terminal_draws_server_model_ids_inert(
    groq_server: GroqServer, moa_env: dict[str, str]
) -> None:
    groq_server.set(EVIL_ID, Behavior())
    output = read_to_end(spawn_pty(["models"], moa_env))
    assert b"evil" in output and b"gnp.exe" in output
    assert raw_drivers(output) == []


def test_moa_models_json_on_a_terminal_escapes_c1_and_bidi(groq_server: GroqServer, moa_env: dict[str, str]) -> None:
    groq_server.set(EVIL_ID, Behavior())
    proc = run_moa(["models", "--json"], moa_env)
    assert raw_in_json(proc.stdout) == []
    ids = [m["id"] for p in json.loads(proc.stdout)["providers"] for m in p["models"]]
    assert EVIL_ID in ids  # escaped, not altered: the JSON decodes to what the server sent
    output = read_to_end(spawn_pty(["models", "--json"], moa_env))
    assert raw_in_json(output) == []


def test_ask_json_on_a_terminal_escapes_c1_and_bidi(groq_server: GroqServer, moa_env: dict[str, str]) -> None:
    answer = "a \x9b2J b \x9d0;title\x07 c \u202ereversed\u202c d \u2066iso\u2069"
    groq_server.set("agg/x", Behavior(text=answer))
    output = read_to_end(spawn_pty(["ask", "--json", *REFS, "q"], moa_env))
    assert raw_in_json(output) == []
    proc = run_moa(["ask", "--json", *REFS, "q"], moa_env)
    assert raw_in_json(proc.stdout) == []
    assert json.loads(proc.stdout)["answer"] == answer


def test_ask_on_a_terminal_drops_bidi_controls(groq_server: GroqServer, moa_env: dict[str, str]) -> None:
    groq_server.set("agg/x", Behavior(text="left \u202eright\u202c and \u2067isolated\u2069 end"))
    output = read_to_end(spawn_pty(["ask", *REFS, "q"], moa_env))
    assert b"left right and isolated end" in output
    assert raw_drivers(output) == []


# --- F10, F11: credentials and keys ----------------------------------------------------------------


def leaked(secret: str, env: dict[str, str], *outputs: bytes) -> list[str]:
    """Where ``secret`` shows: in which output (by position), or which database file."""
    found = [f"output {i}" for i, out in enumerate(outputs) if secret.encode() in out]
    home = data_dir(env)
    files = [p for p in home.iterdir() if p.name.startswith("moa.db")] if home.exists() else []
    return found + [p.name for p in files if secret.encode() in p.read_bytes()]


def test_credentials_in_a_base_url_are_shown_and_stored_nowhere(
    groq_server: GroqServer, moa_env: dict[str, str], tmp_path: Path
) -> None:
    password, token, port = "pw-" + secrets.token_hex(8), "tok-" + secrets.token_hex(8), closed_port()
    url = f"http://bob:{password}@127.0.0.1:{port}/v1?api_key={token}"
    config = tmp_path / "moa.toml"
    config.write_text(f'[providers.local]\nbase_url = "{url}"\n')
    moa_env["MOA_CONFIG"] = str(config)
    args = ["-m", "ref/a", "-m", "local:m", "-a", "agg/x", "q"]
    outputs = []
    for command in (
        ["ask", "--session", "s", *args],
        ["--verbose", "ask", "--json", "--session", "s", *args],
        ["ask", "--dry-run", *args],
        ["ask", "--dry-run", "--json", *args],
        ["models"],
        ["models", "--json"],
        ["sessions", "export", "s", "--format", "json"],
    ):
        proc = run_moa(command, moa_env)
        outputs += [proc.stdout, proc.stderr]
    shown = b"".join(outputs).decode()
    redacted = f"http://[redacted]@127.0.0.1:{port}/v1?api_key=[redacted]"
    assert f"cannot connect to {redacted}" in shown  # the warnings still say where
    assert f"provider local: {redacted} (key: not needed)" in shown  # --dry-run
    assert f"local ({redacted})" in shown  # moa models
    assert leaked(password, moa_env, *outputs) == []
    assert leaked(token, moa_env, *outputs) == []
    agents = [a for turn in stored_turns(moa_env) for a in turn.agents if a.model == "local:m"]
    assert agents and all(a.status == "failed" and "[redacted]" in (a.error or "") for a in agents)


def test_a_key_echoed_by_the_server_is_shown_and_stored_nowhere(
    groq_server: GroqServer, moa_env: dict[str, str]
) -> None:
    key = "gsk_" + secrets.token_hex(20)
    moa_env["GROQ_API_KEY"] = key
    groq_server.set("ref/b", Behavior(status=400, error_message=f"bad request for key {key}"))
    groq_server.set("agg/x", Behavior(status=400, error_message=f"Invalid API Key: {key[:8]}...{key}"))
    outputs = []
    for command in (
        ["ask", "--session", "s", *REFS, "q"],
        ["--verbose", "ask", "--json", "--session", "s", *REFS, "q"],
        ["sessions", "export", "s", "--format", "md"],
    ):
        proc = run_moa(command, moa_env)
        outputs += [proc.stdout, proc.stderr]
    pty_output = read_to_end(spawn_pty(["ask", *REFS, "q"], moa_env))
    assert "bad request for key [redacted]" in outputs[1].decode()
    assert leaked(key, moa_env, *outputs, pty_output) == []
    errors = [a.error for turn in stored_turns(moa_env) for a in turn.agents if a.error]
    assert errors and all("[redacted]" in e for e in errors)


# --- F9: files others own or can write ---------------------------------------------------------------


def ask_once(env: dict[str, str]) -> Path:
    proc = run_moa(["ask", *REFS, "q"], env)
    assert proc.returncode == 0, proc.stderr
    return db_path(env)


@pytest.mark.parametrize("target", ["dir", "db"])
def test_a_data_dir_or_database_others_can_write_is_refused(
    groq_server: GroqServer, moa_env: dict[str, str], target: str
) -> None:
    db = ask_once(moa_env)
    path, mode, fix = (db.parent, 0o777, "chmod 700") if target == "dir" else (db, 0o666, "chmod 600")
    path.chmod(mode)
    before = db.read_bytes()
    expected = f"refusing {path}: others can write it (mode {mode:04o}); fix: {fix} {path}"
    proc = run_moa(["ask", *REFS, "q"], moa_env)
    assert proc.returncode == 0 and proc.stdout == b"agg/x answers: q\n"
    assert f"moa: warning: history will not be saved: {expected}" in proc.stderr.decode()
    listed = run_moa(["sessions", "list"], moa_env)
    assert (listed.returncode, listed.stderr.decode()) == (1, f"moa: error: {expected}\n")
    assert db.read_bytes() == before  # nothing written


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a file to another user needs root")
def test_a_database_another_user_owns_is_refused(groq_server: GroqServer, moa_env: dict[str, str]) -> None:
    db = ask_once(moa_env)
    os.chown(db, 4242, -1)
    listed = run_moa(["sessions", "list"], moa_env)
    assert listed.returncode == 1
    assert listed.stderr.decode() == (
        f"moa: error: refusing {db}: it belongs to another user (uid 4242); "
        f"fix: chown -R $(id -u) {db}, or set MOA_HOME to a directory of yours\n"
    )


def test_stored_keys_others_can_write_are_refused(groq_server: GroqServer, moa_env: dict[str, str]) -> None:
    moa_env["PYTHON_KEYRING_BACKEND"] = NO_KEYRING
    assert run_moa(["keys", "set", "openrouter"], moa_env, stdin=b"sk-or-x\n").returncode == 0
    keys = data_dir(moa_env) / "keys.json"
    keys.chmod(0o666)
    for command, stdin in ((["keys", "list"], b""), (["keys", "set", "openrouter"], b"sk-or-y\n")):
        proc = run_moa(command, moa_env, stdin=stdin)
        assert proc.returncode == 1, command
        expected = f"moa: error: refusing {keys}: others can write it (mode 0666); fix: chmod 600 {keys}\n"
        assert proc.stderr.decode() == expected


def test_directories_moa_creates_are_private_under_an_open_umask(
    groq_server: GroqServer, moa_env: dict[str, str], tmp_path: Path
) -> None:
    moa_env["XDG_DATA_HOME"] = str(tmp_path / "new" / "deeper" / "data")
    proc = subprocess_with_umask_0(["ask", *REFS, "q"], moa_env)
    assert proc.returncode == 0, proc.stderr
    for path in (tmp_path / "new", tmp_path / "new" / "deeper", tmp_path / "new" / "deeper" / "data"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o700, path
    assert stat.S_IMODE(db_path(moa_env).stat().st_mode) == 0o600


def subprocess_with_umask_0(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "moa_cli", *args], stdin=subprocess.DEVNULL, capture_output=True, env=env,
        timeout=30, preexec_fn=lambda: os.umask(0),
    )


# --- F14: a corrupt keys.json ------------------------------------------------------------------------


def test_a_corrupt_key_file_is_one_line_and_keys_set_replaces_it(
    groq_server: GroqServer, moa_env: dict[str, str]
) -> None:
    moa_env["PYTHON_KEYRING_BACKEND"] = NO_KEYRING
    keys = data_dir(moa_env) / "keys.json"
    keys.parent.mkdir(parents=True, mode=0o700)
    keys.write_bytes(b'{"openrouter": "sk-or-')  # cut short
    keys.chmod(0o600)
    listed = run_moa(["keys", "list"], moa_env)
    assert listed.returncode == 1
    assert listed.stderr.decode() == (
        f"moa: error: stored keys {keys} are not valid JSON (Unterminated string starting at: line 1 column 16 "
        "(char 15)); replace them with: moa keys set PROVIDER\n"
    )
    stored = run_moa(["keys", "set", "openrouter"], moa_env, stdin=b"sk-or-new\n")
    assert stored.returncode == 0, stored.stderr
    assert f"the unreadable file is kept as {keys}.corrupt" in stored.stderr.decode()
    assert json.loads(keys.read_text()) == {"openrouter": "sk-or-new"}
    listed = run_moa(["keys", "list"], moa_env)
    assert listed.returncode == 0 and f"openrouter   {keys}" in listed.stdout.decode()


# --- F13: a name is a name ---------------------------------------------------------------------------


def test_a_session_name_that_is_another_sessions_id_means_the_named_session(
    groq_server: GroqServer, moa_env: dict[str, str]
) -> None:
    ask_once(moa_env)
    with Store.open(env=moa_env) as store:
        (first,) = store.list_sessions()
        named = store.create_session(first.id)  # a session named like the first one's id
    proc = run_moa(["ask", "--session", first.id, *REFS, "second"], moa_env)
    assert proc.returncode == 0, proc.stderr
    with Store.open(env=moa_env) as store:
        assert [t.question for t in store.turns(named.id)] == ["second"]
        assert [t.question for t in store.turns(first.id)] == ["q"]
    assert groq_server.requests_for("ref/a")[-1].messages == [{"role": "user", "content": "second"}]


def test_an_id_prefix_used_as_a_session_name_is_said_in_one_line(
    groq_server: GroqServer, moa_env: dict[str, str]
) -> None:
    ask_once(moa_env)
    with Store.open(env=moa_env) as store:
        (first,) = store.list_sessions()
    proc = run_moa(["ask", "--session", first.id[:5], *REFS, "second"], moa_env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.decode().startswith(
        f"moa: warning: no session is named '{first.id[:5]}'; using session {first.id}, whose id starts with it\n"
    )
    with Store.open(env=moa_env) as store:
        assert [t.question for t in store.turns(first.id)] == ["q", "second"]
