"""Issue #16: what a crash, an unwritable stderr or endless input cannot take, through the real CLI.

kill -9 mid-turn (every finished reference answer is already stored), a dead moa whose pid now
belongs to a live process (recovered all the same), stderr on a full device or closed (the answer
still reaches stdout), endless stdin (refused quickly, memory bounded) and a reference asking
to retry in a minute (left out once the others are done). ``docs/reliability.md`` has the table.
"""

from __future__ import annotations

import resource
import sqlite3
import subprocess
import sys
import time

import procs
from conftest import run_moa
from groq_server import Behavior, GroqServer
from test_reliability import (
    REFS,
    WORDS,
    agents_of,
    assert_database_consistent,
    db_path,
    only_turn,
    raw_statuses,
)


def start_ask(env: dict[str, str], *args: str, stderr: int = subprocess.PIPE) -> subprocess.Popen[bytes]:
    return procs.popen(["ask", *REFS, *args, "q"], env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=stderr)


def checkpointed_answer(env: dict[str, str]) -> str:
    """The answer so far as the running turn's last checkpoint stored it ('' before there is one)."""
    try:
        db = sqlite3.connect(f"file:{db_path(env)}?mode=ro", uri=True)
    except sqlite3.Error:
        return ""
    try:
        row = db.execute("SELECT answer FROM turns").fetchone()
    except sqlite3.Error:  # not created yet
        return ""
    finally:
        db.close()
    return row[0] if row else ""


def kill_while_the_aggregator_streams(groq_server: GroqServer, env: dict[str, str]) -> None:
    """Start ``moa ask``; once the aggregator streams and the recorder has checkpointed it, kill -9.

    The checkpoint (one a second) proves the recorder runs; the references' rows are not waited for.
    """
    groq_server.set("ref/a", Behavior(text="Answer A."))
    groq_server.set("ref/b", Behavior(text="Answer B."))
    groq_server.set("agg/x", Behavior(text=WORDS, tokens_per_second=50))
    proc = start_ask(env)
    assert proc.stdout is not None
    assert proc.stdout.read(6) == b"w0 w1 "
    deadline = time.monotonic() + 6  # the answer streams for 8 s
    while not checkpointed_answer(env) and time.monotonic() < deadline:
        time.sleep(0.02)  # polling the database with a deadline: there is no event to wait on
    assert checkpointed_answer(env).startswith("w0 w1 ")
    proc.kill()
    proc.wait(timeout=10)


def test_kill_9_while_the_aggregator_streams_keeps_both_reference_answers(
    groq_server: GroqServer, moa_env: dict[str, str]
) -> None:
    kill_while_the_aggregator_streams(groq_server, moa_env)
    assert raw_statuses(moa_env) == [("running", None)]  # nobody marked it: the process died
    turn = only_turn(moa_env)  # opening the store recovers it
    assert (turn.status, turn.error) == ("interrupted", "moa stopped before the turn finished")
    assert agents_of(turn) == {"ref/a": ("done", "Answer A."), "ref/b": ("done", "Answer B.")}
    assert_database_consistent(moa_env)


def stored_reference_rows(env: dict[str, str]) -> int:
    """How many reference rows the running turn has stored so far (read-only, as another reader would)."""
    try:
        db = sqlite3.connect(f"file:{db_path(env)}?mode=ro", uri=True)
        try:
            return db.execute("SELECT count(*) FROM agents WHERE role = 'reference'").fetchone()[0]
        finally:
            db.close()
    except sqlite3.Error:  # not created yet
        return 0


def test_kill_9_while_the_aggregators_server_sends_no_headers_keeps_both_reference_answers(
    groq_server: GroqServer, moa_env: dict[str, str]
) -> None:
    """The layer's end waits for the aggregator's request to leave, but not for its server to answer."""
    groq_server.set("ref/a", Behavior(text="Answer A."))
    groq_server.set("ref/b", Behavior(text="Answer B."))
    groq_server.set("agg/x", Behavior(hang=True))
    proc = start_ask(moa_env)
    try:
        groq_server.wait_for_requests(3, timeout=20)  # the aggregator's request is in, and never answered
        deadline = time.monotonic() + 5
        while stored_reference_rows(moa_env) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)  # polling the database with a deadline: there is no event to wait on
    finally:
        proc.kill()
        proc.wait(timeout=10)
    assert agents_of(only_turn(moa_env)) == {"ref/a": ("done", "Answer A."), "ref/b": ("done", "Answer B.")}
    assert_database_consistent(moa_env)


