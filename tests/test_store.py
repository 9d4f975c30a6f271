"""The session database: round trips, history, crashes, concurrent writers, migrations, bad files."""

from __future__ import annotations

import errno
import os
import re
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from moa_cli import store as store_module
from moa_cli.errors import StoreError
from moa_cli.events import Agent, AgentResult, MoaResult, Usage
from moa_cli.migrations import MIGRATIONS, migrate
from moa_cli.prompts import INTERRUPTED
from moa_cli.request import Message
from moa_cli.store import AgentRow, Store, data_dir


def agent(role: str, model: str, text: str, *, layer: int = 1, index: int = 0, status: str = "done",
          error: str | None = None) -> AgentResult:
    return AgentResult(
        Agent(role, layer, index, model),  # type: ignore[arg-type]
        text_parts=[text],
        reasoning_parts=[f"{model} thinks"],
        usage=Usage(10, 20),
        status=status,
        error=error,
        started_at=100.0,
        first_token_at=100.25,
        finished_at=101.5,
    )


def result(answer: str, *, status: str = "complete", error: str | None = None,
           refs: tuple[str, ...] = ("ref one", "ref two")) -> MoaResult:
    references = [agent("reference", f"model-{i}", text, index=i) for i, text in enumerate(refs)]
    aggregator = agent("aggregator", "agg", answer, layer=2, status="done" if status == "complete" else status)
    return MoaResult("q", references, aggregator, status, error, started_at=100.0, finished_at=103.0)


def ask(store: Store, session_id: str, question: str, answer: str, **kwargs: object) -> int:
    turn = store.begin_turn(session_id, question, {"models": ["model-0", "model-1"], "layers": 1})
    store.finish_turn(turn, result(answer, **kwargs))  # type: ignore[arg-type]
    return turn


def run_python(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=30)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "moa.db"


@pytest.fixture
def store(path: Path) -> Iterator[Store]:
    with Store.open(path) as store:
        yield store


# --- location and files --------------------------------------------------------------------------


def test_data_dir_is_moa_home_else_xdg_data_home_else_local_share() -> None:
    assert data_dir({"MOA_HOME": "/m", "XDG_DATA_HOME": "/x", "HOME": "/h"}) == Path("/m")
    assert data_dir({"MOA_HOME": "~/m", "HOME": "/h"}) == Path("/h/m")
    assert data_dir({"XDG_DATA_HOME": "/x", "HOME": "/h"}) == Path("/x/moa")
    assert data_dir({"XDG_DATA_HOME": "relative", "HOME": "/h"}) == Path("/h/.local/share/moa")
    assert data_dir({"HOME": "/h"}) == Path("/h/.local/share/moa")


def test_open_without_a_path_creates_moa_db_in_the_data_dir(tmp_path: Path) -> None:
    with Store.open(env={"MOA_HOME": str(tmp_path / "home")}) as store:
        assert store.path == tmp_path / "home" / "moa.db"
    assert store.path.is_file()


def test_database_and_directory_are_private_even_with_an_open_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        with Store.open(tmp_path / "data" / "moa" / "moa.db") as store:
            store.create_session()
            wal_mode = stat.S_IMODE((tmp_path / "data" / "moa" / "moa.db-wal").stat().st_mode)
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "data" / "moa").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "data" / "moa" / "moa.db").stat().st_mode) == 0o600
    assert wal_mode == 0o600


def test_connection_uses_wal_busy_timeout_and_foreign_keys(store: Store) -> None:
    db = store._db  # the settings are the point of this test
    assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert db.execute("PRAGMA busy_timeout").fetchone() == (5000,)
    assert db.execute("PRAGMA foreign_keys").fetchone() == (1,)


# --- sessions --------------------------------------------------------------------------------------


def test_session_title_is_its_name_else_the_first_line_of_its_first_question(store: Store) -> None:
    named = store.create_session("physics")
    unnamed = store.create_session()
    assert store.find_session(unnamed.id).title == "(empty)"  # type: ignore[union-attr]
    ask(store, named.id, "ignored", "a")
    ask(store, unnamed.id, "\n  Explain entanglement " + "x" * 80 + "\nsecond line", "a")
    ask(store, unnamed.id, "a later question", "a")
    titles = {s.id: (s.title, s.turns) for s in store.list_sessions()}
    assert titles[named.id] == ("physics", 1)
    title, turns = titles[unnamed.id]
    assert turns == 2 and len(title) == 60 and title.startswith("Explain entanglement x") and title.endswith("…")


