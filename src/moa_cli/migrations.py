"""The session database's schema, grown by small named migrations applied once each.

Each migration runs in its own transaction and is recorded in ``_migrations``, so an old database
upgrades in place and is never thrown away. Add a new ``mNNN_...`` function at the end; never
edit or reorder one that has shipped.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime

from moa_cli.errors import StoreError

Migration = Callable[[sqlite3.Connection], None]


@contextmanager
def transaction(db: sqlite3.Connection, kind: str = "IMMEDIATE") -> Iterator[None]:
    """``BEGIN kind`` ... ``COMMIT``, rolled back on any error; ``db`` must be in autocommit mode.

    Writers use ``IMMEDIATE``: the write lock is taken (or waited for) at once, so a transaction
    never fails half-way trying to upgrade a read lock. Readers use ``DEFERRED`` for a snapshot.
    """
    db.execute(f"BEGIN {kind}")
    try:
        yield
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise


def m001_initial(db: sqlite3.Connection) -> None:
    """Sessions, their turns, and every agent's output in a turn (small columns first)."""
    for sql in (
        """CREATE TABLE sessions (
            id TEXT PRIMARY KEY,
            name TEXT UNIQUE,
            created TEXT NOT NULL,
            updated TEXT NOT NULL
        )""",
        "CREATE INDEX sessions_updated ON sessions (updated)",
        """CREATE TABLE turns (
            id INTEGER PRIMARY KEY,
            session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
            seq INTEGER NOT NULL,
            status TEXT NOT NULL DEFAULT 'running'
                CHECK (status IN ('running', 'complete', 'interrupted', 'failed')),
            pid INTEGER,
            started TEXT NOT NULL,
            finished TEXT,
            elapsed REAL,
            prompt_tokens INTEGER,
            completion_tokens INTEGER,
            aggregator TEXT,
            error TEXT,
            settings TEXT NOT NULL DEFAULT '{}',
            question TEXT NOT NULL,
            answer TEXT NOT NULL DEFAULT '',
            UNIQUE (session_id, seq)
        )""",
        "CREATE INDEX turns_running ON turns (pid) WHERE status = 'running'",
        """CREATE TABLE agent_outputs (
            id INTEGER PRIMARY KEY,
            turn_id INTEGER NOT NULL REFERENCES turns (id) ON DELETE CASCADE,
            layer INTEGER NOT NULL,
            role TEXT NOT NULL CHECK (role IN ('reference', 'aggregator')),
            idx INTEGER NOT NULL,
            model TEXT NOT NULL,
            status TEXT NOT NULL,
            error TEXT,
            prompt_tokens INTEGER,
            completion_tokens INTEGER,
            latency REAL,
            first_token_latency REAL,
            text TEXT NOT NULL DEFAULT '',
            reasoning TEXT NOT NULL DEFAULT ''
        )""",
        "CREATE INDEX agent_outputs_turn ON agent_outputs (turn_id)",
    ):
        db.execute(sql)


def m002_search(db: sqlite3.Connection) -> None:
    """Full-text search over turn questions and answers, indexed from existing turns and kept in sync."""
    for sql in (
        """CREATE VIRTUAL TABLE turns_fts USING fts5(
            question, answer, content='turns', content_rowid='id', tokenize='porter unicode61'
        )""",
        "INSERT INTO turns_fts (turns_fts) VALUES ('rebuild')",
        """CREATE TRIGGER turns_fts_insert AFTER INSERT ON turns BEGIN
            INSERT INTO turns_fts (rowid, question, answer) VALUES (new.id, new.question, new.answer);
        END""",
        """CREATE TRIGGER turns_fts_delete AFTER DELETE ON turns BEGIN
            INSERT INTO turns_fts (turns_fts, rowid, question, answer)
                VALUES ('delete', old.id, old.question, old.answer);
        END""",
        """CREATE TRIGGER turns_fts_update AFTER UPDATE OF question, answer ON turns BEGIN
            INSERT INTO turns_fts (turns_fts, rowid, question, answer)
                VALUES ('delete', old.id, old.question, old.answer);
            INSERT INTO turns_fts (rowid, question, answer) VALUES (new.id, new.question, new.answer);
        END""",
    ):
        db.execute(sql)