def test_a_dead_moa_whose_pid_is_alive_again_is_recovered(groq_server: GroqServer, moa_env: dict[str, str]) -> None:
    """In a container moa may run as PID 1: that pid is alive in every later run, yet the process is not."""
    kill_while_the_aggregator_streams(groq_server, moa_env)
    db = sqlite3.connect(db_path(moa_env))
    with db:
        db.execute("UPDATE turns SET pid = 1")  # the turn's pid now names a live process, not moa
    db.close()
    listed = run_moa(["sessions", "list"], moa_env)
    assert listed.returncode == 0, listed.stderr
    assert raw_statuses(moa_env) == [("interrupted", "moa stopped before the turn finished")]


def test_a_full_stderr_never_costs_the_answer(groq_server: GroqServer, moa_env: dict[str, str]) -> None:
    groq_server.set("ref/a", Behavior(status=500, headers={"retry-after-ms": "20"}))  # warnings to say
    with open("/dev/full", "w") as full:
        proc = start_ask(moa_env, stderr=full.fileno())
        stdout, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0
    assert stdout.decode() == "agg/x answers: q\n"
    assert only_turn(moa_env).status == "complete"


def test_a_closed_stderr_never_costs_the_answer(groq_server: GroqServer, moa_env: dict[str, str]) -> None:
    groq_server.set("ref/a", Behavior(status=500, headers={"retry-after-ms": "20"}))
    proc = subprocess.run(
        ["sh", "-c", 'exec "$0" -m moa_cli ask "$@" q 2>&-', sys.executable, *REFS],
        stdin=subprocess.DEVNULL,
        capture_output=False,
        stdout=subprocess.PIPE,
        env=moa_env,
        timeout=30,
    )
    assert proc.returncode == 0
    assert proc.stdout.decode() == "agg/x answers: q\n"
    turn = only_turn(moa_env)
    assert turn.status == "complete" and agents_of(turn)["ref/a"][0] == "failed"
    assert_database_consistent(moa_env)


def test_endless_stdin_is_refused_quickly_with_bounded_memory(
    groq_server: GroqServer, moa_env: dict[str, str]
) -> None:
    started = time.monotonic()
    yes = subprocess.Popen(["yes"], stdout=subprocess.PIPE)
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "moa_cli", "ask", *REFS, "q"],
            stdin=yes.stdout,
            capture_output=True,
            env=moa_env,
            timeout=30,
            preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30)),
        )
    finally:
        yes.kill()
        yes.wait()
    assert proc.returncode == 2
    assert proc.stderr.decode().splitlines() == [
        "moa: error: stdin holds more than 8 MiB; moa reads at most that much (more fits no model's context)"
    ]
    assert time.monotonic() - started < 10
    assert groq_server.requests == []


def test_a_reference_asking_to_retry_in_a_minute_is_left_out_once_the_others_are_done(
    groq_server: GroqServer, moa_env: dict[str, str]
) -> None:
    groq_server.set("ref/a", Behavior(status=503, headers={"retry-after": "59"}))
    started = time.monotonic()
    proc = run_moa(["ask", *REFS, "q"], moa_env)
    took = time.monotonic() - started
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.decode() == "agg/x answers: q\n"
    stderr = proc.stderr.decode()
    assert "ref/a: Groq server error 503 (Service Unavailable); retrying in 59s" in stderr
    assert "warning: ref/a: left out: still to retry in 59s, after the others were done" in stderr
    assert took < 10
    assert len(groq_server.requests_for("ref/a")) == 1
    turn = only_turn(moa_env)
    assert turn.status == "complete" and agents_of(turn)["ref/a"][0] == "dropped"
