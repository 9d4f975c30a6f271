"""Pipe output: stdout carries the aggregated answer and nothing else, byte for byte."""

from __future__ import annotations

from typing import TextIO

from moa_cli.events import Event, MoaResult, ReasoningDelta, TextDelta
from moa_cli.redact import scrub
from moa_cli.ui.format import best_reference, fallback_note, unshown_answer
from moa_cli.ui.progress import StderrProgress
from moa_cli.ui.sanitize import strip_controls


class PlainRenderer:
    """Streams the aggregator's text to ``out`` as it arrives; progress (and, when asked, the
    aggregator's reasoning) goes to ``err``."""

    def __init__(self, out: TextIO, err: TextIO, *, quiet: bool = False, show_reasoning: bool = False) -> None:
        self.out = out
        self.err = err
        self.progress = StderrProgress(err, quiet=quiet)
        self.show_reasoning = show_reasoning
        self._last = ""
        self._shown = 0
        """Characters of the answer written so far."""
        self._output_gone = False

    def handle(self, event: Event) -> None:
        if isinstance(event, TextDelta) and event.agent.role == "aggregator":
            self._write(event.text)
        elif isinstance(event, ReasoningDelta):
            if self.show_reasoning and event.agent.role == "aggregator":
                self.progress.write(self._for_err(event.text))
        else:
            self.progress.handle(event)

    def _write(self, text: str) -> None:
        try:
            self.out.write(text)
            self.out.flush()
        except BrokenPipeError:
            self._output_gone = True  # the reader left (`| head`): nothing more to say
            raise
        self._shown += len(text)
        self._last = text

    def _for_err(self, text: str) -> str:
        return strip_controls(text) if self.err.isatty() else scrub(text)

    def close(self, result: MoaResult) -> None:
        if self._output_gone:
            return
        if rest := unshown_answer(result, self._shown):
            self._write(rest)  # stdout has all that arrived, as the store does
        if self._last and not self._last.endswith("\n"):
            self.out.write("\n")
            self.out.flush()
        if (best := best_reference(result)) is not None:
            # On stderr, not stdout: stdout carries the aggregated answer only, so a script that
            # saves it (`moa ask q > answer.md`) never takes one model's unreviewed answer for the
            # mixture's. Exit status 1 says it failed; a person still reads the answer on stderr.
            self.progress.stop()
            self.progress.write(f"moa: {fallback_note(best, result)}; all answers: moa sessions show --refs\n")
            self.progress.write(self._for_err(best.text.rstrip("\n")) + "\n")
        self.progress.close(result)
