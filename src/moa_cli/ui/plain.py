"""Pipe output: stdout carries the aggregated answer and nothing else, byte for byte."""

from __future__ import annotations

from typing import TextIO

from moa_cli.events import Event, MoaResult, TextDelta
from moa_cli.ui.progress import StderrProgress
from moa_cli.ui.sanitize import strip_controls


class PlainRenderer:
    """Streams the aggregator's text to ``out`` as it arrives; progress goes to ``err``."""

    def __init__(self, out: TextIO, err: TextIO, *, quiet: bool = False) -> None:
        self.out = out
        self.progress = StderrProgress(err, quiet=quiet)
        self._last = ""

    def handle(self, event: Event) -> None:
        if isinstance(event, TextDelta) and event.agent.role == "aggregator":
            self.out.write(event.text)
            self.out.flush()
            self._last = event.text
        else:
            self.progress.handle(event)

    def close(self, result: MoaResult) -> None:
        if self._last and not self._last.endswith("\n"):
            self.out.write("\n")
            self.out.flush()
        if result.status != "complete":
            err = self.progress.stream
            for ref in result.references:
                if ref.text:  # no answer to aggregate: the references' answers are what the user gets
                    text = strip_controls(ref.text) if err.isatty() else ref.text
                    err.write(f"--- {ref.agent.label} ({ref.status}) ---\n{text}\n")
            err.flush()
        self.progress.close(result)
