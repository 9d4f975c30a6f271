"""``moa ask``: one question, one Mixture-of-Agents answer. Options only; the work is in ``runner``."""

from __future__ import annotations

from typing import Optional

import typer


def ask(
    question: Optional[str] = typer.Argument(
        None, help="The question. Piped stdin is read too: stdin first, then the question."
    ),
    model: Optional[list[str]] = typer.Option(
        None, "-m", "--model", metavar="MODEL", help="A reference model; repeat for several."
    ),
    aggregator: Optional[str] = typer.Option(None, "-a", "--aggregator", metavar="MODEL", help="The aggregator model."),
    layers: Optional[int] = typer.Option(None, "-l", "--layers", min=1, max=8, help="Reference layers (default 1)."),
    temperature: Optional[float] = typer.Option(None, "-t", "--temperature", min=0.0, max=2.0),
    max_tokens: Optional[int] = typer.Option(None, "--max-tokens", min=1, help="Max tokens per answer."),
    system: Optional[str] = typer.Option(None, "-s", "--system", metavar="TEXT", help="System prompt for every model."),
    preset: Optional[str] = typer.Option(None, "--preset", metavar="NAME", help="A preset from the config file."),
    ref_timeout: Optional[float] = typer.Option(
        None, "--ref-timeout", metavar="SECONDS", min=0.1, help="Leave out references not done by then."
    ),
    json_output: bool = typer.Option(False, "--json", help="Print one JSON object with every answer."),
    show_reasoning: bool = typer.Option(False, "--show-reasoning", help="Show the models' reasoning."),
    quiet: bool = typer.Option(False, "-q", "--quiet", help="No progress on stderr, errors only."),
) -> None:
    """Ask the references, then stream the aggregated answer.

    Examples:

      moa ask "Explain quantum entanglement simply"

      git diff | moa ask "Write a commit message for this change"

      moa ask -m openai/gpt-oss-20b -m qwen/qwen3.8-27b "Summarise MoA" > answer.md
    """
    from moa_cli.cli.runner import AskOptions, run_ask

    options = AskOptions(
        question=question,
        models=tuple(model) if model else None,
        aggregator=aggregator,
        layers=layers,
        temperature=temperature,
        max_tokens=max_tokens,
        system=system,
        preset=preset,
        ref_timeout=ref_timeout,
        json_output=json_output,
        show_reasoning=show_reasoning,
        quiet=quiet,
    )
    raise typer.Exit(run_ask(options))
