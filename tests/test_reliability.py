"""Issue #6: moa keeps working and loses nothing under faults. API faults, through the real CLI.

Each case injects one fault into the local Groq-speaking server, runs ``python -m moa_cli ask``
with piped stdin/stdout as a script would, and checks what the user sees (stdout, stderr), the
exit code, and what the session database holds afterwards. ``docs/reliability.md`` is the table
of these outcomes. The other ``test_reliability_*.py`` files cover signals, bad input and broken
storage, security, and load; they share the helpers defined here.
"""

from __future__ import annotations

import socket
import sqlite3
import subprocess
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pexpect
import procs
import pytest
from conftest import isolated_env, run_moa
from groq_server import Behavior, GroqServer, RecordedRequest

from moa_cli.store import DB_NAME, Store, TurnRecord, data_dir

REFS = ["-m", "ref/a", "-m", "ref/b", "-a", "agg/x"]
WORDS = " ".join(f"w{i}" for i in range(400))
"""A long answer; streamed at 50 tokens/s it lasts 8 s, time enough to interrupt it anywhere."""
FAST_RETRY = {"retry-after-ms": "20"}
"""Where the point is not the wait itself, the server asks for a 20 ms one to keep tests fast."""


# --- shared helpers ----------------------------------------------------------------------------


def db_path(env: dict[str, str]) -> Path:
    return data_dir(env) / DB_NAME


def stored_turns(env: dict[str, str]) -> list[TurnRecord]:
    """Every turn of every session, oldest session first, each with its agents' rows."""
    with Store.open(env=env) as store:
        sessions = store.list_sessions(limit=10_000)[::-1]
        return [turn for s in sessions for turn in store.turns(s.id, with_agents=True)]


def only_turn(env: dict[str, str]) -> TurnRecord:
    turns = stored_turns(env)
    assert len(turns) == 1, turns
    return turns[0]


def raw_statuses(env: dict[str, str]) -> list[tuple[str, str | None]]:
    """(status, error) of each turn as the writing process left it, before any Store.open() repairs."""
    db = sqlite3.connect(db_path(env))
    try:
        return db.execute("SELECT status, error FROM turns ORDER BY id").fetchall()
    finally:
        db.close()


def assert_database_consistent(env: dict[str, str]) -> None:
    """SQLite's own checks, foreign keys, the full-text index, and no turn left 'running'."""
    db = sqlite3.connect(db_path(env))
    try:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert db.execute("PRAGMA foreign_key_check").fetchall() == []
        db.execute("INSERT INTO turns_fts (turns_fts) VALUES ('integrity-check')")  # raises if out of sync
        assert db.execute("SELECT count(*) FROM turns WHERE status = 'running'").fetchone() == (0,)
    finally:
        db.close()


def agents_of(turn: TurnRecord) -> dict[str, tuple[str, str]]:
    """model -> (status, text) for each agent row of ``turn``."""
    return {a.model: (a.status, a.text) for a in turn.agents}


def use_config(env: dict[str, str], tmp_path: Path, text: str) -> Path:
    config = tmp_path / "moa.toml"
    config.write_text(text)
    env["MOA_CONFIG"] = str(config)
    return config


def closed_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def spawn_pty(args: list[str], env: dict[str, str], **kwargs: Any) -> pexpect.spawn:
    """``python -m moa_cli ARGS`` on a 40x120 pseudo-terminal; output is bytes unless ``encoding`` is given."""
    env = {**env, "TERM": "xterm-256color", "PROMPT_TOOLKIT_NO_CPR": "1"}
    child = procs.spawn(args, env, dimensions=(40, 120), timeout=15, **kwargs)
    child.delaybeforesend = None
    return child


def read_to_end(child: pexpect.spawn) -> Any:
    """Everything the child still prints, once it has exited (bytes or str, as spawned)."""
    child.expect(pexpect.EOF)
    child.close()
    return child.before


# --- the fault table ---------------------------------------------------------------------------


