"""Runs ``moa batch``: read the rows, take stock of the output file, run what is left."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from moa_cli.app.providers import make_provider
from moa_cli.app.turn import Interrupted, run_cancellable
from moa_cli.batch.output import OutputFile
from moa_cli.batch.progress import BatchProgress
from moa_cli.batch.rows import Row, read_rows
from moa_cli.batch.concurrency import default_concurrency
from moa_cli.batch.runner import RecorderFor, run_rows
from moa_cli.cli.output import say
from moa_cli.config import load_config
from moa_cli.errors import ExitCode, UsageError
from moa_cli.settings import Settings
from moa_cli.store import Store

VIAS = ("live", "groq-batch")


@dataclass(frozen=True, slots=True)
class BatchOptions:
    """``moa batch``'s command line, as parsed."""

    input_path: Path
    output: Path
    question_field: str | None = None
    concurrency: int | None = None
    via: str = "live"
    completion_window: str = "24h"
    poll_interval: float = 30.0
    store: bool = False
    preset: str | None = None
    quiet: bool = False
    settings: dict[str, Any] = field(default_factory=dict)


def run_batch(options: BatchOptions) -> int:
    """Run ``moa batch``; returns the exit code. A :class:`MoaError` is the caller's to report."""
    if options.via not in VIAS:
        raise UsageError(f"--via must be one of {', '.join(VIAS)}, not {options.via!r}")
    rows = read_rows(options.input_path, options.question_field)
    settings = load_config().resolve(options.preset, **options.settings)
    out = OutputFile(options.output)
    try:
        done = out.resume(rows)
        todo = [row for row in rows if row.id not in done]
        _say_resumed(options, out, len(todo))
        if not todo:
            _say(options, f"all {len(rows)} rows are done in {out.path}")
            return ExitCode.OK
        progress = BatchProgress(sys.stderr, len(todo), quiet=options.quiet)
        try:
            if options.via == "groq-batch":
                from moa_cli.batch.groq_batch import run_groq_batch

                run_groq_batch(rows, todo, settings, out, progress, options)
            else:
                _run_live(todo, settings, out, progress, options)
        except (Interrupted, KeyboardInterrupt) as stop:
            progress.finish("interrupted")
            _say(options, f"{out.path} keeps every finished row; run the same command again to go on")
            if options.via == "groq-batch":
                _say(options, "the Groq batch jobs go on at Groq; their ids are kept beside the output")
            return stop.exit_code if isinstance(stop, Interrupted) else ExitCode.INTERRUPTED
    finally:
        out.close()
    progress.finish(f"wrote {out.path}")
    return ExitCode.FAILED if progress.failed else ExitCode.OK


def _run_live(todo: list[Row], settings: Settings, out: OutputFile, progress: BatchProgress, options: BatchOptions) -> None:
    provider = make_provider(settings)
    store = Store.open() if options.store else None
    concurrency = options.concurrency or default_concurrency(settings, todo)

    async def main() -> None:
        try:
            await run_rows(
                todo, settings, provider, out, progress, concurrency=concurrency,
                recorders=_recorders(store, settings) if store else None,
            )
        finally:
            await provider.aclose()

    try:
        run_cancellable(main())
    finally:
        if store is not None:
            store.close()


def _recorders(store: Store, settings: Settings) -> Callable[[Row], RecorderFor]:
    """Each row its own session, created with its first turn; each turn stored as ``ask`` stores it."""
    from moa_cli.recorder import TurnRecorder

    def for_row(row: Row) -> RecorderFor:
        session: list[str] = []

        def for_turn(question: str) -> list[TurnRecorder]:
            if not session:
                session.append(store.create_session().id)
            return [TurnRecorder(store, session[0], question, settings)]

        return for_turn

    return for_row


def _say_resumed(options: BatchOptions, out: OutputFile, todo: int) -> None:
    if out.kept or out.dropped:
        again = f" ({out.dropped} failed or changed rows run again)" if out.dropped else ""
        _say(options, f"resuming {out.path}: {out.kept} rows done, {todo} to run{again}")


def _say(options: BatchOptions, text: str) -> None:
    if not options.quiet:
        say(text)
