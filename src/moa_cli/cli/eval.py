"""``moa eval``: compare systems on a data set with a pairwise judge. Options only; the work is in ``eval_run``."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def eval_(
    input_path: Path = typer.Argument(..., metavar="INPUT", help="Questions: JSONL, CSV or text lines, as for batch."),
    systems: list[str] = typer.Option(..., "--system", metavar="NAME=SPEC", help="moa, preset:NAME, single:MODEL or self:MODEL*N; repeat."),
    baseline: str = typer.Option(..., "--baseline", metavar="NAME", help="The system the others are judged against."),
    judge: str = typer.Option(..., "--judge", metavar="MODEL", help="The judge model."),
    field: Optional[str] = typer.Option(None, "--field", metavar="NAME", help="The field holding the question."),
    concurrency: Optional[int] = typer.Option(None, "--concurrency", "-j", min=1, max=256, metavar="N", help="Rows at once."),
    cache: Optional[Path] = typer.Option(None, "--cache", metavar="DIR", help="Answers and verdicts (default: INPUT.moa-eval/ beside INPUT)."),
    json_output: bool = typer.Option(False, "--json", help="Print the figures as one JSON object."),
    report: Optional[Path] = typer.Option(None, "--report", metavar="FILE.md", help="Write a Markdown report."),
    chart: Optional[Path] = typer.Option(None, "--chart", metavar="FILE.svg", help="Write an SVG chart of the win rates."),
    seed: int = typer.Option(0, "--seed", help="Seed of the bootstrap interval."),
    quiet: bool = typer.Option(False, "-q", "--quiet", help="No progress on stderr, errors only."),
) -> None:
    """Compare systems on INPUT: each system answers (cached), a judge compares each with the baseline.

    Each pair is judged in both orders; a verdict that flips with the order is a tie. The win
    rate counts ties as half, with a 95% bootstrap interval.

    Examples:

      moa eval questions.jsonl --system mix=moa --system solo=single:openai/gpt-oss-120b --baseline solo --judge openai/gpt-oss-120b

      moa eval mt.jsonl --system self=self:openai/gpt-oss-120b*4 --system mix=moa --baseline mix --judge openai/gpt-oss-120b --report eval.md --chart eval.svg
    """
    from moa_cli.cli.eval_run import EvalOptions, run_eval

    options = EvalOptions(
        input_path=input_path,
        systems=systems,
        baseline=baseline,
        judge=judge,
        question_field=field,
        concurrency=concurrency,
        cache=cache,
        json_output=json_output,
        report=report,
        chart=chart,
        seed=seed,
        quiet=quiet,
    )
    raise typer.Exit(run_eval(options))