@dataclass
class Fault:
    """One injected fault and everything the user and the database must show afterwards."""

    behaviors: dict[str, Behavior]
    exit: int
    stdout: bytes
    stderr: tuple[str, ...]
    status: str
    """The stored turn's status."""
    answer: str
    """The stored turn's answer."""
    agents: dict[str, tuple[str, str]]
    """model -> (status, text) of every agent row stored with the turn."""
    requests: dict[str, int] = field(default_factory=dict)
    """model -> how many requests the server received for it."""
    aggregated: tuple[str, ...] = ()
    """Answers that must reach the aggregator's prompt; any other reference text must not."""
    waited: float = 0.0
    """Seconds the server saw between refusing ref/a and receiving its retry (Retry-After honoured)."""
    config: str = ""
    env: Callable[[dict[str, str]], None] | None = None


OK_A, OK_B = ("done", "ref/a answers: q"), ("done", "ref/b answers: q")
FAILED = ("failed", "")
ANSWER = b"agg/x answers: q\n"

FAULTS = {
    "500-once-then-ok": Fault(
        {"ref/a": Behavior(status=500, fail_times=1, headers=FAST_RETRY)},
        exit=0, stdout=ANSWER, stderr=("ref/a: Groq server error 500", "retrying in"),
        status="complete", answer="agg/x answers: q",
        agents={"ref/a": OK_A, "ref/b": OK_B, "agg/x": ("done", "agg/x answers: q")},
        requests={"ref/a": 2, "ref/b": 1, "agg/x": 1}, aggregated=("ref/a", "ref/b"), waited=0.02,
    ),
    "500-always": Fault(
        {"ref/a": Behavior(status=500, headers=FAST_RETRY)},
        exit=0, stdout=ANSWER, stderr=("warning: ref/a: Groq server error 500 (Internal Server Error)",),
        status="complete", answer="agg/x answers: q",
        agents={"ref/a": FAILED, "ref/b": OK_B, "agg/x": ("done", "agg/x answers: q")},
        requests={"ref/a": 3, "ref/b": 1, "agg/x": 1}, aggregated=("ref/b",),
    ),
    "429-short-retry-after": Fault(  # a whole-second Retry-After is test_ask_cli's
        {"ref/a": Behavior(status=429, fail_times=1, headers={"retry-after-ms": "250"})},
        exit=0, stdout=ANSWER, stderr=("rate limit reached for ref/a", "retrying in 0.25s"),
        status="complete", answer="agg/x answers: q",
        agents={"ref/a": OK_A, "ref/b": OK_B, "agg/x": ("done", "agg/x answers: q")},
        requests={"ref/a": 2, "ref/b": 1, "agg/x": 1}, aggregated=("ref/a", "ref/b"), waited=0.25,
    ),
    "429-wait-of-minutes": Fault(
        {"ref/a": Behavior(status=429, headers={"retry-after": "432"})},
        exit=0, stdout=ANSWER, stderr=("warning: rate limit reached for ref/a", "Groq asks to wait 7m12s"),
        status="complete", answer="agg/x answers: q",
        agents={"ref/a": FAILED, "ref/b": OK_B, "agg/x": ("done", "agg/x answers: q")},
        requests={"ref/a": 1, "ref/b": 1, "agg/x": 1}, aggregated=("ref/b",),
    ),
    "413-too-large": Fault(
        {"ref/a": Behavior(status=413)},
        exit=0, stdout=ANSWER, stderr=("warning: request too large for ref/a's limit", "Limit 8000"),
        status="complete", answer="agg/x answers: q",
        agents={"ref/a": FAILED, "ref/b": OK_B, "agg/x": ("done", "agg/x answers: q")},
        requests={"ref/a": 1, "ref/b": 1, "agg/x": 1}, aggregated=("ref/b",),
    ),
    "401-bad-key": Fault(
        {},
        exit=1, stdout=b"", stderr=("moa: error: Groq rejected the API key (401: Invalid API Key)",),
        status="failed", answer="",
        agents={"ref/a": FAILED, "ref/b": FAILED},
        env=lambda env: env.update(GROQ_API_KEY="bad-key"),  # the key the server refuses
    ),
    "404-unknown-model": Fault(
        {"ref/a": Behavior(status=404)},
        exit=0, stdout=ANSWER, stderr=("warning: model 'ref/a' is not available on Groq",),
        status="complete", answer="agg/x answers: q",
        agents={"ref/a": FAILED, "ref/b": OK_B, "agg/x": ("done", "agg/x answers: q")},
        requests={"ref/a": 1, "ref/b": 1, "agg/x": 1}, aggregated=("ref/b",),
    ),
    "400-decommissioned-aggregator": Fault(
        {"agg/x": Behavior(status=400, error_code="model_decommissioned")},
        exit=1, stdout=b"",
        stderr=("best reference answer: ref/a", "ref/a answers: q", "moa: error: model 'agg/x' is not available on Groq",
                "decommissioned"),
        status="failed", answer="",
        agents={"ref/a": OK_A, "ref/b": OK_B, "agg/x": FAILED},
        requests={"ref/a": 1, "ref/b": 1, "agg/x": 1}, aggregated=("ref/a", "ref/b"),
    ),
    "reference-stream-drops": Fault(
        {"ref/a": Behavior(text="alpha beta gamma delta", drop_after_tokens=2)},
        exit=0, stdout=ANSWER, stderr=("warning: ref/a: the connection dropped mid-answer",),
        status="complete", answer="agg/x answers: q",
        agents={"ref/a": ("failed", "alpha beta "), "ref/b": OK_B, "agg/x": ("done", "agg/x answers: q")},
        requests={"ref/a": 1, "ref/b": 1, "agg/x": 1}, aggregated=("ref/b",),
    ),
    "aggregator-stream-drops": Fault(
        {"agg/x": Behavior(text="alpha beta gamma delta", drop_after_tokens=2)},
        exit=1, stdout=b"alpha beta \n",
        stderr=("ref/a answers: q", "moa: error: agg/x: the connection dropped mid-answer"),
        status="failed", answer="alpha beta ",
        agents={"ref/a": OK_A, "ref/b": OK_B, "agg/x": ("failed", "alpha beta ")},
        requests={"ref/a": 1, "ref/b": 1, "agg/x": 1}, aggregated=("ref/a", "ref/b"),
    ),
    "reference-error-event-in-200-stream": Fault(
        {"ref/a": Behavior(text="alpha beta gamma delta", stream_error_after_tokens=2)},
        exit=0, stdout=ANSWER, stderr=("warning: ref/a: Groq stopped the answer: Internal Server Error",),
        status="complete", answer="agg/x answers: q",
        agents={"ref/a": ("failed", "alpha beta "), "ref/b": OK_B, "agg/x": ("done", "agg/x answers: q")},
        requests={"ref/a": 1, "ref/b": 1, "agg/x": 1}, aggregated=("ref/b",),
    ),
    "aggregator-error-event-in-200-stream": Fault(
        {"agg/x": Behavior(text="alpha beta gamma delta", stream_error_after_tokens=2)},
        exit=1, stdout=b"alpha beta \n",
        stderr=("best reference answer: ref/a", "moa: error: agg/x: Groq stopped the answer: Internal Server Error"),
        status="failed", answer="alpha beta ",
        agents={"ref/a": OK_A, "ref/b": OK_B, "agg/x": ("failed", "alpha beta ")},
        requests={"ref/a": 1, "ref/b": 1, "agg/x": 1}, aggregated=("ref/a", "ref/b"),
    ),
    "reference-never-answers": Fault(
        {"ref/a": Behavior(hang=True)},
        exit=0, stdout=ANSWER, stderr=("warning: ref/a: timed out waiting for Groq",),
        status="complete", answer="agg/x answers: q",
        agents={"ref/a": FAILED, "ref/b": OK_B, "agg/x": ("done", "agg/x answers: q")},
        requests={"ref/a": 1, "ref/b": 1, "agg/x": 1}, aggregated=("ref/b",), config="timeout = 0.5\n",
    ),
    "aggregator-never-answers": Fault(
        {"agg/x": Behavior(hang=True)},
        exit=1, stdout=b"", stderr=("ref/a answers: q", "moa: error: agg/x: timed out waiting for Groq"),
        status="failed", answer="",
        agents={"ref/a": OK_A, "ref/b": OK_B, "agg/x": FAILED},
        requests={"ref/a": 1, "ref/b": 1, "agg/x": 1}, aggregated=("ref/a", "ref/b"), config="timeout = 0.5\n",
    ),
    "connection-refused": Fault(
        {},
        exit=1, stdout=b"", stderr=("moa: error: cannot connect to http://127.0.0.1:", "(all 2 reference models)"),
        status="failed", answer="",
        agents={"ref/a": FAILED, "ref/b": FAILED},
        env=lambda env: env.update(GROQ_BASE_URL=f"http://127.0.0.1:{closed_port()}"),
    ),
    "every-reference-fails": Fault(
        {"ref/a": Behavior(status=404), "ref/b": Behavior(status=500, headers=FAST_RETRY)},
        exit=1, stdout=b"",
        stderr=("moa: error: all 2 reference models failed: model 'ref/a' is not available on Groq",
                "ref/b: Groq server error 500"),
        status="failed", answer="",
        agents={"ref/a": FAILED, "ref/b": FAILED},
        requests={"ref/a": 1, "ref/b": 3, "agg/x": 0},
    ),
    "aggregator-fails-after-references": Fault(
        {"agg/x": Behavior(status=500, headers=FAST_RETRY)},
        exit=1, stdout=b"",
        stderr=("best reference answer: ref/a (the longest complete of 2)", "\nref/a answers: q\n",
                "moa: error: agg/x: Groq server error 500 (Internal Server Error)"),
        status="failed", answer="",
        agents={"ref/a": OK_A, "ref/b": OK_B, "agg/x": FAILED},
        requests={"ref/a": 1, "ref/b": 1, "agg/x": 3}, aggregated=("ref/a", "ref/b"),
    ),
}