def m003_retried(db: sqlite3.Connection) -> None:
    """Turns asked again with ``/retry`` stay stored but leave the conversation sent to the models."""
    db.execute("ALTER TABLE turns ADD COLUMN retried INTEGER NOT NULL DEFAULT 0")


def m004_process_marker(db: sqlite3.Connection) -> None:
    """A running turn's process is known by its start marker too, not its pid alone (see ``liveness``)."""
    db.execute("ALTER TABLE turns ADD COLUMN marker TEXT")


def m005_agent_finish(db: sqlite3.Connection) -> None:
    """How each agent's stream ended (``finish_reason``) and the warning it gave (cut at the limit, cut off)."""
    db.execute("ALTER TABLE agent_outputs ADD COLUMN finish_reason TEXT")
    db.execute("ALTER TABLE agent_outputs ADD COLUMN warning TEXT")


def m006_cached_and_cost(db: sqlite3.Connection) -> None:
    """Prompt tokens the provider had cached, and the US$ cost, per agent and per turn (NULL: unknown)."""
    for sql in (
        "ALTER TABLE agent_outputs ADD COLUMN cached_tokens INTEGER",
        "ALTER TABLE agent_outputs ADD COLUMN cost REAL",
        "ALTER TABLE turns ADD COLUMN cached_tokens INTEGER",
        "ALTER TABLE turns ADD COLUMN cost REAL",
    ):
        db.execute(sql)


def m007_session_title(db: sqlite3.Connection) -> None:
    """A session's title when its first question's first line is not it (piped input before the question)."""
    db.execute("ALTER TABLE sessions ADD COLUMN title TEXT")


def m008_long_sessions(db: sqlite3.Connection) -> None:
    """Indexes that keep a long session as quick to continue as a new one: its answered turns (the
    history, newest first, and how many are older), and each session's cost without reading its turns."""
    for sql in (
        "CREATE INDEX turns_answered ON turns (session_id, seq) WHERE answer != '' AND NOT retried",
        "CREATE INDEX turns_cost ON turns (session_id, cost)",
    ):
        db.execute(sql)


MIGRATIONS: tuple[Migration, ...] = (
    m001_initial, m002_search, m003_retried, m004_process_marker, m005_agent_finish, m006_cached_and_cost,
    m007_session_title, m008_long_sessions,
)


def migrate(db: sqlite3.Connection, migrations: Sequence[Migration] = MIGRATIONS) -> None:
    """Brings ``db`` up to date: WAL mode, then each migration not yet applied, in order.

    Reads before it writes: a file that is not a database, or one with a migration this moa does
    not know (made by a newer moa), raises before anything is changed.
    """
    todo = pending(db, migrations)
    _use_wal(db)
    for migration in todo:
        with transaction(db):
            db.execute("CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
            if migration.__name__ in _applied(db):  # another process got here first
                continue
            migration(db)
            db.execute(
                "INSERT INTO _migrations (name, applied_at) VALUES (?, ?)",
                (migration.__name__, datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")),
            )


def pending(db: sqlite3.Connection, migrations: Sequence[Migration] = MIGRATIONS) -> list[Migration]:
    """The migrations ``db`` has not had yet; one this moa does not know (a newer moa's) raises."""
    applied = _applied(db)
    unknown = sorted(applied - {m.__name__ for m in migrations})
    if unknown:
        raise StoreError(f"it was made by a newer moa (unknown migration {', '.join(unknown)}); upgrade moa-cli")
    return [m for m in migrations if m.__name__ not in applied]


def _use_wal(db: sqlite3.Connection) -> None:
    """Switches a new file to WAL mode (persistent), retrying while another process holds a lock.

    Unlike other statements this pragma does not wait for the busy timeout itself; it only has to
    wait when several processes open a brand-new database at once.
    """
    (timeout_ms,) = db.execute("PRAGMA busy_timeout").fetchone()
    deadline = time.monotonic() + timeout_ms / 1000
    while True:
        try:
            db.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode != sqlite3.SQLITE_BUSY or time.monotonic() > deadline:
                raise
            time.sleep(0.005)


def _applied(db: sqlite3.Connection) -> set[str]:
    if not db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_migrations'").fetchone():
        return set()
    return {name for (name,) in db.execute("SELECT name FROM _migrations")}
