"""Runs ``moa eval``: systems and rows from the command line, the evaluation, then its report."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from moa_cli.app.turn import Interrupted, run_cancellable
from moa_cli.batch.rows import read_rows
from moa_cli.batch.concurrency import default_concurrency
from moa_cli.cli.output import say
from moa_cli.config import load_config
from moa_cli.errors import ExitCode, UsageError
from moa_cli.evaluate.report import Report, markdown, table
from moa_cli.evaluate.run import evaluate
from moa_cli.evaluate.systems import parse_systems


@dataclass(frozen=True, slots=True)
class EvalOptions:
    """``moa eval``'s command line, as parsed."""

    input_path: Path
    systems: list[str] = field(default_factory=list)
    baseline: str = ""
    judge: str = ""
    question_field: str | None = None
    concurrency: int | None = None
    cache: Path | None = None
    json_output: bool = False
    report: Path | None = None
    chart: Path | None = None
    seed: int = 0
    quiet: bool = False


def run_eval(options: EvalOptions) -> int:
    """Run ``moa eval``; returns the exit code. A :class:`MoaError` is the caller's to report."""
    if len(options.systems) < 2:
        raise UsageError("give at least two --system NAME=SPEC: the baseline and one to compare with it")
    rows = read_rows(options.input_path, options.question_field)
    systems = parse_systems(options.systems, options.baseline, load_config())
    cache = options.cache or options.input_path.with_name(options.input_path.name + ".moa-eval")
    concurrency = options.concurrency or max(default_concurrency(s.settings, rows) for s in systems)
    main = evaluate(
        rows, systems, options.judge, cache,
        input_name=options.input_path.name, concurrency=concurrency, seed=options.seed, quiet=options.quiet,
    )
    try:
        report = run_cancellable(main)
    except Interrupted as stop:
        say(f"interrupted; the answers and verdicts so far are kept in {cache}; run again to go on")
        return stop.exit_code
    if report.rows == 0:
        raise UsageError("no question was answered by every system; nothing to compare (see the answers in "
                         f"{cache})")
    _write_outputs(options, report)
    if report.judge_failures and not options.quiet:
        say(f"warning: {report.judge_failures} verdicts could not be had (counted as ties); run again to retry them")
    return ExitCode.OK


def _write_outputs(options: EvalOptions, report: Report) -> None:
    chart_ref = None
    if options.chart:
        from moa_cli.evaluate.chart import svg

        title = f"Win rate against {report.baseline} ({report.rows} questions, judge {report.judge})"
        _write(options.chart, svg(report.systems, title))
        chart_ref = os.path.relpath(options.chart, (options.report or options.chart).parent)
    if options.report:
        _write(options.report, markdown(report, chart_ref))
    if options.json_output:
        sys.stdout.write(json.dumps(report.as_dict(), indent=2, ensure_ascii=False) + "\n")
    else:
        from rich.console import Console

        Console(file=sys.stdout).print(table(report))


def _write(path: Path, text: str) -> None:
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None
