"""The session history: sessions, their turns and every agent's output, in one SQLite file.

Two ``moa`` processes may use the file at once: WAL mode, a busy timeout and short
``BEGIN IMMEDIATE`` write transactions. Every sqlite3 error becomes a one-line
:class:`~moa_cli.errors.StoreError` naming the file. The API key is never given to the store,
and every key moa knows is removed from answers and errors before they are written (``redact``).
A :class:`Store` may be opened in one thread and used in another (``moa ask`` opens it in a
worker while its requests leave), but by one thread at a time.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from moa_cli.errors import StoreError, UnsafePathError
from moa_cli.liveness import own_marker
from moa_cli.migrations import transaction
from moa_cli.paths import check_private, data_dir
from moa_cli.records import AgentRow, SearchHit, SessionInfo, TurnRecord
from moa_cli.redact import scrub
from moa_cli.request import Message
from moa_cli.store_connect import connect_writable
from moa_cli.store_readonly import COMPANIONS, connect_read_only, unwritable
from moa_cli.store_rows import (
    ANSWERED,
    INSERT_AGENT,
    SESSION_SELECT,
    TURN_SELECT,
    agent_values,
    history_pair,
    match_query,
    scrub_optional,
    session_of,
    title_of,
)

if TYPE_CHECKING:
    from moa_cli.events import AgentResult, MoaResult

DB_NAME = "moa.db"
BUSY_TIMEOUT = 5.0
"""Seconds a writer waits for another process's write transaction before giving up."""
PREFIX_MIN = 4
"""The shortest session id prefix :meth:`Store.find_session` accepts."""
SNIPPET_MARKS = ("[", "]")
"""What :meth:`Store.search` puts around the matched words in a snippet."""
FINAL_STATUSES = ("complete", "failed", "interrupted")


