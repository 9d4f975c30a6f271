"""Each system's answers, run by ``moa batch``'s runner into a cache file per system's settings.

The cache file is a batch output file (``answers-KEY.jsonl``, KEY from the system's settings), so
it resumes as batch does: a system added later, or rows added to the input, run only what is new.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from moa_cli.app.providers import make_provider
from moa_cli.batch.output import OutputFile, read_records
from moa_cli.batch.progress import BatchProgress
from moa_cli.batch.rows import Row
from moa_cli.batch.runner import run_rows
from moa_cli.evaluate.systems import System


def answers_path(cache: Path, system: System) -> Path:
    return cache / f"answers-{system.key}.jsonl"


async def collect(rows: Sequence[Row], systems: Sequence[System], cache: Path, *, concurrency: int, quiet: bool) -> None:
    """Run every row no system has answered yet; each finished row is in its cache file at once."""
    for system in systems:
        out = OutputFile(answers_path(cache, system))
        try:
            done = out.resume(rows)
            todo = [row for row in rows if row.id not in done]
            if not todo:
                continue
            provider = make_provider(system.settings)
            progress = BatchProgress(sys.stderr, len(todo), quiet=quiet)
            try:
                await run_rows(todo, system.settings, provider, out, progress, concurrency=concurrency)
            finally:
                await provider.aclose()
            progress.finish(f"answers of {system.name}")
        finally:
            out.close()


def answered(rows: Sequence[Row], system: System, cache: Path) -> dict[str, dict[str, Any]]:
    """The system's answered rows by id, for the rows asked now (as they are now)."""
    digests = {row.id: row.digest for row in rows}
    return {
        r["id"]: r
        for r in read_records(answers_path(cache, system))
        if r.get("status") == "ok" and digests.get(r["id"]) == r.get("input_digest")
    }