def test_sessions_are_listed_most_recently_updated_first(store: Store) -> None:
    first = store.create_session()
    second = store.create_session()
    assert store.last_session().id == second.id  # type: ignore[union-attr]
    ask(store, first.id, "q", "a")
    assert [s.id for s in store.list_sessions()] == [first.id, second.id]
    assert store.last_session().id == first.id  # type: ignore[union-attr]
    assert [s.id for s in store.list_sessions(limit=1)] == [first.id]


def test_find_session_takes_an_exact_id_a_name_or_a_unique_prefix_of_four_or_more(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = iter(["abcd1111", "abcd1111", "abcd2222", "ffff0000"])  # the repeat is redrawn
    monkeypatch.setattr(store_module, "_new_id", lambda: next(ids))
    one, two = store.create_session("work"), store.create_session()
    assert (one.id, two.id) == ("abcd1111", "abcd2222")
    assert store.find_session("abcd1111") == one
    assert store.find_session("work") == one
    found = store.find_session("abcd2")
    assert found is not None and found.id == two.id and found.by_prefix  # the caller can say so
    assert not store.find_session("abcd1111").by_prefix  # type: ignore[union-attr]
    assert store.find_session("abcd") is None  # ambiguous
    assert store.find_session("abc") is None  # too short
    assert store.find_session("nope") is None


def test_a_session_name_wins_over_another_sessions_id(store: Store) -> None:
    first = store.create_session()
    second = store.create_session(first.id)  # named like the first one's id
    assert store.find_session(first.id) == second
    by_prefix = store.find_session(first.id[:5])
    assert by_prefix is not None and by_prefix.id == first.id


def test_a_taken_or_empty_session_name_is_refused(store: Store) -> None:
    first = store.create_session("work")
    second = store.create_session()
    with pytest.raises(StoreError, match="a session named 'work' already exists"):
        store.create_session("work")
    with pytest.raises(StoreError, match="already exists"):
        store.rename_session(second.id, "work")
    with pytest.raises(StoreError, match="cannot be empty"):
        store.rename_session(second.id, "  ")
    store.rename_session(first.id, "work")  # its own name is fine
    store.rename_session(second.id, "play")
    assert store.find_session("play").id == second.id  # type: ignore[union-attr]


def test_deleting_a_session_removes_its_turns_agent_outputs_and_search_entries(store: Store, path: Path) -> None:
    doomed, kept = store.create_session(), store.create_session()
    ask(store, doomed.id, "What about zebras?", "Zebras are striped.")
    ask(store, kept.id, "What about lions?", "Lions are not striped.")
    assert store.delete_session(doomed.id) is True
    assert store.delete_session(doomed.id) is False
    assert store.count_turns() == 1
    assert store.search("zebras") == []
    assert [h.session_id for h in store.search("striped")] == [kept.id]
    db = sqlite3.connect(path)
    assert db.execute("SELECT count(*) FROM agent_outputs").fetchone() == (3,)
    db.execute("INSERT INTO turns_fts (turns_fts) VALUES ('integrity-check')")
    db.close()


# --- turns and history -----------------------------------------------------------------------------


def test_a_turn_round_trips_with_every_agent_output(store: Store) -> None:
    session = store.create_session()
    turn_id = store.begin_turn(session.id, "What is MoA?", {"models": ("model-0", "model-1"), "temperature": 0.7})
    failed = agent("reference", "model-1", "half", index=1, status="failed", error="rate limited")
    run = MoaResult("What is MoA?", [agent("reference", "model-0", "ref one"), failed],
                    agent("aggregator", "agg", "The answer.", layer=2), "complete", None, 100.0, 103.5)
    store.finish_turn(turn_id, run)
    [turn] = store.turns(session.id, with_agents=True)
    assert (turn.id, turn.seq, turn.question, turn.answer) == (turn_id, 1, "What is MoA?", "The answer.")
    assert (turn.status, turn.error, turn.aggregator) == ("complete", None, "agg")
    assert turn.settings == {"models": ["model-0", "model-1"], "temperature": 0.7}
    assert (turn.elapsed, turn.prompt_tokens, turn.completion_tokens) == (3.5, 30, 60)
    assert turn.finished is not None and turn.finished >= turn.started
    assert turn.agents == (
        AgentRow(1, "reference", "model-0", "ref one", "model-0 thinks", "done", None, 10, 20, 1.5, 0, 0.25, cached_tokens=0),
        AgentRow(1, "reference", "model-1", "half", "model-1 thinks", "failed", "rate limited", 10, 20, 1.5, 1, 0.25, cached_tokens=0),
        AgentRow(2, "aggregator", "agg", "The answer.", "agg thinks", "done", None, 10, 20, 1.5, 0, 0.25, cached_tokens=0),
    )
    assert store.turns(session.id)[0].agents == ()


def test_finishing_a_turn_twice_replaces_its_agent_outputs(store: Store) -> None:
    session = store.create_session()
    turn = store.begin_turn(session.id, "q", {})
    store.finish_turn(turn, result("first", refs=("a", "b", "c")))
    store.finish_turn(turn, result("second", refs=("a",)))
    [record] = store.turns(session.id, with_agents=True)
    assert record.answer == "second"
    assert [a.text for a in record.agents] == ["a", "second"]


def test_history_is_each_answered_turn_as_question_then_aggregated_answer(store: Store) -> None:
    session, other = store.create_session(), store.create_session()
    ask(store, session.id, "first?", "one")
    ask(store, other.id, "elsewhere?", "not here")
    ask(store, session.id, "failed?", "", status="failed", error="all 2 reference models failed")
    ask(store, session.id, "third?", "three")
    assert store.history(session.id) == [
        Message("user", "first?"), Message("assistant", "one"),
        Message("user", "third?"), Message("assistant", "three"),
    ]
    assert [t.seq for t in store.turns(session.id)] == [1, 2, 3]


def test_recent_history_is_the_newest_turns_within_a_size_and_counts_the_older_ones(store: Store) -> None:
    session = store.create_session()
    for n in range(1, 7):
        ask(store, session.id, f"q{n}?", f"answer {n}")  # 3 + 8 = 11 bytes a turn
    ask(store, session.id, "failed?", "", status="failed", error="all failed")
    store.mark_retried(ask(store, session.id, "retried?", "taken back"))
    full = store.history(session.id)
    assert store.recent_history(session.id, 33) == (full[-6:], 3)
    assert store.recent_history(session.id, 32) == (full[-4:], 4)
    assert store.recent_history(session.id, 10**6) == (full, 0)
    assert store.recent_history(session.id, 0) == ([], 6)


def test_the_last_answered_turn_is_the_newest_in_the_history(store: Store) -> None:
    session = store.create_session()
    assert store.last_answered(session.id) is None
    answered = ask(store, session.id, "kept?", "yes")
    ask(store, session.id, "failed?", "", status="failed", error="all failed")
    store.mark_retried(ask(store, session.id, "retried?", "taken back"))
    assert store.last_answered(session.id) == (answered, "kept?")


def test_interrupted_turn_keeps_its_partial_answer_and_is_in_history(store: Store) -> None:
    session = store.create_session()
    turn = store.begin_turn(session.id, "long question", {})
    store.save_partial(turn, result("The answer so"))
    assert store.turns(session.id)[0].answer == "The answer so"
    store.finish_turn(turn, result("The answer so far", status="running"))
    [record] = store.turns(session.id)
    assert (record.status, record.answer) == ("interrupted", "The answer so far")
    assert store.history(session.id) == [
        Message("user", "long question"),
        Message("assistant", "The answer so far\n\n[The user stopped this answer here.]"),
    ]


CRASH = """
import os, sys
from moa_cli.events import Agent, AgentResult, MoaResult
from moa_cli.store import Store

store = Store.open(sys.argv[1])
turn = store.begin_turn(sys.argv[2], "Will this survive?", {"layers": 1})
store.save_partial(turn, MoaResult("q", aggregator=AgentResult(Agent("aggregator", 2, 0, "agg"), ["It will"])))
os._exit(9)  # no finish_turn, no close
"""


def test_a_begun_turn_survives_a_crash_and_is_marked_interrupted_once_its_process_is_gone(
    store: Store, path: Path
) -> None:
    session = store.create_session()
    crashed = run_python(CRASH, str(path), session.id)
    assert crashed.returncode == 9, crashed.stderr
    store.close()
    with Store.open(path) as reopened:
        [turn] = reopened.turns(session.id)
        assert (turn.question, turn.answer, turn.status) == ("Will this survive?", "It will", "interrupted")
        assert turn.error == "moa stopped before the turn finished"
        assert reopened.history(session.id)[-1] == Message("assistant", "It will" + INTERRUPTED)


def test_a_running_turn_of_a_live_process_stays_running_on_reopen(store: Store, path: Path) -> None:
    session = store.create_session()
    store.begin_turn(session.id, "still going", {})
    with Store.open(path) as other:
        assert other.turns(session.id)[0].status == "running"


def test_a_turn_in_an_unknown_session_is_refused(store: Store) -> None:
    with pytest.raises(StoreError, match="no session nope"):
        store.begin_turn("nope", "q", {})


WRITER = """
import sys
from moa_cli.events import Agent, AgentResult, MoaResult
from moa_cli.store import Store

path, session, name = sys.argv[1:]
print("ready", flush=True)
sys.stdin.readline()
with Store.open(path) as store:
    session = session or store.create_session().id
    for i in range(50):
        turn = store.begin_turn(session, f"{name} question {i}", {})
        answer = AgentResult(Agent("aggregator", 2, 0, "agg"), [f"{name} answer {i}"], status="done")
        store.finish_turn(turn, MoaResult("q", aggregator=answer, status="complete"))
"""


def run_writers_at_once(path: Path, session_id: str) -> None:
    """Two processes, each writing 50 turns once both are ready."""
    writers = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(path), session_id, name],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for name in ("left", "right")
    ]
    for writer in writers:
        assert writer.stdout is not None and writer.stdout.readline() == "ready\n"
    for writer in writers:
        assert writer.stdin is not None
        writer.stdin.write("go\n")
        writer.stdin.flush()
    for writer in writers:
        _, stderr = writer.communicate(timeout=30)
        assert (writer.returncode, stderr) == (0, "")