class Store:
    """The session database; get one with :meth:`Store.open`, close it (or use ``with``)."""

    def __init__(self, db: sqlite3.Connection, path: Path, read_only: str | None = None) -> None:
        self._db = db
        self.path = path
        self.read_only = read_only
        """Why moa cannot write this database, when it was opened read-only; else None."""

    @classmethod
    def open(cls, path: Path | None = None, env: Mapping[str, str] = os.environ, *, write: bool = True) -> Store:
        """Opens (creating if needed) and migrates the database; ``path`` defaults to ``data_dir(env)/moa.db``.

        Turns left ``running`` by a process that no longer exists are marked ``interrupted``. A
        directory or file another user owns or others can write is refused (see ``check_private``).
        A database moa cannot write raises StoreError saying why, unless ``write`` is False (the
        command only reads): then it is opened read-only, as it is, and writing raises.
        """
        path = Path(path) if path is not None else data_dir(env) / DB_NAME
        try:
            for private in (path.parent, path, *(path.with_name(path.name + c) for c in COMPANIONS)):
                check_private(private)
        except UnsafePathError as exc:
            raise StoreError(str(exc)) from None
        why = unwritable(path)
        if why is not None and write:
            raise StoreError(f"cannot write session database {path}: {why}")
        try:
            db = connect_writable(path, BUSY_TIMEOUT) if why is None else connect_read_only(path, why, BUSY_TIMEOUT)
        except (OSError, sqlite3.Error, StoreError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
            raise StoreError(f"cannot open session database {path}: {reason}") from exc
        except UnsafePathError as exc:  # a directory made meanwhile by someone else
            raise StoreError(str(exc)) from None
        return cls(db, path, read_only=why)

    def close(self) -> None:
        with self._guard("close"):
            self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # --- sessions -----------------------------------------------------------------------------

    def create_session(self, name: str | None = None, *, title: str | None = None) -> SessionInfo:
        """A new empty session with a random 8-hex-digit id; a name already taken raises StoreError.

        ``title`` stands for the first question when listed (a name still comes first).
        """
        name = _check_name(name) if name is not None else None
        now = _now()
        with self._write() as db:
            if name is not None:
                _refuse_taken(db, name)
            session_id = _new_id()
            while db.execute("SELECT 1 FROM sessions WHERE id = ?", (session_id,)).fetchone():
                session_id = _new_id()
            db.execute(
                "INSERT INTO sessions (id, name, created, updated, title) VALUES (?, ?, ?, ?, ?)",
                (session_id, name, now, now, title),
            )
        return SessionInfo(session_id, name, now, now, 0, title_of(name, title))

    def find_session(self, id_or_name: str) -> SessionInfo | None:
        """The session with this name, else this id, else the one id starting with it (4+ characters).

        A name is a name: an id, even another session's whole id, only matches when no session
        has that name. A session found by an id prefix says so (``by_prefix``).
        """
        with self._guard("read"):
            row = self._db.execute(
                SESSION_SELECT + " WHERE s.name = :key OR s.id = :key ORDER BY s.name = :key DESC LIMIT 1",
                {"key": id_or_name},
            ).fetchone()
            if row is not None:
                return session_of(row)
            if len(id_or_name) >= PREFIX_MIN:
                rows = self._db.execute(
                    SESSION_SELECT + " WHERE substr(s.id, 1, length(:key)) = :key LIMIT 2", {"key": id_or_name}
                ).fetchall()
                if len(rows) == 1:
                    return replace(session_of(rows[0]), by_prefix=True)
        return None

    def last_session(self) -> SessionInfo | None:
        """The most recently updated session."""
        sessions = self.list_sessions(limit=1)
        return sessions[0] if sessions else None

    def list_sessions(self, limit: int = 20) -> list[SessionInfo]:
        """Sessions, most recently updated first."""
        with self._guard("read"):
            rows = self._db.execute(
                SESSION_SELECT + " ORDER BY s.updated DESC, s.rowid DESC LIMIT ?", (limit,)
            ).fetchall()
        return [session_of(row) for row in rows]

    def rename_session(self, session_id: str, name: str) -> None:
        """Names the session; a name another session has raises StoreError."""
        name = _check_name(name)
        with self._write() as db:
            _refuse_taken(db, name, session_id)
            if db.execute("UPDATE sessions SET name = ? WHERE id = ?", (name, session_id)).rowcount == 0:
                raise StoreError(f"no session {session_id} in {self.path}")

    def delete_session(self, session_id: str) -> bool:
        """Deletes the session, its turns, their agent outputs and search entries; False if there was none."""
        with self._write() as db:
            return db.execute("DELETE FROM sessions WHERE id = ?", (session_id,)).rowcount > 0

    # --- turns --------------------------------------------------------------------------------

    def begin_turn(self, session_id: str, question: str, settings: Mapping[str, object]) -> int:
        """Records the question (status ``running``) and commits at once; returns the turn id.

        ``settings`` (models, layers, temperature...) must be JSON-serialisable.
        """
        settings_json = json.dumps(dict(settings), sort_keys=True)
        now = _now()
        with self._write() as db:
            if db.execute("UPDATE sessions SET updated = ? WHERE id = ?", (now, session_id)).rowcount == 0:
                raise StoreError(f"no session {session_id} in {self.path}")
            (seq,) = db.execute(
                "SELECT coalesce(max(seq), 0) + 1 FROM turns WHERE session_id = ?", (session_id,)
            ).fetchone()
            cursor = db.execute(
                "INSERT INTO turns (session_id, seq, question, settings, started, pid, marker)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (session_id, seq, question, settings_json, now, os.getpid(), own_marker()),
            )
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def mark_retried(self, turn_id: int) -> None:
        """Keeps ``turn_id`` but takes it out of :meth:`history`: it is being asked again."""
        with self._write() as db:
            db.execute("UPDATE turns SET retried = 1 WHERE id = ?", (turn_id,))

    def save_partial(self, turn_id: int, result: MoaResult) -> None:
        """Checkpoints the answer so far of a running turn, so a crash keeps it."""
        with self._write() as db:
            db.execute(
                "UPDATE turns SET answer = ? WHERE id = ? AND status = 'running'", (scrub(result.answer), turn_id)
            )

    def save_agents(self, turn_id: int, results: Sequence[AgentResult]) -> None:
        """Stores agents' outputs the moment they end, in one transaction, so a crash later in the
        turn keeps them. Replaces the rows those agents may have had; :meth:`finish_turn` rewrites them all.
        """
        rows = [agent_values(turn_id, result) for result in results]
        with self._write() as db:
            db.executemany(
                "DELETE FROM agent_outputs WHERE turn_id = ? AND layer = ? AND role = ? AND idx = ?",
                [row[:4] for row in rows],
            )
            db.executemany(INSERT_AGENT, rows)

    def finish_turn(self, turn_id: int, result: MoaResult) -> None:
        """Records the outcome and every agent's output in one transaction (a ``running`` result is interrupted)."""
        status = result.status if result.status in FINAL_STATUSES else "interrupted"
        usages = [agent.usage for agent in result.agents if agent.usage]
        prompt_tokens = sum(u.prompt_tokens for u in usages) if usages else None
        completion_tokens = sum(u.completion_tokens for u in usages) if usages else None
        cached_tokens = sum(u.cached_tokens for u in usages) if usages else None
        aggregator = result.aggregator.agent.model if result.aggregator else None
        rows = [agent_values(turn_id, agent) for agent in result.agents]
        now = _now()
        with self._write() as db:
            updated = db.execute(
                """UPDATE turns SET answer = ?, status = ?, error = ?, aggregator = coalesce(?, aggregator),
                    finished = ?, elapsed = ?, prompt_tokens = ?, completion_tokens = ?, cached_tokens = ?,
                    cost = ? WHERE id = ?""",
                (scrub(result.answer), status, scrub_optional(result.error), aggregator, now, result.elapsed,
                 prompt_tokens, completion_tokens, cached_tokens, result.cost, turn_id),
            )
            if updated.rowcount == 0:
                raise StoreError(f"no turn {turn_id} in {self.path}")
            db.execute(
                "UPDATE sessions SET updated = ? WHERE id = (SELECT session_id FROM turns WHERE id = ?)",
                (now, turn_id),
            )
            db.execute("DELETE FROM agent_outputs WHERE turn_id = ?", (turn_id,))
            db.executemany(INSERT_AGENT, rows)

    def turns(self, session_id: str, *, with_agents: bool = False) -> list[TurnRecord]:
        """The session's turns in order, with each agent's output if asked."""
        with self._guard("read"), transaction(self._db, "DEFERRED"):
            rows = self._db.execute(TURN_SELECT + " WHERE session_id = ? ORDER BY seq", (session_id,)).fetchall()
            agents: dict[int, list[AgentRow]] = {}
            if with_agents:
                for turn_id, *values in self._db.execute(
                    """SELECT a.turn_id, a.layer, a.role, a.model, a.text, a.reasoning, a.status, a.error,
                        a.prompt_tokens, a.completion_tokens, a.latency, a.idx, a.first_token_latency,
                        a.finish_reason, a.warning, a.cached_tokens, a.cost
                    FROM agent_outputs a JOIN turns t ON t.id = a.turn_id
                    WHERE t.session_id = ? ORDER BY a.turn_id, a.id""",
                    (session_id,),
                ):
                    agents.setdefault(turn_id, []).append(AgentRow(*values))
        return [
            TurnRecord(
                *row[:8], json.loads(row[8]), *row[9:14], agents=tuple(agents.get(row[0], ())),
                cached_tokens=row[14], cost=row[15], retried=bool(row[16]),
            )
            for row in rows
        ]

    def history(self, session_id: str) -> list[Message]:
        """The conversation to send back to the models: each answered turn as a user and an assistant message.

        Only the aggregated answer is the assistant's; a turn with no answer text, or one asked
        again with ``/retry``, adds nothing.
        """
        with self._guard("read"):
            sql = f"SELECT question, answer, status {ANSWERED} ORDER BY seq"
            rows = self._db.execute(sql, (session_id,)).fetchall()
        return [m for row in rows for m in history_pair(*row)]

    def recent_history(self, session_id: str, max_bytes: int) -> tuple[list[Message], int]:
        """The newest turns of :meth:`history` whose messages take at most ``max_bytes`` (UTF-8) in all,
        and how many older turns of it were left out.

        Rows are read newest first and no further than needed: a session of a thousand turns
        costs what the turns that can be sent cost.
        """
        pairs: list[tuple[Message, Message]] = []
        used = older = 0
        with self._guard("read"), transaction(self._db, "DEFERRED"):
            rows = self._db.execute(f"SELECT seq, question, answer, status {ANSWERED} ORDER BY seq DESC", (session_id,))
            for seq, *row in rows:
                pair = history_pair(*row)
                used += len(pair[0].content.encode()) + len(pair[1].content.encode())
                if used > max_bytes:
                    sql = f"SELECT count(*) {ANSWERED} AND seq <= ?"
                    (older,) = self._db.execute(sql, (session_id, seq)).fetchone()
                    break
                pairs.append(pair)
            rows.close()
        return [m for pair in reversed(pairs) for m in pair], older

    def last_answered(self, session_id: str) -> tuple[int, str] | None:
        """The id and question of the session's newest turn in :meth:`history` (None: it has none)."""
        with self._guard("read"):
            sql = f"SELECT id, question {ANSWERED} ORDER BY seq DESC LIMIT 1"
            row = self._db.execute(sql, (session_id,)).fetchone()
        return (row[0], row[1]) if row else None

    def search(self, text: str, limit: int = 20) -> list[SearchHit]:
        """Turns whose question or answer has every word of ``text``, best match first.

        Words are matched literally (FTS syntax in them is quoted); a word ending in ``*`` is a prefix.
        """
        query = match_query(text)
        if not query:
            return []
        with self._guard("read"):
            rows = self._db.execute(
                """SELECT t.session_id, t.id, t.seq, s.name,
                    coalesce(s.title, (SELECT substr(f.question, 1, 400) FROM turns f
                        WHERE f.session_id = t.session_id ORDER BY f.seq LIMIT 1)),
                    snippet(turns_fts, -1, ?, ?, '…', 12)
                FROM turns_fts JOIN turns t ON t.id = turns_fts.rowid JOIN sessions s ON s.id = t.session_id
                WHERE turns_fts MATCH ? ORDER BY rank LIMIT ?""",
                (*SNIPPET_MARKS, query, limit),
            ).fetchall()
        return [
            SearchHit(session_id, turn_id, seq, title_of(name, first), " ".join(snippet.split()))
            for session_id, turn_id, seq, name, first, snippet in rows
        ]

    def count_turns(self) -> int:
        """How many turns the database holds, over all sessions."""
        with self._guard("read"):
            (count,) = self._db.execute("SELECT count(*) FROM turns").fetchone()
        return int(count)

    # --- helpers ------------------------------------------------------------------------------

    @contextmanager
    def _guard(self, action: str) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as exc:
            raise StoreError(f"cannot {action} session database {self.path}: {exc}") from exc

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        if self.read_only is not None:
            raise StoreError(f"cannot write session database {self.path}: {self.read_only}")
        with self._guard("write"), transaction(self._db):
            yield self._db


def _check_name(name: str) -> str:
    name = name.strip()
    if not name:
        raise StoreError("a session name cannot be empty")
    return name


def _refuse_taken(db: sqlite3.Connection, name: str, session_id: str | None = None) -> None:
    """Raises if a session other than ``session_id`` has ``name``."""
    if db.execute("SELECT 1 FROM sessions WHERE name = ? AND id IS NOT ?", (name, session_id)).fetchone():
        raise StoreError(f"a session named {name!r} already exists")


def _new_id() -> str:
    return os.urandom(4).hex()


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
