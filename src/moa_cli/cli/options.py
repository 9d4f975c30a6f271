"""Command-line options: one per flagged setting (derived from :mod:`moa_cli.settings`), and the rest."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any, Optional, TypeVar

import typer

from moa_cli.settings import flagged

F = TypeVar("F", bound=Callable[..., Any])

def _config_names(table: str) -> Callable[[str], list[str]]:
    """Shell completion of a config table's names (presets, roles); nothing when the file is broken."""

    def complete(incomplete: str) -> list[str]:
        from moa_cli.config import load_config
        from moa_cli.errors import MoaError

        try:
            names = getattr(load_config(), table)
        except MoaError:
            return []
        return [name for name in names if name.startswith(incomplete)]

    return complete


def complete_session(incomplete: str) -> list[str]:
    """Shell completion of session ids and names, most recent first."""
    from moa_cli.errors import MoaError
    from moa_cli.store import Store

    try:
        with Store.open(write=False) as store:
            sessions = store.list_sessions(limit=50)
    except MoaError:
        return []
    keys = [key for s in sessions for key in (s.name, s.id) if key]
    return [key for key in keys if key.startswith(incomplete)]


PRESET = typer.Option(
    None, "--preset", metavar="NAME", help="A preset from the config file.", autocompletion=_config_names("presets")
)
SHOW_REASONING = typer.Option(False, "--show-reasoning", help="Show the models' reasoning.")
CONTINUE = typer.Option(False, "-c", "--continue", help="Continue the most recent session.")
SESSION = typer.Option(
    None, "--session", metavar="ID_OR_NAME", help="Resume this session, or start one with this name.",
    autocompletion=complete_session,
)
ROLE = typer.Option(
    None, "-r", "--role", metavar="NAME", help="A role from the config file: its system prompt, template, models.",
    autocompletion=_config_names("roles"),
)
VERBOSE = typer.Option(False, "-v", "--verbose", help="Log each HTTP request and response to stderr (keys redacted).")


def _setting_parameters() -> list[inspect.Parameter]:
    parameters = []
    for name, info in flagged():
        assert info.flag is not None
        decls = [info.flag, *([info.short] if info.short else [])]
        kind: Any = list[info.flag_type] if info.many else info.flag_type  # type: ignore[name-defined]
        option = typer.Option(None, *decls, metavar=info.metavar, help=info.help, show_default=False)
        parameters.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=option, annotation=Optional[kind]))
    return parameters


def with_setting_options(command: F) -> F:
    """Give ``command`` an option for every flagged setting; their values arrive in its ``**settings``.

    Typer reads a command's options from its signature, so the signature is rewritten: the
    command's arguments, then the settings' options, then its own options.
    """
    signature = inspect.signature(command)
    own = [p for p in signature.parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]
    arguments = [p for p in own if isinstance(p.default, typer.models.ArgumentInfo)]
    options = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in own if p not in arguments]
    command.__signature__ = signature.replace(parameters=[*arguments, *_setting_parameters(), *options])  # type: ignore[attr-defined]
    return command


def given_settings(values: Mapping[str, Any]) -> dict[str, Any]:
    """The settings given on the command line (None: not given), from a command's ``**settings``."""
    given = {}
    for name, info in flagged():
        value = values.get(name)
        given[name] = (tuple(value) or None) if info.many and value is not None else value
    return given


def use_verbose(verbose: bool) -> None:
    """``-v`` given after the command (``moa ask -v``) does what ``moa -v ask`` does."""
    if verbose:
        from moa_cli.log import enable_verbose

        enable_verbose()
