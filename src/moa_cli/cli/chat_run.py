"""Runs ``moa chat``: checks for a terminal, opens the store and the session, then the REPL."""

from __future__ import annotations

import signal
import sys

from moa_cli.cli.options import ModelFlags
from moa_cli.cli.turns import (
    EXIT_OK,
    Interrupted,
    error,
    make_provider,
    pick_session,
    resolve_settings,
    run_cancellable,
    start_collecting,
)
from moa_cli.config import load_config
from moa_cli.errors import MoaError
from moa_cli.store import Store

NEEDS_TERMINAL = 'moa chat needs a terminal; for pipes and scripts use: moa ask "question"'


def run_chat(flags: ModelFlags, *, continue_last: bool, session: str | None, show_reasoning: bool) -> int:
    """Run the REPL until the user leaves; returns the exit code."""
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        error(NEEDS_TERMINAL)
        return 2
    try:
        config = load_config()
        settings = resolve_settings(flags, config)
        provider = make_provider(settings)
        store = Store.open()
    except MoaError as exc:
        error(exc)
        return exc.exit_code

    from rich.console import Console
    from rich.text import Text

    from moa_cli.chat.repl import repl
    from moa_cli.chat.session import ChatSession

    try:
        chosen = pick_session(store, continue_last=continue_last, name=session)
        console = Console()
        chat = ChatSession(
            store=store,
            config=config,
            settings=settings,
            provider=provider,
            console=console,
            session=chosen,
            show_reasoning=show_reasoning,
        )
        refs = ", ".join(spec.model for spec in settings.references)
        where = f"session {chosen.id} ({len(chat.history) // 2} turns)" if chosen else "new session"
        console.print(Text(f"moa chat · {where} · {refs} → {settings.aggregator.model}", style="bold"))
        console.print(Text("/help for commands · Ctrl-C stops an answer · Ctrl-D quits", style="dim"))

        async def main() -> None:
            try:
                await repl(chat, store.path.parent / "input_history")
            finally:
                await provider.aclose()

        start_collecting()
        run_cancellable(main(), signals=(signal.SIGTERM,))
    except MoaError as exc:
        error(exc)
        return exc.exit_code
    except Interrupted as stop:
        sys.stderr.write("moa: stopped\n")
        return stop.exit_code
    finally:
        store.close()
    return EXIT_OK
