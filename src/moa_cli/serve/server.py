"""Runs the app on uvicorn: checks the bind is safe, binds, says where it serves, stops gracefully.

A stop (SIGTERM, Ctrl-C) lets answers in progress finish for ``grace`` seconds, then stops the
rest (each stream ends with an error event and ``[DONE]``; each turn is stored as interrupted),
and exits 0: stopping is how a server's life normally ends, and service managers (systemd,
Docker, Kubernetes) count exit 0 as a clean stop where 143 reads as a failure unless
configured otherwise. A second signal stops everything at once.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from dataclasses import dataclass
from typing import Final, TextIO

from moa_cli.errors import ExitCode, MoaError, UsageError
from moa_cli.serve.auth import is_loopback

TOKEN_ENV: Final = "MOA_SERVE_TOKEN"


@dataclass(frozen=True, slots=True)
class ServeOptions:
    """``moa serve``'s command line."""

    host: str = "127.0.0.1"
    port: int = 8000
    preset: str | None = None
    token: str | None = None
    grace: float = 5.0


def run_server(options: ServeOptions, err: TextIO | None = None) -> int:
    """Serve until stopped; the exit code. A failure to start raises :class:`MoaError`."""
    err = err or sys.stderr
    token = options.token or os.environ.get(TOKEN_ENV) or None
    if token is None and not is_loopback(options.host):
        raise UsageError(
            f"refusing to serve on {options.host} without a token: anyone who can reach it could spend "
            f"your API keys; set --token or {TOKEN_ENV}, or bind 127.0.0.1"
        )
    from moa_cli.serve.mixture import Mixtures

    mixtures = Mixtures(options.preset, err)
    try:
        sock = _bind(options.host, options.port)
    except OSError as exc:
        raise MoaError(f"cannot listen on {options.host}:{options.port}: {exc.strerror or exc}") from None
    import uvicorn

    from moa_cli.serve.app import MoaApp
    from moa_cli.serve.lifecycle import Server

    app = MoaApp(mixtures, token)
    config = uvicorn.Config(
        app,
        lifespan="off",
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=options.grace + 5,  # a backstop: the app stops its turns at `grace`
    )
    host, port = sock.getsockname()[:2]
    where = f"http://{f'[{host}]' if ':' in host else host}:{port}/v1"

    def announce() -> None:
        err.write(f"moa: serving on {where}\nmoa: models: {', '.join(mixtures.ids())}\n")
        err.flush()

    server = Server(config, app, options.grace, announce, err)

    async def main() -> None:
        try:
            await server.serve(sockets=[sock])
        finally:
            await mixtures.aclose()

    asyncio.run(main())
    return ExitCode.OK


def _bind(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port`` (port 0: any free port), ready for uvicorn to listen on."""
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError:
        sock.close()
        raise
    return sock
