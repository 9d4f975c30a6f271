"""Streamed Markdown without re-parsing the whole answer on every token.

Finished blocks (text up to a blank line outside a code fence) are printed once, for good; only
the unfinished tail is re-rendered by ``Live``. This keeps the cost per refresh bounded and keeps
long answers out of the live region, which cannot scroll.
"""

from __future__ import annotations

from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.markdown import Markdown, TableElement
from rich.segment import Segment
from rich.table import Table
from rich.text import Text

from moa_cli.ui.sanitize import strip_controls

_FENCES = ("```", "~~~")


class _WrappingTable(TableElement):
    """A table whose long words wrap in their cell instead of being cut with "…", drawn without the
    blank top and bottom edges that doubled the space around it."""

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        for table in super().__rich_console__(console, options):
            if isinstance(table, Table):
                table.show_edge = False
                for column in table.columns:
                    column.overflow = "fold"
            yield table


class AnswerMarkdown(Markdown):
    """Rich's Markdown, with tables that keep every character of a long word."""

    elements = {**Markdown.elements, "table_open": _WrappingTable}

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        """Rendered as Rich does, less the blank line it puts before a block that starts with a table."""
        rendered = iter(super().__rich_console__(console, options))
        first = next(rendered, None)
        if first is not None and first != Segment.line():
            yield first
        yield from rendered


class BlockScanner:
    """Where the finished blocks of a growing text end, each character looked at once.

    A block is finished after a blank line outside a code fence, or at a fence's closing line;
    an unfinished line is never part of one. Offsets count from the start of the text fed.
    """

    def __init__(self) -> None:
        self.offset = 0
        """Characters fed so far."""
        self.end = 0
        """Where the last finished block ends."""
        self.in_fence = False
        self.fence_at = 0
        """Where the open fence's first line starts, while ``in_fence``."""
        self._line_at = 0
        self._head = ""
        self._blank = True
        self._previous_blank = False

    def feed(self, text: str) -> None:
        start = 0
        while True:
            newline = text.find("\n", start)
            piece = text[start:] if newline == -1 else text[start:newline]
            if len(self._head) < 32:  # enough of the line to know a fence
                self._head += piece[:32]
            self._blank = self._blank and not piece.strip()
            if newline == -1:
                self.offset += len(text) - start
                return
            self.offset += newline + 1 - start
            self._line_done()
            start = newline + 1

    def _line_done(self) -> None:
        if self._head.strip().startswith(_FENCES):
            self.in_fence = not self.in_fence
            if self.in_fence:
                self.fence_at = self._line_at
            else:
                self.end = self.offset  # a closed fence is a finished block
        if self._blank and not self.in_fence and not self._previous_blank:
            self.end = self.offset
        self._previous_blank = self._blank
        self._line_at, self._head, self._blank = self.offset, "", True

    def drop(self, chars: int) -> None:
        """The first ``chars`` characters were taken away: count from there."""
        self.offset -= chars
        self.end -= chars
        self.fence_at -= chars
        self._line_at -= chars


def tail_source(text: str, scanner: BlockScanner, lines: int, chars: int) -> str:
    """Enough of the unfinished block ``text`` to draw its last ``lines`` lines of ``chars`` characters.

    A long open code block keeps its fence line and its last lines; a long paragraph its end,
    from a line break or a space. So a redraw costs the same at the end of a long block as at
    its start; the whole block is printed once it is finished.
    """
    if scanner.in_fence:
        opener_end = text.find("\n", scanner.fence_at) + 1
        cut = len(text)
        for _ in range(lines):
            cut = text.rfind("\n", opener_end, cut)
            if cut == -1:
                return text
        return text[:opener_end] + text[cut + 1 :]
    if len(text) <= chars:
        return text
    cut = len(text) - chars
    start = text.find("\n", cut)
    if start == -1:
        start = text.find(" ", cut)
    return text[start + 1 :] if start != -1 else text[cut:]


class MarkdownStream:
    """Accumulates text; hands out finished blocks to print and renders the unfinished tail."""

    def __init__(self, code_theme: str = "monokai") -> None:
        self.parts: list[str] = []
        self.committed = 0
        self.code_theme = code_theme
        self._pending: list[str] = []
        self._blocks = BlockScanner()

    def feed(self, text: str) -> None:
        self.parts.append(text)
        self._pending.append(text)
        self._blocks.feed(text)

    def take_finished(self) -> RenderableType | None:
        """The newly finished blocks as one renderable, or None; call after a delta with a newline."""
        end = self._blocks.end
        if not end:
            return None
        pending = "".join(self._pending)
        block, rest = pending[:end], pending[end:]
        self._pending = [rest] if rest else []
        self._blocks.drop(end)
        return self._printable(block)

    def take_rest(self) -> RenderableType | None:
        """Everything not yet printed, at the end of the answer."""
        block = "".join(self._pending)
        self._pending = []
        self._blocks.drop(len(block))
        return self._printable(block) if block.strip() else None

    def _printable(self, block: str) -> RenderableType:
        """``block`` as Markdown, spaced from the block printed before it as one document would be."""
        markdown = AnswerMarkdown(strip_controls(block), code_theme=self.code_theme)
        first, self.committed = not self.committed, self.committed + len(block)
        return markdown if first else Group(Text(), markdown)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        """The unfinished tail; only its last screenful, so a long code block shows its newest lines."""
        pending = "".join(self._pending)
        if not pending.strip():
            return
        room = max(console.height - 4, 3)
        source = tail_source(pending, self._blocks, room, room * options.max_width)
        self._pending = [pending]
        markdown = AnswerMarkdown(strip_controls(source), code_theme=self.code_theme)
        lines = console.render_lines(markdown, options, pad=False)
        for line in lines[-room:]:
            yield from line
            yield Segment.line()
