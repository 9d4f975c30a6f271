"""``moa chat``: options only; the work is in ``moa_cli.cli.chat_run`` and ``moa_cli.chat``."""

from __future__ import annotations

from typing import Any, Optional

import typer

from moa_cli.cli import options as opt


@opt.with_setting_options
def chat(
    role: Optional[str] = opt.ROLE,
    preset: Optional[str] = opt.PRESET,
    continue_last: bool = opt.CONTINUE,
    session: Optional[str] = opt.SESSION,
    show_reasoning: bool = opt.SHOW_REASONING,
    verbose: bool = opt.VERBOSE,
    **settings: Any,
) -> None:
    """Chat with the mixture: every turn is stored and can be resumed (/help inside)."""
    from moa_cli.cli.chat_run import run_chat

    opt.use_verbose(verbose)
    given = opt.given_settings(settings)
    raise typer.Exit(
        run_chat(given, role=role, preset=preset, continue_last=continue_last, session=session, show_reasoning=show_reasoning)
    )
