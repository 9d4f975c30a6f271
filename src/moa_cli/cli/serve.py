"""``moa serve``: the mixture as an OpenAI-compatible endpoint. Options only; the work is in ``moa_cli.serve``."""

from __future__ import annotations

from typing import Optional

import typer

from moa_cli.cli import options as opt


def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on; any but loopback needs a token."),
    port: int = typer.Option(8000, "--port", min=0, max=65535, help="Port (0: any free port)."),
    preset: Optional[str] = opt.PRESET,
    token: Optional[str] = typer.Option(
        None, "--token", metavar="TOKEN", help="Require 'Authorization: Bearer TOKEN' (or set MOA_SERVE_TOKEN)."
    ),
    grace: float = typer.Option(5.0, "--grace", min=0.0, metavar="SECONDS", help="On SIGTERM, time answers get to finish."),
) -> None:
    """Serve Mixture-of-Agents as an OpenAI-compatible API (/v1/chat/completions, /v1/models).

    Model "moa" is the configured mixture; "moa/NAME" is the preset NAME.

    Examples:

      moa serve                                  # http://127.0.0.1:8000/v1

      MOA_SERVE_TOKEN=secret moa serve --host 0.0.0.0 --port 8080
    """
    from moa_cli.cli.runtime import start_collecting
    from moa_cli.serve.server import ServeOptions, run_server

    start_collecting()  # a server runs long: garbage is collected from the start
    raise typer.Exit(run_server(ServeOptions(host=host, port=port, preset=preset, token=token, grace=grace)))
