"""Issue #6: a broken, unreachable or full session database never costs the answer or the old data.

Tests run as root in CI, so permissions cannot make a file unwritable. What works for anyone:
a data directory under a regular file, a database path that is a directory, damaged bytes, and a
full disk simulated with RLIMIT_FSIZE (Python ignores SIGXFSZ, so SQLite's writes fail with EFBIG
as they would with ENOSPC; the message then says "disk I/O error" instead of "database or disk is
full"). Already covered: ``moa ask`` answering over a garbage file (``test_sessions_cli``) and the
store's own handling of each case in process (``test_store``).
"""

from __future__ import annotations

import os
import resource
import sqlite3
import subprocess
import sys
from pathlib import Path

import procs
import pytest
from conftest import run_moa
from groq_server import Behavior, GroqServer
from test_reliability import (
    REFS,
    assert_database_consistent,
    db_path,
    raw_statuses,
    read_to_end,
    spawn_pty,
    stored_turns,
)

from moa_cli.store import Store

TURN_END = r"\d+/\d+ references"


def files_in(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


def first_turn(env: dict[str, str]) -> None:
    """One stored exchange, the old data every case below must keep."""
    proc = run_moa(["ask", "-q", *REFS, "kept question " + "padding " * 2_000], env)
    assert proc.returncode == 0, proc.stderr


def file_size_limit(limit: int):  # type: ignore[no-untyped-def]
    """A preexec_fn: no file this process writes may grow past ``limit`` bytes (a full disk)."""
    return lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


def damage_one_page(path: Path) -> None:
    """Make the agent outputs' table page invalid, the rest readable, as if checked clean long ago."""
    db = sqlite3.connect(path)
    (page_size,) = db.execute("PRAGMA page_size").fetchone()
    (root,) = db.execute("SELECT rootpage FROM sqlite_master WHERE name = 'agent_outputs'").fetchone()
    db.execute("PRAGMA user_version = 0")  # the last clean check was long ago
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    with path.open("r+b") as file:
        file.seek((root - 1) * page_size)
        file.write(b"\xff" * 8)  # not a b-tree page type


@pytest.mark.parametrize("damage", ["garbage", "truncated", "one-bad-page"])
def test_a_damaged_database_is_reported_and_never_modified(
    groq_server: GroqServer, moa_env: dict[str, str], damage: str
) -> None:
    path = db_path(moa_env)
    if damage == "garbage":
        path.parent.mkdir(parents=True)
        path.write_bytes(b"not a database at all " * 1_000)
    elif damage == "truncated":
        first_turn(moa_env)
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    else:  # opening reads none of that page: only quick_check finds it
        first_turn(moa_env)
        damage_one_page(path)
    before = files_in(path.parent)
    earlier_requests = len(groq_server.requests)

    answered = run_moa(["ask", *REFS, "q"], moa_env)  # without a session asked for, it still answers
    assert answered.returncode == 0, answered.stderr
    assert answered.stdout == b"agg/x answers: q\n"
    assert f"moa: warning: history will not be saved: cannot open session database {path}: " in answered.stderr.decode()
    if damage == "one-bad-page":
        assert "it fails SQLite's quick_check (" in answered.stderr.decode()

    for args in (["ask", "-c", *REFS, "q"], ["sessions"]):  # -c (like --session NAME) needs the store
        refused = run_moa(args, moa_env)
        assert refused.returncode == 1, args
        assert refused.stderr.decode().startswith(f"moa: error: cannot open session database {path}: "), args
        assert refused.stderr.count(b"\n") == 1 and refused.stdout == b""
    assert len(groq_server.requests) == earlier_requests + 3  # only the answered ask reached the server

    assert files_in(path.parent) == before


def test_chat_refuses_a_damaged_database_and_leaves_it_alone(moa_env: dict[str, str]) -> None:
    path = db_path(moa_env)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"\x00garbage" * 2_000)
    output = read_to_end(spawn_pty(["chat", *REFS], moa_env))
    assert output.decode() == f"moa: error: cannot open session database {path}: file is not a database\r\n"
    assert path.read_bytes() == b"\x00garbage" * 2_000


