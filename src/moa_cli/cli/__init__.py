"""The ``moa`` command. Importing this package does nothing; :func:`main` builds and runs the app."""

from __future__ import annotations

import os
import sys


def main() -> None:
    """Console-script entry point: every :class:`~moa_cli.errors.MoaError` becomes one line and its exit code.

    Once the command is done and its output flushed, the process ends with ``os._exit``: tearing
    down an interpreter holding the SDKs' module graphs takes ~0.1 s and saves nothing a user
    can see. Files and the database are closed by the commands themselves before this.
    """
    from moa_cli.ui.stderr import guard_stderr, guard_stdout

    guard_stderr()  # before anything opens a file: a closed fd 1 or 2 must not become the database
    guard_stdout()
    if sys.argv[1:] == ["--version"]:  # needs no command line parser: 0.1 s sooner than through typer
        _exit(_print_version())
    from moa_cli.cli.runtime import pause_collecting

    pause_collecting()
    if os.environ.get("_MOA_COMPLETE"):  # the shell asks for completions (moa completion SHELL)
        from moa_cli.cli.completion import prepare_completing

        prepare_completing()
    from moa_cli.cli.app import app
    from moa_cli.cli.output import error
    from moa_cli.errors import MoaError

    from moa_cli.cli.usage import click_exceptions, usage_line

    click_error, abort = click_exceptions()
    try:
        returned = app(prog_name="moa", standalone_mode=False)
        code = returned if isinstance(returned, int) else 0
    except click_error as exc:  # a bad option or value: one line, as every error is
        if type(exc).__name__ == "NoArgsIsHelpError":
            exc.show()  # plain 'moa': the help
        else:
            error(usage_line(exc))
        code = exc.exit_code  # type: ignore[attr-defined]
    except abort:
        code = 1
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
        if isinstance(exit_.code, str):
            sys.stderr.write(exit_.code + "\n")
    except MoaError as exc:
        error(exc)
        code = exc.exit_code
    except OSError as exc:  # stdout on a full disk, a closed terminal...
        error(f"cannot write output: {exc.strerror or exc}")
        code = 1
    _exit(code)


def _print_version() -> int:
    from moa_cli import __version__

    try:
        print(f"moa {__version__}", flush=True)
    except BrokenPipeError:  # `moa --version | head -0`: nobody to tell
        return 1
    except OSError as exc:
        from moa_cli.cli.output import error

        error(f"cannot write output: {exc.strerror or exc}")
        return 1
    return 0


def _exit(code: int) -> None:
    """Flush what was written and end the process at once (see :func:`main`)."""
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)