def test_two_processes_writing_one_session_at_once_lose_nothing(store: Store, path: Path) -> None:
    session = store.create_session()
    run_writers_at_once(path, session.id)
    turns = store.turns(session.id)
    assert store.count_turns() == 100
    assert [t.seq for t in turns] == list(range(1, 101))
    assert sorted(t.answer for t in turns) == sorted(f"{n} answer {i}" for n in ("left", "right") for i in range(50))


def test_two_processes_creating_a_new_database_at_once_both_succeed(path: Path) -> None:
    run_writers_at_once(path, "")
    with Store.open(path) as store:
        assert [s.turns for s in store.list_sessions()] == [50, 50]
        assert store._db.execute("SELECT count(*) FROM _migrations").fetchone() == (len(MIGRATIONS),)


# --- search ----------------------------------------------------------------------------------------


def test_search_finds_questions_and_answers_with_a_one_line_snippet(store: Store) -> None:
    session = store.create_session("science")
    ask(store, session.id, "Why is the sky blue?", "Because of Rayleigh\nscattering of sunlight.")
    turn = ask(store, session.id, "And sunsets?", "Longer paths scatter the blue away.")
    [hit] = store.search("sunsets")
    assert (hit.session_id, hit.turn_id, hit.seq, hit.title) == (session.id, turn, 2, "science")
    assert hit.snippet.startswith("And [sunsets]?")
    [hit] = store.search("rayleigh scattering")
    assert hit.snippet == "Because of [Rayleigh] [scattering] of sunlight."
    assert {h.seq for h in store.search("scatter")} == {1, 2}  # stemmed
    assert [h.seq for h in store.search("sunl*")] == [1]
    assert store.search("") == store.search("   ") == []


