"""``moa sessions``: list, show, search, export and remove stored conversations."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from typing import TYPE_CHECKING, Optional

import typer

from moa_cli.cli.options import complete_session
from moa_cli.errors import MoaError, UsageError

if TYPE_CHECKING:
    from moa_cli.store import SessionInfo, Store

app = typer.Typer(
    help="Stored conversations: list (the default), show, search, export, rename, rm, path.",
    invoke_without_command=True,
    no_args_is_help=False,
    rich_markup_mode=None,
)

JSON = typer.Option(False, "--json", help="Print JSON.")
LIMIT = typer.Option(20, "-n", "--limit", min=1, metavar="N", help="How many to list.")


@contextmanager
def _store(*, write: bool = False) -> Iterator[Store]:
    """The session store, closed however the command ends (its errors are ``main``'s to report).

    Read-only when moa cannot write it (a backup, a read-only ``MOA_HOME``), unless ``write``.
    """
    from moa_cli.store import Store

    with Store.open(write=write) as store:
        yield store


def _session_or_exit(store: Store, id_or_name: str) -> SessionInfo:
    session = store.find_session(id_or_name)
    if session is None:
        from moa_cli.store import PREFIX_MIN

        short = f" (an id prefix needs {PREFIX_MIN} characters or more)" if len(id_or_name) < PREFIX_MIN else ""
        raise MoaError(f"no session '{id_or_name}'{short}; 'moa sessions' lists them")
    return session


def _print(text: str) -> None:
    """Write ``text`` to stdout: byte for byte to a pipe or file, without control sequences to a terminal."""
    if sys.stdout.isatty():
        from moa_cli.ui.sanitize import strip_controls

        text = strip_controls(text)
    sys.stdout.write(text if text.endswith("\n") else text + "\n")


def _rows(sessions: list[SessionInfo], as_json: bool) -> None:
    if as_json:
        listed = [{k: v for k, v in asdict(s).items() if k != "by_prefix"} for s in sessions]  # how it was found
        _print(json.dumps(listed, indent=2, ensure_ascii=False))
        return
    if not sessions:
        _print("no sessions yet")
        return
    from moa_cli.ui.format import money

    for s in sessions:
        when = s.updated[:16].replace("T", " ")
        cost = money(s.cost) if s.cost is not None else "-"
        _print(f"{s.id}  {s.turns:>4} {'turn ' if s.turns == 1 else 'turns'}  {when}  {cost:>8}  {s.title}")


@app.callback()
def sessions(ctx: typer.Context, limit: int = LIMIT, as_json: bool = JSON) -> None:
    """List recent sessions: id, turns, last used, name or first question."""
    if ctx.invoked_subcommand is None:
        with _store() as store:
            _rows(store.list_sessions(limit=limit), as_json)


@app.command("list")
def list_(limit: int = LIMIT, as_json: bool = JSON) -> None:
    """List recent sessions (the same as plain 'moa sessions')."""
    with _store() as store:
        _rows(store.list_sessions(limit=limit), as_json)


@app.command()
def show(
    session: Optional[str] = typer.Argument(
        None, metavar="[ID_OR_NAME]", help="Default: the last session.", autocompletion=complete_session
    ),
    refs: bool = typer.Option(False, "--refs", help="Include each reference model's answer."),
) -> None:
    """Print a session's transcript (the last session's without an id): Markdown, drawn on a terminal."""
    from moa_cli.transcript import to_markdown

    with _store() as store:
        info = _session_or_exit(store, session) if session else store.last_session()
        if info is None:
            raise MoaError("no sessions yet; ask something first")
        text = to_markdown(info, store.turns(info.id, with_agents=refs), refs=refs)
    if sys.stdout.isatty():
        from rich.console import Console

        from moa_cli.ui.markdown_stream import AnswerMarkdown
        from moa_cli.ui.sanitize import strip_controls

        Console().print(AnswerMarkdown(strip_controls(text)))
    else:
        _print(text)


@app.command()
def rename(
    session: str = typer.Argument(..., metavar="ID_OR_NAME", autocompletion=complete_session),
    name: str = typer.Argument(..., metavar="NAME", help="The new name: --session NAME resumes it."),
) -> None:
    """Name a session (its title in lists; 'moa ask --session NAME' continues it)."""
    with _store(write=True) as store:
        info = _session_or_exit(store, session)
        store.rename_session(info.id, name)
        sys.stderr.write(f"moa: session {info.id} is now named {name!r}\n")


@app.command()
def search(text: str, limit: int = LIMIT, as_json: bool = JSON) -> None:
    """Full-text search over questions and answers."""
    with _store() as store:
        hits = store.search(text, limit=limit)
        if as_json:
            _print(json.dumps([asdict(h) for h in hits], indent=2, ensure_ascii=False))
            return
        if not hits:
            _print(f"nothing matches {text!r}")
        for hit in hits:
            _print(f"{hit.session_id} #{hit.seq}  {hit.title}\n    {hit.snippet}")


@app.command()
def export(
    session: str = typer.Argument(..., metavar="ID_OR_NAME", autocompletion=complete_session),
    format: str = typer.Option("md", "--format", "-f", help="md or json"),
) -> None:
    """Print a session as Markdown or JSON (redirect to a file to save it)."""
    from moa_cli.transcript import to_json, to_markdown

    if format not in ("md", "json"):
        raise UsageError(f"--format must be md or json, not {format!r}")
    with _store() as store:
        info = _session_or_exit(store, session)
        turns = store.turns(info.id, with_agents=True)
        _print(to_markdown(info, turns, refs=True) if format == "md" else to_json(info, turns))


@app.command()
def rm(session: str = typer.Argument(..., metavar="ID_OR_NAME")) -> None:
    """Delete a session and its turns."""
    with _store(write=True) as store:
        info = _session_or_exit(store, session)
        store.delete_session(info.id)
        sys.stderr.write(f"moa: deleted session {info.id} ({info.turns} turns)\n")


@app.command()
def path() -> None:
    """Print where the session database lives."""
    from moa_cli.paths import data_dir

    _print(str(data_dir() / "moa.db"))
