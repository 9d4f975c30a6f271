"""Getting answers back out of the REPL: ``/copy``, ``/refs`` and ``/history``, read from the store."""

from __future__ import annotations

import base64

from rich.markdown import Markdown
from rich.panel import Panel
from rich.text import Text

from moa_cli.chat.session import ChatSession
from moa_cli.errors import UsageError
from moa_cli.store import TurnRecord
from moa_cli.ui.format import plural
from moa_cli.ui.sanitize import strip_controls


def _turns(chat: ChatSession, *, with_agents: bool = False) -> list[TurnRecord]:
    conversation = chat.conversation
    if conversation.store is None or conversation.session is None:
        return []
    return conversation.store.turns(conversation.session.id, with_agents=with_agents)


def _last_turn(chat: ChatSession, *, with_agents: bool = False) -> TurnRecord:
    turns = _turns(chat, with_agents=with_agents)
    if not turns:
        raise UsageError("no answer yet in this session")
    return turns[-1]


def osc52(text: str) -> str:
    """The terminal sequence (OSC 52) that puts ``text`` on the system clipboard."""
    return "\x1b]52;c;" + base64.b64encode(text.encode("utf-8")).decode("ascii") + "\x07"


def copy_command(chat: ChatSession, arg: str) -> None:
    """``/copy``: the last answer to the clipboard, through the terminal (works over ssh)."""
    answer = _last_turn(chat).answer
    if not answer:
        raise UsageError("the last turn has no answer to copy")
    chat.console.file.write(osc52(answer))
    chat.console.file.flush()
    chat.console.print(
        Text(f"copied {len(answer):,} characters (through the terminal, OSC 52: your terminal must allow it)", style="green")
    )


def refs_command(chat: ChatSession, arg: str) -> None:
    """``/refs``: the last turn's reference answers again, one panel each."""
    turn = _last_turn(chat, with_agents=True)
    references = [agent for agent in turn.agents if agent.role == "reference"]
    if not references:
        raise UsageError("the last turn has no reference answers stored")
    for agent in references:
        title = Text(f"{agent.model} ({agent.status.replace('_', ' ')})", style="bold")
        body = Markdown(strip_controls(agent.text)) if agent.text.strip() else Text(agent.error or "(no answer)", style="red")
        chat.console.print(Panel(body, title=title, title_align="left"))


def history_command(chat: ChatSession, arg: str) -> None:
    """``/history``: every stored turn, those asked again or left without an answer marked."""
    turns = _turns(chat)
    if not turns:
        chat.console.print(Text("no turns yet", style="dim"))
        return
    for turn in turns:
        chat.console.print(Text("you: ", style="bold cyan") + Text(strip_controls(turn.question)))
        answer = Text("moa: ", style="bold green") + Text(strip_controls(turn.answer))
        notes = [turn.status.replace("_", " ")] if turn.status != "complete" else []
        if turn.status != "complete" and not turn.answer:
            notes = [f"{notes[0]}, no answer"]
        if turn.retried:
            notes.append("asked again with /retry")
        if notes:
            answer.append(f" ({'; '.join(notes)})", style="yellow")
        chat.console.print(answer)
    chat.console.print(Text(plural(len(turns), "turn"), style="dim"))