@pytest.mark.parametrize(
    "text", ['"', 'say "hi', "c++", "-1", "a:b", "*", "NEAR(", "AND", "x OR", "(", "^", "{a}", "'", "—"]
)
def test_search_treats_fts_syntax_characters_as_plain_text(store: Store, text: str) -> None:
    session = store.create_session()
    ask(store, session.id, f"is {text} odd?", "yes")
    assert isinstance(store.search(text), list)


def test_search_matches_words_with_punctuation_literally(store: Store) -> None:
    session = store.create_session()
    ask(store, session.id, "-1 is a number?", "Yes: a negative one.")
    ask(store, session.id, "Is 1 odd?", "It is.")
    assert [h.seq for h in store.search("-1 number")] == [1]
    assert [h.seq for h in store.search('"yes:"')] == [1]


# --- migrations and bad files ---------------------------------------------------------------------


def test_a_database_with_only_the_first_migration_is_upgraded_in_place(path: Path) -> None:
    db = sqlite3.connect(path, isolation_level=None)
    migrate(db, MIGRATIONS[:1])
    db.execute("INSERT INTO sessions VALUES ('abcd1234', 'old', '2025-01-01T00:00:00Z', '2025-01-01T00:00:00Z')")
    db.execute(
        "INSERT INTO turns (session_id, seq, status, started, question, answer) "
        "VALUES ('abcd1234', 1, 'complete', '2025-01-01T00:00:00Z', 'Why is the sky blue?', 'Rayleigh scattering.')"
    )
    db.close()
    with Store.open(path) as store:
        assert store.history("abcd1234") == [Message("user", "Why is the sky blue?"),
                                             Message("assistant", "Rayleigh scattering.")]
        assert [(h.session_id, h.title) for h in store.search("rayleigh")] == [("abcd1234", "old")]
        ask(store, "abcd1234", "And at night?", "Rayleigh again.")
        assert len(store.search("rayleigh")) == 2
        names = [n for (n,) in store._db.execute("SELECT name FROM _migrations ORDER BY name")]
    assert names == [m.__name__ for m in MIGRATIONS]


