"""One line at the bottom of a terminal, redrawn in place and erased before anything else is written."""

from __future__ import annotations

import os
import unicodedata
from typing import TextIO

ERASE = "\r\x1b[K"
"""Back to the first column, then erase to the end of the line."""
FALLBACK_COLUMNS = 80


class StatusLine:
    """A line redrawn on ``stream`` (a terminal); it never wraps, so ``\\r`` always reaches its start."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.shown = False

    def show(self, text: str) -> None:
        self.stream.write(ERASE + fit(text, self._columns() - 1))
        self.stream.flush()
        self.shown = True

    def clear(self) -> None:
        if self.shown:
            self.stream.write(ERASE)
            self.stream.flush()
            self.shown = False

    def _columns(self) -> int:
        try:
            return os.get_terminal_size(self.stream.fileno()).columns or FALLBACK_COLUMNS
        except (OSError, ValueError):
            return FALLBACK_COLUMNS


def fit(text: str, columns: int) -> str:
    """``text`` cut to ``columns`` terminal cells (wide characters take two), ``…`` marking a cut."""
    if sum(map(_cells, text)) <= columns:
        return text
    kept, used = [], 0
    for char in text:
        used += _cells(char)
        if used > columns - 1:
            break
        kept.append(char)
    return "".join(kept) + "…"


def _cells(char: str) -> int:
    if unicodedata.combining(char):
        return 0
    return 2 if unicodedata.east_asian_width(char) in "WF" else 1
