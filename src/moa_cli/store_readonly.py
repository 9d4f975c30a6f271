"""Opening the session database moa cannot write: a backup, a read-only ``MOA_HOME`` or file system.

What SQLite (3.40) does, tried as a user without write access: a WAL database opened with
``mode=ro`` reads fine, the write-ahead log included, while its ``-shm`` file exists; with no
``-shm`` and a read-only directory the open fails (``SQLITE_READONLY_DIRECTORY``, or
``SQLITE_CANTOPEN`` when a ``-wal`` is there). ``immutable=1`` then still reads the main file, but
it ignores any ``-wal``: right only when there is no write-ahead log left holding changes.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from moa_cli.errors import StoreError
from moa_cli.migrations import pending

COMPANIONS = ("-wal", "-shm")


def unwritable(path: Path) -> str | None:
    """Why moa cannot write the database at ``path`` (nor create it there), or None if it can.

    A missing directory says nothing yet: creating it says why if it fails.
    """
    directory = path.parent
    if not directory.is_dir():
        return None
    if os.statvfs(directory).f_flag & os.ST_RDONLY:
        return f"{directory} is on a read-only file system"
    if not os.access(directory, os.W_OK):
        return f"its directory {directory} is not writable"
    for file in (path, *(path.with_name(path.name + c) for c in COMPANIONS)):
        if file.exists() and not os.access(file, os.W_OK):
            return f"{file} is not writable"
    return None


def connect_read_only(path: Path, why: str, timeout: float) -> sqlite3.Connection:
    """A read-only connection to the database at ``path`` as it is: no daily check (it could not be
    recorded), no migration, no recovery of orphaned turns. StoreError (naming ``why``) if it
    cannot be read whole or needs upgrading first.
    """
    if not path.exists():
        raise StoreError(f"there is none yet, and {why}")
    db = _open(path, why, timeout)
    try:
        if todo := pending(db):
            raise StoreError(f"it needs upgrading ({todo[0].__name__}), and {why}")
    except BaseException:
        db.close()
        raise
    return db


def _open(path: Path, why: str, timeout: float) -> sqlite3.Connection:
    """``mode=ro``; else ``immutable=1``, when there is no write-ahead log it would miss."""
    uri = path.absolute().as_uri()
    try:
        return _connect(f"{uri}?mode=ro", timeout)
    except sqlite3.OperationalError as exc:
        if exc.sqlite_errorcode & 0xFF not in (sqlite3.SQLITE_READONLY, sqlite3.SQLITE_CANTOPEN):
            raise
    wal = path.with_name(path.name + "-wal")
    if wal.exists() and wal.stat().st_size > 0:
        raise StoreError(
            f"{wal.name} holds its latest changes, which SQLite reads only by creating {path.name}-shm "
            f"beside it, but {why}; copy the directory somewhere writable to read it"
        )
    return _connect(f"{uri}?immutable=1", timeout)


def _connect(uri: str, timeout: float) -> sqlite3.Connection:
    """A connection that has read the schema: SQLite opens lazily, so a failing open shows only then."""
    db = sqlite3.connect(uri, uri=True, timeout=timeout, isolation_level=None, check_same_thread=False)
    try:
        db.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.Error:
        db.close()
        raise
    return db
