"""The ``moa`` command: a small Typer app whose commands import the engine only when they run."""

from __future__ import annotations

import gc

# Start-up creates the objects of a few hundred modules, and collecting garbage among them finds
# none: 25-35 ms before the first request (measured). Collection resumes once the command's
# modules are loaded (turns.start_collecting); short commands end without it.
gc.disable()

import os  # noqa: E402
import sys  # noqa: E402

import typer  # noqa: E402

from moa_cli import __version__  # noqa: E402
from moa_cli.cli.ask import ask  # noqa: E402
from moa_cli.cli.chat import chat  # noqa: E402
from moa_cli.cli.keys import app as keys_app  # noqa: E402
from moa_cli.cli.models import models  # noqa: E402
from moa_cli.cli.serve import serve  # noqa: E402
from moa_cli.cli.sessions import app as sessions_app  # noqa: E402

app = typer.Typer(
    name="moa",
    help="Mixture-of-Agents answers: several models answer, one aggregator writes the final answer.",
    add_completion=False,
    no_args_is_help=True,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.command(no_args_is_help=False)(ask)
app.command()(chat)
app.add_typer(sessions_app, name="sessions")
app.command()(models)
app.add_typer(keys_app, name="keys")
app.command()(serve)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"moa {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
    verbose: bool = typer.Option(
        False, "-v", "--verbose", help="Log each HTTP request and response to stderr (keys redacted)."
    ),
) -> None:
    """Mixture-of-Agents answers: several models answer, one aggregator writes the final answer."""
    if verbose:
        from moa_cli.log import enable_verbose

        enable_verbose()


def main() -> None:
    """Console-script entry point.

    Once the command is done and its output flushed, the process ends with ``os._exit``: tearing
    down an interpreter holding the SDKs' module graphs takes ~0.1 s and saves nothing a user
    can see. Files and the database are closed by the commands themselves before this.
    """
    try:
        app()
        code = 0
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
        if isinstance(exit_.code, str):
            sys.stderr.write(exit_.code + "\n")
    except OSError as exc:  # stdout on a full disk, a closed terminal...
        sys.stderr.write(f"moa: error: cannot write output: {exc.strerror or exc}\n")
        code = 1
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (BrokenPipeError, ValueError):
            pass
    os._exit(code)
