"""``moa batch``: the mixture over every row of a data set. Options only; the work is in ``batch_run``."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from moa_cli.cli import options as opt


@opt.with_setting_options
def batch(
    input_path: Path = typer.Argument(..., metavar="INPUT", help="JSONL, CSV or text lines (one question a line)."),
    output: Path = typer.Option(..., "-o", "--output", metavar="OUT.jsonl", help="One JSON line per row; resumed if it exists."),
    field: Optional[str] = typer.Option(None, "--field", metavar="NAME", help="The field holding the question."),
    concurrency: Optional[int] = typer.Option(None, "--concurrency", "-j", min=1, max=256, metavar="N", help="Rows at once."),
    via: str = typer.Option("live", "--via", metavar="live|groq-batch", help="groq-batch: Groq's Batch API, slower and cheaper."),
    completion_window: str = typer.Option("24h", "--completion-window", metavar="WINDOW", help="With groq-batch: Groq's window."),
    poll_interval: float = typer.Option(30.0, "--poll-interval", min=0.01, metavar="SECONDS", help="With groq-batch: how often to ask."),
    store: bool = typer.Option(False, "--store", help="Also keep each row as a session (moa sessions)."),
    preset: Optional[str] = opt.PRESET,
    quiet: bool = typer.Option(False, "-q", "--quiet", help="No progress on stderr, errors only."),
    **settings: Any,
) -> None:
    """Answer every row of INPUT with the mixture, one JSON line per row in OUT.

    Rows may hold prompt, question, instruction, turns (MT-Bench: asked in turn, each with the
    earlier answers) or messages; --field names another. Run it again with the same -o to go
    on: finished rows are kept, failed ones run again. Exit 1 if a row failed (it is in OUT).

    Examples:

      moa batch questions.jsonl -o answers.jsonl

      moa batch mt_bench.jsonl -o mt.jsonl --concurrency 8 -m openai/gpt-oss-20b
    """
    from moa_cli.cli.batch_run import BatchOptions, run_batch

    options = BatchOptions(
        input_path=input_path,
        output=output,
        question_field=field,
        concurrency=concurrency,
        via=via,
        completion_window=completion_window,
        poll_interval=poll_interval,
        store=store,
        preset=preset,
        quiet=quiet,
        settings=opt.given_settings(settings),
    )
    raise typer.Exit(run_batch(options))