@pytest.mark.parametrize("where", ["under-a-regular-file", "database-is-a-directory"])
def test_an_unusable_data_directory(
    groq_server: GroqServer, moa_env: dict[str, str], tmp_path: Path, where: str
) -> None:
    blocker = tmp_path / "blocker"
    if where == "under-a-regular-file":
        blocker.write_text("a file, not a directory\n")
        moa_env["MOA_HOME"] = str(blocker / "moa")
        reason = "Not a directory"
    else:
        (blocker / "moa.db").mkdir(parents=True)
        moa_env["MOA_HOME"] = str(blocker)
        reason = "unable to open database file"
    path = db_path(moa_env)

    answered = run_moa(["ask", *REFS, "q"], moa_env)
    assert answered.returncode == 0, answered.stderr
    assert answered.stdout == b"agg/x answers: q\n"
    assert f"history will not be saved: cannot open session database {path}: {reason}" in answered.stderr.decode()

    listed = run_moa(["sessions"], moa_env)
    assert listed.returncode == 1
    assert listed.stderr.decode() == f"moa: error: cannot open session database {path}: {reason}\n"
    if where == "under-a-regular-file":
        assert blocker.read_text() == "a file, not a directory\n"
    else:
        assert [p.name for p in blocker.iterdir()] == ["moa.db"] and list(path.iterdir()) == []


def test_a_full_disk_when_the_turn_begins_still_answers(groq_server: GroqServer, moa_env: dict[str, str]) -> None:
    first_turn(moa_env)
    with Store.open(env=moa_env):  # another moa holds the database open: its -shm and -wal exist
        proc = subprocess.run(
            [sys.executable, "-m", "moa_cli", "ask", *REFS, "q"],
            input=b"", capture_output=True, env=moa_env, timeout=30, preexec_fn=file_size_limit(1),
        )
    assert (proc.returncode, proc.stdout) == (0, b"agg/x answers: q\n"), proc.stderr
    assert "moa: warning: " in proc.stderr.decode() and "not saved" in proc.stderr.decode()
    assert_database_consistent(moa_env)
    assert [t.question[:13] for t in stored_turns(moa_env)] == ["kept question"]


def test_a_full_disk_in_chat_still_answers(groq_server: GroqServer, moa_env: dict[str, str]) -> None:
    first_turn(moa_env)
    with Store.open(env=moa_env):
        child = spawn_pty(["chat", *REFS], moa_env, encoding="utf-8", preexec_fn=file_size_limit(1))
        child.expect_exact("you›")
        child.send("hello\r")
        outcome = child.expect([TURN_END, "error: ", "Unhandled exception"])
        seen = child.before + str(child.after)
        child.terminate(force=True)
    assert outcome == 0, "no answer: " + seen
    assert "Traceback" not in seen and "Unhandled" not in seen
    assert [t.question[:13] for t in stored_turns(moa_env)] == ["kept question"]


def test_a_disk_that_fills_while_the_answer_streams_costs_only_the_record(
    groq_server: GroqServer, moa_env: dict[str, str]
) -> None:
    first_turn(moa_env)
    answer = " ".join(f"w{i}" for i in range(60))
    groq_server.set("agg/x", Behavior(text=answer, tokens_per_second=100))
    proc = procs.popen(["ask", *REFS, "q"], moa_env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None
    first = os.read(proc.stdout.fileno(), 3)  # unbuffered: communicate() reads the fd, not a buffer
    resource.prlimit(proc.pid, resource.RLIMIT_FSIZE, (1, 1))  # now the disk is full
    rest, stderr = proc.communicate(timeout=10)
    assert proc.returncode == 0, stderr
    assert first + rest == answer.encode() + b"\n"
    assert f"moa: warning: this turn was not saved: cannot write session database {db_path(moa_env)}" in stderr.decode()

    assert raw_statuses(moa_env) == [("complete", None), ("running", None)]  # left as begun
    first_record, lost = stored_turns(moa_env)  # opening again marks it interrupted
    assert first_record.question.startswith("kept question") and first_record.status == "complete"
    assert (lost.question, lost.status, lost.error) == ("q", "interrupted", "moa stopped before the turn finished")
    assert_database_consistent(moa_env)
