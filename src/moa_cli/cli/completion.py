"""``moa completion SHELL``: the script that makes the shell complete moa's commands and options.

Completion itself runs inside ``moa`` when the shell sets ``_MOA_COMPLETE`` (Typer answers it
before any command runs); nothing here is imported by other commands, so ``moa --help`` and
every other command start as fast as before.
"""

from __future__ import annotations

import typer

SHELLS = ("bash", "zsh", "fish")
COMPLETE_VAR = "_MOA_COMPLETE"


def completion(
    shell: str = typer.Argument(..., metavar="SHELL", help="bash, zsh or fish."),
) -> None:
    """Print the shell completion script for SHELL.

    Install it once:

      bash:  moa completion bash > ~/.local/share/bash-completion/completions/moa

      zsh:   moa completion zsh > "${fpath[1]}/_moa"     (then start a new shell)

      fish:  moa completion fish > ~/.config/fish/completions/moa.fish

    Or load it in the current shell only: eval "$(moa completion bash)".
    """
    from moa_cli.errors import UsageError

    if shell not in SHELLS:
        raise UsageError(f"moa completion takes one of {', '.join(SHELLS)}, not {shell!r}")
    from typer._completion_shared import get_completion_script

    typer.echo(get_completion_script(prog_name="moa", complete_var=COMPLETE_VAR, shell=shell))


def prepare_completing() -> None:
    """Teach Typer the shells before it answers a completion request (the app is built without
    ``--install-completion``, which would register them on every start)."""
    from typer._completion_classes import completion_init

    completion_init()
