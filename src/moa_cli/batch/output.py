"""The output file: one JSON line per finished row, each appended and fsync'd as the row ends.

Running again with the same file resumes: rows answered before are kept and skipped. Lines of
failed rows, of rows whose input changed since, and a line cut short by a crash are dropped first
(the file is rewritten whole, atomically), so every id appears once and failures run again.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TextIO

from moa_cli.batch.rows import Row
from moa_cli.errors import UsageError


def read_records(path: Path) -> list[dict[str, Any]]:
    """Every whole record in ``path`` (none if it does not exist); a cut-short line is skipped."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: cannot read: {getattr(exc, 'strerror', None) or exc}") from None
    records = []
    for line in text.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and "id" in record:
            records.append(record)
    return records


class OutputFile:
    """``path`` opened for appending, after what was done there before has been taken stock of."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: TextIO | None = None
        self.kept = 0
        """Rows answered before this run, kept as they were."""
        self.dropped = 0
        """Lines dropped on resuming: failed rows, rows whose input changed, a line cut short."""

    def resume(self, rows: Iterable[Row]) -> set[str]:
        """The ids of ``rows`` already answered in the file; the file keeps only good lines."""
        digests = {row.id: row.digest for row in rows}
        lines = self._lines()
        keep: list[str] = []
        done: set[str] = set()
        for line in lines:
            record = _parse(line)
            if record is None or record.get("status") != "ok" or record["id"] in done:
                continue
            if record["id"] in digests and record.get("input_digest") != digests[record["id"]]:
                continue
            keep.append(line)
            done.add(record["id"])
        self.kept, self.dropped = len(keep), len(lines) - len(keep)
        if self.dropped:
            self._rewrite(keep)
        self._file = self._open("a")  # a file we cannot write fails now, before any request
        return done & digests.keys()

    def append(self, record: dict[str, Any]) -> None:
        """Write one row's record as a line and make it durable before going on."""
        if self._file is None:
            self._file = self._open("a")
        try:
            self._file.write(json.dumps(record, ensure_ascii=False) + "\n")
            self._file.flush()
            os.fsync(self._file.fileno())
        except OSError as exc:
            raise UsageError(f"cannot write {self.path}: {exc.strerror or exc}") from None

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def _lines(self) -> list[str]:
        try:
            return [line for line in self.path.read_text(encoding="utf-8").splitlines() if line.strip()]
        except FileNotFoundError:
            return []
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"{self.path}: cannot read: {getattr(exc, 'strerror', None) or exc}") from None

    def _rewrite(self, lines: list[str]) -> None:
        temporary = self.path.with_name(self.path.name + ".tmp")
        try:
            with temporary.open("w", encoding="utf-8") as out:
                out.writelines(line + "\n" for line in lines)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, self.path)
        except OSError as exc:
            raise UsageError(f"cannot write {self.path}: {exc.strerror or exc}") from None

    def _open(self, mode: str) -> TextIO:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            return self.path.open(mode, encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"cannot write {self.path}: {exc.strerror or exc}") from None


def _parse(line: str) -> dict[str, Any] | None:
    try:
        record = json.loads(line)
    except ValueError:
        return None
    return record if isinstance(record, dict) and isinstance(record.get("id"), str) else None
