"""``moa ask``: one question, one Mixture-of-Agents answer. Options only; the work is in ``ask_run``."""

from __future__ import annotations

from typing import Optional

import typer

from moa_cli.cli import options as opt


def ask(
    question: Optional[str] = typer.Argument(
        None, help="The question. Piped stdin is read too: stdin first, then the question."
    ),
    model: Optional[list[str]] = opt.MODEL,
    aggregator: Optional[str] = opt.AGGREGATOR,
    layers: Optional[int] = opt.LAYERS,
    temperature: Optional[float] = opt.TEMPERATURE,
    max_tokens: Optional[int] = opt.MAX_TOKENS,
    system: Optional[str] = opt.SYSTEM,
    preset: Optional[str] = opt.PRESET,
    ref_timeout: Optional[float] = opt.REF_TIMEOUT,
    samples: Optional[int] = opt.SAMPLES,
    continue_last: bool = opt.CONTINUE,
    session: Optional[str] = opt.SESSION,
    json_output: bool = typer.Option(False, "--json", help="Print one JSON object with every answer."),
    show_reasoning: bool = opt.SHOW_REASONING,
    quiet: bool = typer.Option(False, "-q", "--quiet", help="No progress on stderr, errors only."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print every request it would send; send none."),
    no_stdin: bool = typer.Option(False, "--no-stdin", help="Do not read stdin (in shell loops)."),
) -> None:
    """Ask the references, then stream the aggregated answer.

    Examples:

      moa ask "Explain quantum entanglement simply"

      git diff | moa ask "Write a commit message for this change"

      moa ask -m openai/gpt-oss-20b -m qwen/qwen3.8-27b "Summarise MoA" > answer.md

      moa ask -c "And in one sentence?"     # continue the last session
    """
    from moa_cli.cli.ask_run import AskOptions, run_ask

    flags = opt.ModelFlags(
        models=tuple(model) if model else None,
        aggregator=aggregator,
        layers=layers,
        temperature=temperature,
        max_tokens=max_tokens,
        system=system,
        preset=preset,
        ref_timeout=ref_timeout,
        samples=samples,
    )
    options = AskOptions(
        question=question,
        flags=flags,
        continue_last=continue_last,
        session=session,
        json_output=json_output,
        show_reasoning=show_reasoning,
        quiet=quiet,
        dry_run=dry_run,
        no_stdin=no_stdin,
    )
    raise typer.Exit(run_ask(options))
