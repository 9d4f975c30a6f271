"""Opening the session database for writing: created private, checked daily, migrated, orphans recovered."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from moa_cli.integrity import check_daily
from moa_cli.liveness import alive
from moa_cli.migrations import migrate, transaction
from moa_cli.paths import private_dir, private_file


def connect_writable(path: Path, busy_timeout: float) -> sqlite3.Connection:
    """The database at ``path``, created if missing, checked, migrated, orphaned turns recovered."""
    private_dir(path.parent)
    private_file(path)
    db = sqlite3.connect(path, timeout=busy_timeout, isolation_level=None, check_same_thread=False)
    try:
        db.execute("PRAGMA foreign_keys = ON")
        db.execute("PRAGMA synchronous = NORMAL")  # WAL: a crashed process loses nothing; no fsync per commit
        check_daily(db)
        migrate(db)
        recover_orphans(db)
    except BaseException:
        db.close()
        raise
    return db


def recover_orphans(db: sqlite3.Connection) -> None:
    """Marks ``running`` turns whose process no longer exists as interrupted."""
    rows = db.execute("SELECT id, pid, marker FROM turns WHERE status = 'running'").fetchall()
    orphans = [(turn_id,) for turn_id, pid, marker in rows if not alive(pid, marker)]
    if orphans:
        with transaction(db):
            db.executemany(
                "UPDATE turns SET status = 'interrupted', error = coalesce(error, 'moa stopped before the turn "
                "finished') WHERE id = ? AND status = 'running'",
                orphans,
            )
