"""Runs ``moa chat``: checks for a terminal, opens the store and the session, then the REPL."""

from __future__ import annotations

import signal
import sys
from typing import Any

from moa_cli.app.conversation import Conversation, pick_session
from moa_cli.app.providers import make_provider
from moa_cli.app.turn import Interrupted, run_cancellable
from moa_cli.cli.output import say
from moa_cli.cli.runtime import start_collecting
from moa_cli.config import load_config
from moa_cli.errors import ExitCode, UsageError
from moa_cli.store import Store
from moa_cli.ui.format import plural

NEEDS_TERMINAL = 'moa chat needs a terminal; for pipes and scripts use: moa ask "question"'


def run_chat(
    settings_given: dict[str, Any], *, role: str | None = None, preset: str | None, continue_last: bool, session: str | None, show_reasoning: bool
) -> int:
    """Run the REPL until the user leaves; returns the exit code. A MoaError is the caller's to report."""
    if not (sys.stdin.isatty() and sys.stdout is not None and sys.stdout.isatty()):
        raise UsageError(NEEDS_TERMINAL)
    config = load_config()
    if continue_last and session is not None:
        raise UsageError("--continue and --session contradict each other: give one of them")
    chosen_role = config.role(role) if role else None
    settings = config.resolve(preset, role=chosen_role, **settings_given)
    provider = make_provider(settings)
    store = Store.open()

    from rich.console import Console
    from rich.text import Text

    from moa_cli.chat.repl import repl
    from moa_cli.chat.session import ChatSession

    try:
        console = Console()

        def warn(message: str) -> None:
            console.print(Text(f"({message})", style="yellow"))

        chosen = pick_session(store, continue_last=continue_last, name=session, warn=warn)
        conversation = Conversation(settings, provider, store, chosen, warn=warn)
        chat = ChatSession(conversation, config=config, console=console, show_reasoning=show_reasoning)
        chat.role = chosen_role
        refs = ", ".join(spec.model for spec in settings.references)
        where = f"session {chosen.id} ({plural(chosen.turns, 'turn')})" if chosen else "new session"
        console.print(Text(f"moa chat · {where} · {refs} → {settings.aggregator.model}", style="bold"))
        console.print(Text("/help for commands · Ctrl-C stops an answer · Ctrl-D quits", style="dim"))

        async def main() -> None:
            try:
                await repl(chat, store.path.parent / "input_history")
            finally:
                await provider.aclose()

        start_collecting()
        run_cancellable(main(), signals=(signal.SIGTERM, signal.SIGHUP))
    except Interrupted as stop:
        say("stopped")
        return stop.exit_code
    finally:
        store.close()
    return ExitCode.OK
