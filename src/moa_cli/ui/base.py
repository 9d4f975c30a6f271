"""What every front end implements: it is fed events and told how the run ended."""

from __future__ import annotations

from typing import Protocol

from moa_cli.events import Event, MoaResult


class Renderer(Protocol):
    """Consumes one run's events. ``close`` is called once, even after Ctrl-C or an error."""

    def handle(self, event: Event) -> None: ...

    def close(self, result: MoaResult) -> None: ...