@dataclass
class Outcome:
    proc: subprocess.CompletedProcess[bytes]
    requests: list[RecordedRequest]
    env: dict[str, str]

    def requests_for(self, model: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.model == model]


def run_fault(fault: Fault, tmp: Path) -> Outcome:
    """One `moa ask` against its own server with ``fault`` injected, in its own directories."""
    with GroqServer() as server:
        for model, behavior in fault.behaviors.items():
            server.set(model, behavior)
        env = isolated_env(tmp, server)
        if fault.config:
            use_config(env, tmp, fault.config)
        if fault.env:
            fault.env(env)
        proc = run_moa(["ask", *REFS, "q"], env)
        return Outcome(proc, list(server.requests), env)


@pytest.fixture(scope="module")
def fault_outcomes(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Future[Outcome]]:
    """Every selected fault case, run four at a time: most of their time is waiting (retries, timeouts)."""
    wanted = [
        item.callspec.params["name"]
        for item in request.session.items
        if item.path == Path(__file__) and getattr(item, "originalname", "") == "test_fault"
    ] or list(FAULTS)
    wanted.sort(key=lambda name: not (FAULTS[name].env or FAULTS[name].config or FAULTS[name].waited))  # slow first
    with ThreadPoolExecutor(max_workers=4) as pool:
        return {name: pool.submit(run_fault, FAULTS[name], tmp_path_factory.mktemp(name)) for name in wanted}


