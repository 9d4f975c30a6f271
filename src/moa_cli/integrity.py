"""Damage in the session database is found and said, not written over: SQLite's ``quick_check``.

The check reads the whole file (about 4 ms per MB), so it runs at most once a day: the day of the
last clean check is kept in the database header's ``user_version``, which moa uses for nothing
else. It runs before anything is written, so a damaged file is left exactly as it was.
"""

from __future__ import annotations

import sqlite3
from datetime import date

from moa_cli.errors import StoreError

SHOWN_PROBLEMS = 3


def check_daily(db: sqlite3.Connection, today: int | None = None) -> None:
    """Raises :class:`StoreError` if ``db`` fails ``PRAGMA quick_check``; skipped if it passed today."""
    today = today if today is not None else date.today().toordinal()
    (checked,) = db.execute("PRAGMA user_version").fetchone()
    if checked == today:
        return
    try:
        problems = [row[0] for row in db.execute(f"PRAGMA quick_check({SHOWN_PROBLEMS})")]
    except sqlite3.DatabaseError as exc:  # a page so damaged that the check itself stops
        problems = [str(exc)]
    if problems != ["ok"]:
        raise StoreError(
            f"it fails SQLite's quick_check ({'; '.join(problems)}); it is left as it is: "
            "move it aside to start a new history"
        )
    db.execute(f"PRAGMA user_version = {int(today)}")
