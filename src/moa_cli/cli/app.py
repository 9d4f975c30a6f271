"""The Typer app: its commands import the engine only when they run."""

from __future__ import annotations

import typer

from moa_cli import __version__
from moa_cli.cli.ask import ask
from moa_cli.cli.batch import batch
from moa_cli.cli.chat import chat
from moa_cli.cli.completion import completion
from moa_cli.cli.eval import eval_
from moa_cli.cli.keys import app as keys_app
from moa_cli.cli.models import models
from moa_cli.cli.serve import serve
from moa_cli.cli.sessions import app as sessions_app

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
app.command()(batch)
app.command(name="eval")(eval_)
app.command()(completion)


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
