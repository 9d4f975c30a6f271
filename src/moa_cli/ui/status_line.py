"""One line at the bottom of a terminal, redrawn in place and erased before anything else is written."""

from __future__ import annotations

import math
import os
import unicodedata
from typing import TextIO

from moa_cli.ui.terminals import columns, rewraps

ERASE = "\r\x1b[K"
"""Back to the first column, then erase to the end of the line."""


class StatusLine:
    """A line redrawn on ``stream`` (a terminal); it never wraps, so ``\\r`` reaches its start.

    Unless the window gets narrower and the terminal rewraps it: then the rows it takes now are erased.
    """

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.rewraps = rewraps(os.environ)
        self._cells = 0
        """How many cells wide the line shown is; 0 when none is."""

    @property
    def shown(self) -> bool:
        return self._cells > 0

    def show(self, text: str) -> None:
        line = fit(text, columns(self.stream) - 1)
        self.stream.write(self._erase() + line)
        self.stream.flush()
        self._cells = max(1, sum(map(_cells, line)))

    def clear(self) -> None:
        if self.shown:
            self.stream.write(self._erase())
            self.stream.flush()
            self._cells = 0

    def _erase(self) -> str:
        rows = math.ceil(self._cells / columns(self.stream)) if self.rewraps and self._cells else 1
        return ERASE + "\x1b[A\x1b[K" * (rows - 1)


def fit(text: str, width: int) -> str:
    """``text`` cut to ``width`` terminal cells (wide characters take two), ``…`` marking a cut."""
    if sum(map(_cells, text)) <= width:
        return text
    kept, used = [], 0
    for char in text:
        used += _cells(char)
        if used > width - 1:
            break
        kept.append(char)
    return "".join(kept) + "…"


def _cells(char: str) -> int:
    if unicodedata.combining(char):
        return 0
    return 2 if unicodedata.east_asian_width(char) in "WF" else 1
