"""uvicorn's server, saying when it accepts connections and draining the app on SIGTERM or Ctrl-C."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
from collections.abc import Callable, Iterator
from typing import TextIO

import uvicorn

from moa_cli.serve.app import MoaApp


class Server(uvicorn.Server):
    """The first signal drains the app (answers get ``grace`` seconds); a second stops all at once."""

    def __init__(
        self, config: uvicorn.Config, app: MoaApp, grace: float, announce: Callable[[], None], err: TextIO
    ) -> None:
        super().__init__(config)
        self.app, self.grace, self.announce, self.err = app, grace, announce, err

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if not self.should_exit:
            self.announce()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """Our handlers instead of uvicorn's, which re-raise the signal once stopped (exit 143)."""
        loop = asyncio.get_running_loop()
        signals = (signal.SIGINT, signal.SIGTERM)
        for signum in signals:
            loop.add_signal_handler(signum, self.stop)
        try:
            yield
        finally:
            for signum in signals:
                loop.remove_signal_handler(signum)

    def stop(self) -> None:
        if self.should_exit:
            self.app.stop_all()
            self.force_exit = True
            return
        if running := len(self.app.turns):
            self.err.write(f"moa: stopping: {running} answer(s) in progress get {self.grace:g}s to finish\n")
            self.err.flush()
        self.app.drain(self.grace)
        self.should_exit = True