@pytest.mark.parametrize("name", FAULTS)
def test_fault(name: str, fault_outcomes: dict[str, Future[Outcome]]) -> None:
    fault, outcome = FAULTS[name], fault_outcomes[name].result()
    proc, env = outcome.proc, outcome.env

    stderr = proc.stderr.decode()
    assert proc.returncode == fault.exit, stderr
    assert proc.stdout == fault.stdout
    for expected in fault.stderr:
        assert expected in stderr
    assert "Traceback" not in stderr
    assert env["GROQ_API_KEY"] not in stderr + proc.stdout.decode()
    errors = [line for line in stderr.splitlines() if line.startswith("moa: error:")]
    if fault.exit:  # a failure is one line, the last one
        assert len(errors) == 1 and stderr.splitlines()[-1] == errors[0]
    else:
        assert errors == []

    for model, count in fault.requests.items():
        assert len(outcome.requests_for(model)) == count, model
    if fault.waited:
        refused, retried = outcome.requests_for("ref/a")[:2]
        assert refused.first_byte_sent_at is not None
        assert retried.received_at - refused.first_byte_sent_at >= fault.waited
    if fault.aggregated:
        (aggregator,) = outcome.requests_for("agg/x")[:1]
        prompt = aggregator.messages[-1]["content"]
        for model in ("ref/a", "ref/b"):
            text = fault.agents[model][1] or f"{model} answers"
            assert (text in prompt) == (model in fault.aggregated), model

    assert_database_consistent(env)
    turn = only_turn(env)
    assert (turn.question, turn.status, turn.answer) == ("q", fault.status, fault.answer)
    assert agents_of(turn) == fault.agents
    for agent in turn.agents:  # every failure is stored with its reason
        assert (agent.error is not None) == (agent.status != "done"), agent
    if fault.status == "failed":
        assert turn.error and turn.error in stderr
