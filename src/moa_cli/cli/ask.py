"""``moa ask``: one question, one Mixture-of-Agents answer. Options only; the work is in ``ask_run``."""

from __future__ import annotations

from typing import Any, Optional

import typer

from moa_cli.cli import options as opt


@opt.with_setting_options
def ask(
    question: Optional[str] = typer.Argument(
        None, help="The question. Piped stdin is read too: stdin first, then the question."
    ),
    files: Optional[list[str]] = typer.Option(
        None, "-f", "--file", metavar="FILE", help="A text file (or glob) to put before the question; repeatable."
    ),
    role: Optional[str] = opt.ROLE,
    preset: Optional[str] = opt.PRESET,
    continue_last: bool = opt.CONTINUE,
    session: Optional[str] = opt.SESSION,
    json_output: bool = typer.Option(False, "--json", help="Print one JSON object with every answer."),
    show_reasoning: bool = opt.SHOW_REASONING,
    quiet: bool = typer.Option(False, "-q", "--quiet", help="No progress on stderr, errors only."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print every request it would send; send none."),
    no_stdin: bool = typer.Option(False, "--no-stdin", help="Do not read stdin (in shell loops)."),
    verbose: bool = opt.VERBOSE,
    **settings: Any,
) -> None:
    """Ask the references, then stream the aggregated answer.

    Examples:

      moa ask "Explain quantum entanglement simply"

      git diff | moa ask "Write a commit message for this change"

      moa ask -m openai/gpt-oss-20b -m qwen/qwen3.8-27b "Summarise MoA" > answer.md

      moa ask -f src/app.py -f 'docs/*.md' "Does the code match the docs?"

      moa ask -c "And in one sentence?"     # continue the last session
    """
    from moa_cli.cli.ask_run import AskOptions, run_ask

    opt.use_verbose(verbose)

    options = AskOptions(
        question=question,
        files=tuple(files or ()),
        role=role,
        settings=opt.given_settings(settings),
        preset=preset,
        continue_last=continue_last,
        session=session,
        json_output=json_output,
        show_reasoning=show_reasoning,
        quiet=quiet,
        dry_run=dry_run,
        no_stdin=no_stdin,
    )
    raise typer.Exit(run_ask(options))
