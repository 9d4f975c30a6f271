"""Command-line options shared by ``moa ask`` and ``moa chat``, declared once."""

from __future__ import annotations

from dataclasses import dataclass

import typer

MODEL = typer.Option(None, "-m", "--model", metavar="MODEL", help="A reference model; repeat for several.")
AGGREGATOR = typer.Option(None, "-a", "--aggregator", metavar="MODEL", help="The aggregator model.")
LAYERS = typer.Option(None, "-l", "--layers", min=1, max=8, help="Reference layers (default 1).")
TEMPERATURE = typer.Option(None, "-t", "--temperature", min=0.0, max=2.0, help="Sampling temperature.")
MAX_TOKENS = typer.Option(None, "--max-tokens", min=1, help="Max tokens per answer.")
SYSTEM = typer.Option(None, "-s", "--system", metavar="TEXT", help="System prompt for every model.")
PRESET = typer.Option(None, "--preset", metavar="NAME", help="A preset from the config file.")
REF_TIMEOUT = typer.Option(
    None, "--ref-timeout", metavar="SECONDS", min=0.1, help="Leave out references not done by then."
)
SAMPLES = typer.Option(
    None, "--samples", min=1, max=16, metavar="N", help="Self-MoA: each reference answers N times."
)
SHOW_REASONING = typer.Option(False, "--show-reasoning", help="Show the models' reasoning.")
CONTINUE = typer.Option(False, "-c", "--continue", help="Continue the most recent session.")
SESSION = typer.Option(None, "--session", metavar="ID_OR_NAME", help="Resume this session, or start one with this name.")


@dataclass(frozen=True, slots=True)
class ModelFlags:
    """The model settings given on the command line; None means "not given"."""

    models: tuple[str, ...] | None = None
    aggregator: str | None = None
    layers: int | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    system: str | None = None
    preset: str | None = None
    ref_timeout: float | None = None
    samples: int | None = None
