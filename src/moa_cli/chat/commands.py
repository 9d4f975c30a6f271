"""The REPL's slash commands: each one a small function over the :class:`ChatSession`."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from rich.table import Table
from rich.text import Text

from moa_cli.chat.answers import copy_command, history_command, refs_command
from moa_cli.chat.inputs import edit_command, file_command, role_command
from moa_cli.chat.session import ChatSession
from moa_cli.settings import DEFAULT_REFERENCES, SETTINGS, parse_slash, slash_name
from moa_cli.errors import MoaError, UsageError
from moa_cli.transcript import to_markdown
from moa_cli.ui.format import plural
from moa_cli.ui.sanitize import strip_controls


@dataclass(frozen=True, slots=True)
class Ask:
    """A command's request to run a turn with this question (``/retry``)."""

    question: str


EXIT = object()
"""A command's request to leave the REPL."""

Outcome = Ask | object | None
Handler = Callable[[ChatSession, str], Outcome]


@dataclass(frozen=True, slots=True)
class Command:
    name: str
    usage: str
    help: str
    run: Handler


def _say(chat: ChatSession, text: str, style: str = "") -> None:
    chat.console.print(Text(strip_controls(text), style=style))


def _help(chat: ChatSession, arg: str) -> None:
    table = Table.grid(padding=(0, 2))
    for command in COMMANDS.values():
        table.add_row(Text(command.usage, style="bold"), Text(command.help))
    chat.console.print(table)
    _say(chat, "Enter sends; Esc then Enter, or Ctrl-J, adds a new line; Ctrl-X Ctrl-E opens $EDITOR.", "dim")
    _say(chat, "Only a line starting with / is a command: //text sends /text. Ctrl-C stops an answer; Ctrl-D quits.", "dim")


def _models(chat: ChatSession, arg: str) -> None:
    if arg:
        chat.conversation.change(references=arg.replace(",", " ").split())
    _say(chat, "references: " + ", ".join(spec.model for spec in chat.conversation.settings.references))


def _aggregator(chat: ChatSession, arg: str) -> None:
    if arg:
        chat.conversation.change(aggregator=arg.strip())
    _say(chat, f"aggregator: {chat.conversation.settings.aggregator.model}")


def _setting(name: str) -> Handler:
    """``/NAME [VALUE]`` for a declared setting: shows it, or sets it as its flag would."""

    def handler(chat: ChatSession, arg: str) -> None:
        if arg:
            chat.conversation.change(**{name: parse_slash(name, arg)})
        _say(chat, f"{slash_name(name)}: {getattr(chat.conversation.settings, name)}")

    return handler


def _system(chat: ChatSession, arg: str) -> None:
    if arg:
        chat.conversation.change(system="" if arg.strip() == "off" else arg)
    _say(chat, f"system: {chat.conversation.settings.system or '(none)'}")


def _preset(chat: ChatSession, arg: str) -> None:
    if not arg:
        names = ", ".join(chat.config.presets) or "(none; see config.example.toml)"
        _say(chat, f"presets: {names}")
        return
    chat.use_preset(arg.strip())
    _models(chat, "")
    _aggregator(chat, "")


def _new(chat: ChatSession, arg: str) -> None:
    chat.conversation.new()
    _say(chat, "new session: it is saved with its first question", "dim")


def _sessions(chat: ChatSession, arg: str) -> None:
    sessions = chat.conversation.store.list_sessions(limit=20)  # type: ignore[union-attr]
    if not sessions:
        _say(chat, "no sessions yet", "dim")
        return
    table = Table(box=None, padding=(0, 2), show_header=True, header_style="bold")
    for column in ("id", "turns", "last used", "title"):
        table.add_column(column)
    for info in sessions:
        current = chat.conversation.session
        mark = " *" if current and info.id == current.id else ""
        title = Text(strip_controls(info.title))
        table.add_row(info.id + mark, str(info.turns), info.updated[:16].replace("T", " "), title)
    chat.console.print(table)


def _resume(chat: ChatSession, arg: str) -> None:
    if not arg:
        raise UsageError("/resume takes a session id or name; /sessions lists them")
    session = chat.conversation.store.find_session(arg.strip())  # type: ignore[union-attr]
    if session is None:
        raise UsageError(f"no session '{arg.strip()}'; /sessions lists them")
    chat.conversation.resume(session)
    _say(chat, f"resumed {session.id} · {strip_controls(session.title)} · {plural(session.turns, 'turn')}", "green")


