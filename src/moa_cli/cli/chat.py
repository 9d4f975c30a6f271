"""``moa chat``: options only; the work is in ``moa_cli.chat``."""

from __future__ import annotations

from typing import Optional

import typer

from moa_cli.cli import options as opt


def chat(
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
    show_reasoning: bool = opt.SHOW_REASONING,
) -> None:
    """Chat with the mixture: every turn is stored and can be resumed (/help inside)."""
    from moa_cli.cli.chat_run import run_chat

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
    raise typer.Exit(run_chat(flags, continue_last=continue_last, session=session, show_reasoning=show_reasoning))
