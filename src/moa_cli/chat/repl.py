"""The prompt-toolkit loop of ``moa chat``: read a line, run a command or a turn, repeat.

Ctrl-C while an answer streams cancels that answer (its partial text is kept and stored as
interrupted) and returns to the prompt; Ctrl-C at the prompt says how to quit; Ctrl-D quits.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Iterable
from pathlib import Path

from prompt_toolkit import PromptSession
from prompt_toolkit.completion import CompleteEvent, Completer, Completion
from prompt_toolkit.document import Document
from prompt_toolkit.history import FileHistory
from prompt_toolkit.key_binding import KeyBindings, KeyPressEvent
from rich.text import Text

from moa_cli.chat.commands import COMMANDS, EXIT, Ask, argument_choices, run_command
from moa_cli.chat.inputs import as_message
from moa_cli.chat.session import ChatSession
from moa_cli.errors import MoaError
from moa_cli.paths import private_dir, private_file
from moa_cli.ui.sanitize import strip_controls


class SlashCompleter(Completer):
    """Completes command names after ``/``, and models, presets or session ids after the command."""

    def __init__(self, chat: ChatSession) -> None:
        self.chat = chat

    def get_completions(self, document: Document, complete_event: CompleteEvent) -> Iterable[Completion]:
        text = document.text_before_cursor
        if not text.startswith("/"):
            return
        name, space, arg = text[1:].partition(" ")
        if not space:
            for command in COMMANDS:
                if command.startswith(name):
                    yield Completion("/" + command, start_position=-len(text), display_meta=COMMANDS[command].help)
            return
        word = arg.rsplit(" ", 1)[-1]
        for choice in argument_choices(self.chat, name):
            if choice.startswith(word):
                yield Completion(choice, start_position=-len(word))


def key_bindings() -> KeyBindings:
    """Enter sends; Esc then Enter, or Ctrl-J, insert a newline (bracketed paste keeps pastes whole)."""
    bindings = KeyBindings()

    @bindings.add("escape", "enter")
    @bindings.add("c-j")
    def _newline(event: KeyPressEvent) -> None:
        event.current_buffer.insert_text("\n")

    return bindings


class InputHistory(FileHistory):
    """The prompt's history file, readable by the owner only; a failed write (full disk) is kept
    as ``error`` for the REPL to mention, instead of breaking the prompt."""

    def __init__(self, path: Path) -> None:
        private_dir(path.parent)  # another user's, or writable by others: refused
        private_file(path)
        super().__init__(str(path))
        self.error: OSError | None = None

    def store_string(self, string: str) -> None:
        try:
            super().store_string(string)
        except OSError as exc:
            self.error = exc


async def repl(chat: ChatSession, history_file: Path) -> None:
    """Read and answer until Ctrl-D or ``/exit``."""
    history = InputHistory(history_file)
    prompt: PromptSession[str] = PromptSession(
        history=history,
        key_bindings=key_bindings(),
        completer=SlashCompleter(chat),
        complete_while_typing=False,
        enable_open_in_editor=True,  # Ctrl-X Ctrl-E: write the message in $EDITOR, sent when saved
    )
    while True:
        try:
            line = await prompt.prompt_async("you› ")
        except KeyboardInterrupt:
            chat.console.print(Text("(Ctrl-D or /exit to quit)", style="dim"))
            continue
        except EOFError:
            return
        if history.error is not None:
            chat.console.print(Text(f"(input history not saved: {history.error.strerror})", style="yellow"))
            history.error = None
        if not line.strip():
            continue
        question = as_message(line)
        if question is None:
            outcome = run_command(chat, line.strip())
            if outcome is EXIT:
                return
            question = outcome.question if isinstance(outcome, Ask) else None
        if question is not None:
            await answer(chat, question)


async def answer(chat: ChatSession, question: str) -> None:
    """Run one turn; Ctrl-C cancels just this turn."""
    loop = asyncio.get_running_loop()
    turn = asyncio.ensure_future(chat.ask(question))
    loop.add_signal_handler(signal.SIGINT, turn.cancel)
    try:
        result = await turn
    except asyncio.CancelledError:
        current = asyncio.current_task()
        if current is not None and current.cancelling():
            raise  # SIGTERM: the whole chat is stopping
        partial = chat.last_result is not None and chat.last_result.answer
        said = "the partial answer is kept" if partial else "before any answer arrived; the question is kept"
        chat.console.print(Text(f"⏹ interrupted; {said}", style="yellow"))
        return
    except MoaError as exc:
        chat.console.print(Text(f"error: {strip_controls(str(exc))}", style="red"))
        return
    finally:
        loop.remove_signal_handler(signal.SIGINT)
    if result.status != "complete":
        chat.console.print(Text(f"error: {strip_controls(str(result.error))}", style="red"))
    chat.console.print()