def _retry(chat: ChatSession, arg: str) -> Ask:
    return Ask(chat.conversation.retry())


def _export(chat: ChatSession, arg: str, *, overwrite: bool = False) -> None:
    store, current = chat.conversation.store, chat.conversation.session
    if store is None or current is None:
        raise UsageError("nothing to export yet")
    session = store.find_session(current.id) or current
    path = Path(arg.strip() or f"moa-{session.id}.md").expanduser()
    try:
        with path.open("w" if overwrite else "x", encoding="utf-8") as out:
            out.write(to_markdown(session, store.turns(session.id, with_agents=True)))
    except FileExistsError:
        raise UsageError(f"{path} exists; /export! {arg.strip() or path} overwrites it") from None
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None
    _say(chat, f"exported to {path}", "green")


def _export_over(chat: ChatSession, arg: str) -> None:
    _export(chat, arg, overwrite=True)


def _sending(handler: Callable[[ChatSession, str], str | None]) -> Handler:
    """A handler whose text, if any, is sent as the next message."""

    def run(chat: ChatSession, arg: str) -> Ask | None:
        message = handler(chat, arg)
        return Ask(message) if message else None

    return run


def _clear(chat: ChatSession, arg: str) -> None:
    chat.console.clear()


def _exit(chat: ChatSession, arg: str) -> object:
    return EXIT


COMMANDS: dict[str, Command] = {
    c.name: c
    for c in (
        Command("help", "/help", "this list", _help),
        Command("models", "/models [MODEL ...]", "show or set the reference models", _models),
        Command("aggregator", "/aggregator [MODEL]", "show or set the aggregator", _aggregator),
        *(
            Command(slash_name(name), f"/{slash_name(name)} [{info.metavar}]", f"show or set: {info.help}", _setting(name))
            for name, info in SETTINGS.items()
            if info.slash
        ),
        Command("system", "/system [TEXT|off]", "show or set the system prompt", _system),
        Command("preset", "/preset [NAME]", "list presets, or switch to one", _preset),
        Command("new", "/new", "start a new session", _new),
        Command("sessions", "/sessions", "list recent sessions", _sessions),
        Command("resume", "/resume ID", "continue a stored session", _resume),
        Command("role", "/role [NAME|off]", "list roles, or ask through one", role_command),
        Command("file", "/file PATH... [-- MESSAGE]", "put text files before the next message", _sending(file_command)),
        Command("edit", "/edit [TEXT]", "write the message in $EDITOR (or Ctrl-X Ctrl-E)", _sending(edit_command)),
        Command("history", "/history", "show this session's turns", history_command),
        Command("retry", "/retry", "ask the last question again", _retry),
        Command("copy", "/copy", "copy the last answer to the clipboard", copy_command),
        Command("refs", "/refs", "show the last turn's reference answers again", refs_command),
        Command("export", "/export [FILE]", "write this session as Markdown (never over a file)", _export),
        Command("export!", "/export! FILE", "the same, overwriting FILE", _export_over),
        Command("clear", "/clear", "clear the screen", _clear),
        Command("exit", "/exit", "leave (Ctrl-D works too)", _exit),
    )
}
ALIASES = {"quit": "exit", "q": "exit", "?": "help", "effort": "reasoning-effort"}


def run_command(chat: ChatSession, line: str) -> Outcome:
    """Run the slash command on ``line``; a mistake is one line on the console, never an exit."""
    name, _, arg = line[1:].partition(" ")
    name = ALIASES.get(name, name)
    command = COMMANDS.get(name)
    if command is None:
        _say(chat, f"unknown command /{name}; /help lists them", "red")
        return None
    try:
        return command.run(chat, arg.strip())
    except MoaError as exc:
        _say(chat, str(exc), "red")
        return None


def argument_choices(chat: ChatSession, name: str) -> Iterable[str]:
    """What may follow ``/name ``, for tab completion."""
    if name in ("models", "aggregator"):
        configured = [spec.model for spec in chat.conversation.models()]
        return dict.fromkeys([*configured, *DEFAULT_REFERENCES])
    if name == "preset":
        return chat.config.presets
    if name == "resume" and chat.conversation.store is not None:
        return [s.id for s in chat.conversation.store.list_sessions(limit=20)]
    if name == "system":
        return ["off"]
    if name == "role":
        return [*chat.config.roles, "off"]
    return ()
