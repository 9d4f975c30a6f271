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


def split_finished(text: str) -> int:
    """Where the finished blocks of ``text`` end: after its last blank line outside a fence, or 0."""
    end = 0
    in_fence = False
    offset = 0
    previous_blank = False
    for line in text.splitlines(keepends=True):
        offset += len(line)
        if not line.endswith("\n"):
            break  # an unfinished line is never committed
        stripped = line.strip()
        if stripped.startswith(_FENCES):
            in_fence = not in_fence
            if not in_fence:
                end = offset  # a closed fence is a finished block
        blank = not stripped
        if blank and not in_fence and not previous_blank:
            end = offset
        previous_blank = blank
    return end


class MarkdownStream:
    """Accumulates text; hands out finished blocks to print and renders the unfinished tail."""

    def __init__(self, code_theme: str = "monokai") -> None:
        self.parts: list[str] = []
        self.committed = 0
        self.code_theme = code_theme
        self._pending = ""

    def feed(self, text: str) -> None:
        self.parts.append(text)
        self._pending += text

    def take_finished(self) -> RenderableType | None:
        """The newly finished blocks as one renderable, or None; call after a delta with a newline."""
        end = split_finished(self._pending)
        if not end:
            return None
        block, self._pending = self._pending[:end], self._pending[end:]
        return self._printable(block)

    def take_rest(self) -> RenderableType | None:
        """Everything not yet printed, at the end of the answer."""
        block, self._pending = self._pending, ""
        return self._printable(block) if block.strip() else None

    def _printable(self, block: str) -> RenderableType:
        """``block`` as Markdown, spaced from the block printed before it as one document would be."""
        markdown = AnswerMarkdown(strip_controls(block), code_theme=self.code_theme)
        first, self.committed = not self.committed, self.committed + len(block)
        return markdown if first else Group(Text(), markdown)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        """The unfinished tail; only its last screenful, so a long code block shows its newest lines."""
        if not self._pending.strip():
            return
        markdown = AnswerMarkdown(strip_controls(self._pending), code_theme=self.code_theme)
        lines = console.render_lines(markdown, options, pad=False)
        room = max(console.height - 4, 3)
        for line in lines[-room:]:
            yield from line
            yield Segment.line()