def test_a_database_from_a_newer_moa_is_refused_and_left_untouched(store: Store, path: Path) -> None:
    ask(store, store.create_session().id, "q", "a")
    store._db.execute("INSERT INTO _migrations VALUES ('m999_from_the_future', '2030-01-01T00:00:00+00:00')")
    store.close()
    before = path.read_bytes()
    with pytest.raises(StoreError) as info:
        Store.open(path)
    assert str(info.value) == (
        f"cannot open session database {path}: it was made by a newer moa "
        "(unknown migration m999_from_the_future); upgrade moa-cli"
    )
    assert path.read_bytes() == before


@pytest.mark.parametrize("damage", ["random bytes", "truncated"])
def test_a_corrupt_database_is_refused_and_left_byte_for_byte(path: Path, damage: str) -> None:
    if damage == "random bytes":
        path.write_bytes(os.urandom(20_000))
    else:
        with Store.open(path) as store:
            session = store.create_session()
            for i in range(20):
                ask(store, session.id, f"question {i}", "answer " * 500)
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    before = path.read_bytes()
    with pytest.raises(StoreError, match=rf"^cannot open session database {re.escape(str(path))}: \S.*$"):
        Store.open(path)
    assert path.read_bytes() == before


def test_a_full_disk_fails_the_write_and_keeps_earlier_turns(store: Store, path: Path) -> None:
    session = store.create_session()
    ask(store, session.id, "kept?", "kept.")
    (pages,) = store._db.execute("PRAGMA page_count").fetchone()
    store._db.execute(f"PRAGMA max_page_count = {pages}")  # the file can grow no more: SQLITE_FULL
    with pytest.raises(StoreError, match=rf"^cannot write session database {re.escape(str(path))}: .*full"):
        store.begin_turn(session.id, "big " * 50_000, {})
    store.close()
    with Store.open(path) as reopened:
        assert reopened.history(session.id) == [Message("user", "kept?"), Message("assistant", "kept.")]
        assert reopened.count_turns() == 1


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="needs a user that permissions apply to")
def test_a_read_only_data_directory_is_read_but_never_written(tmp_path: Path, path: Path) -> None:
    with Store.open(path) as store:
        ask(store, store.create_session("kept").id, "q", "a")
    tmp_path.chmod(0o500)
    why = f"its directory {tmp_path} is not writable"
    try:
        with pytest.raises(StoreError, match=rf"^cannot write session database {re.escape(str(path))}: {why}$"):
            Store.open(path)
        with Store.open(path, write=False) as store:
            assert store.read_only == why
            assert store.find_session("kept").turns == 1  # type: ignore[union-attr]
            with pytest.raises(StoreError, match=rf"^cannot write session database .*: {why}$"):
                store.create_session()
        with pytest.raises(StoreError, match="Permission denied"):
            Store.open(tmp_path / "new" / "moa.db")
    finally:
        tmp_path.chmod(0o700)
    with Store.open(path) as store:
        assert store.find_session("kept").turns == 1  # type: ignore[union-attr]


def test_a_database_file_that_cannot_be_created_raises_store_error(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: object) -> int:
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(store_module.os, "open", refuse)
    with pytest.raises(StoreError) as info:
        Store.open(path)
    assert str(info.value) == f"cannot open session database {path}: Permission denied"


def test_a_closed_store_raises_store_error_naming_the_file(store: Store, path: Path) -> None:
    store.close()
    with pytest.raises(StoreError, match=rf"^cannot read session database {re.escape(str(path))}: "):
        store.count_turns()
