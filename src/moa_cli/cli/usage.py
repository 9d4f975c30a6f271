"""Click's usage errors (a bad option, a bad value) as one ``moa: error:`` line, like every other error."""

from __future__ import annotations

import re

import typer

_WORDING = (
    (re.compile(r"is not a valid int(eger)?( range)?\b"), "is not a whole number"),
    (re.compile(r"is not a valid float( range)?\b"), "is not a number"),
)


def click_exceptions() -> tuple[type[Exception], type[Exception]]:
    """Click's ``ClickException`` and ``Abort``, from whichever click Typer uses (its own copy, or click)."""
    import sys

    module = sys.modules[typer.BadParameter.__module__]
    return module.ClickException, typer.Abort


def usage_line(exc: Exception) -> str:
    """One line for a usage error: click's message, the command's help, and a hint where one helps."""
    message = exc.format_message()  # type: ignore[attr-defined]
    for pattern, better in _WORDING:
        message = pattern.sub(better, message)
    message = message.rstrip(".")
    message = message[:1].lower() + message[1:]
    ctx = getattr(exc, "ctx", None)
    command = ctx.command_path if ctx is not None else "moa"
    option = getattr(exc, "option_name", "") or ""
    if type(exc).__name__ == "NoSuchOption" and command.endswith(" ask") and not option.startswith("--"):
        message += f"; a question starting with '-' goes after --: {command} -- \"{option} ...\""
    return f"{message} (see '{command} -h')"
