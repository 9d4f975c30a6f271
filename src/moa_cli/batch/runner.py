"""Running rows through the engine, a bounded number at a time, each row's turns in order."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from moa_cli.app.requests import budget_for, prepare_run
from moa_cli.app.turn import drive
from moa_cli.batch.output import OutputFile
from moa_cli.batch.progress import BatchProgress
from moa_cli.batch.record import row_record
from moa_cli.batch.rows import Row
from moa_cli.budget import Budget
from moa_cli.errors import UsageError
from moa_cli.events import MoaResult
from moa_cli.providers.base import ChatStreamer
from moa_cli.request import Message
from moa_cli.settings import Settings
from moa_cli.ui.base import Renderer

RecorderFor = Callable[[str], Sequence[Renderer]]
"""Given a turn's question, the consumers that store it (none unless ``--store``)."""


async def run_row(
    row: Row,
    settings: Settings,
    provider: ChatStreamer,
    recorder_for: RecorderFor | None = None,
    budget: Budget | None = None,
) -> dict[str, Any]:
    """Ask ``row``'s turns in order, each with the earlier turns and their answers as history.

    A turn that fails ends the row (later turns would be asked without its answer); the row's
    record says why. Only a cancellation (Ctrl-C) escapes.
    """
    if row.system is not None:
        settings = replace(settings, system=row.system)
    history: list[Message] = list(row.history)
    results: list[MoaResult] = []
    error = None
    try:
        for question in row.turns:
            run, _ = prepare_run(settings, provider, question, history, budget)
            consumers = recorder_for(question) if recorder_for else ()
            result = await drive(run, consumers)
            results.append(result)
            if result.status != "complete":
                break
            history += [Message("user", question), Message("assistant", result.answer)]
    except UsageError as exc:  # a question too long for the context window
        error = str(exc)
    except Exception as exc:  # a bug must cost one row, not the batch
        error = f"internal error: {type(exc).__name__}: {exc}"
    return row_record(row, results, error)


async def run_rows(
    rows: Sequence[Row],
    settings: Settings,
    provider: ChatStreamer,
    out: OutputFile,
    progress: BatchProgress,
    *,
    concurrency: int,
    recorders: Callable[[Row], RecorderFor] | None = None,
) -> None:
    """Run ``rows``, ``concurrency`` at a time, appending each record to ``out`` as it finishes.

    Cancelled (Ctrl-C), the rows in progress are abandoned and every finished one is in ``out``.
    A failure to write ``out`` stops the run.
    """
    queue: asyncio.Queue[Row] = asyncio.Queue()
    for row in rows:
        queue.put_nowait(row)
    budget = budget_for(settings)  # one for every row: rows in flight reserve from one minute

    async def worker() -> None:
        while not queue.empty():
            row = queue.get_nowait()
            record = await run_row(row, settings, provider, recorders(row) if recorders else None, budget)
            out.append(record)
            progress.row_done(record["status"] == "ok", record["usage"]["total_tokens"])

    workers = [asyncio.create_task(worker()) for _ in range(max(1, min(concurrency, len(rows))))]
    try:
        await asyncio.gather(*workers)
    finally:
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
