"""The live references of a layer: a box per reference while they fit the terminal, one-line rows past that.

Boxes are drawn line by line from text wrapped once per change (no rich ``Panel``, which wraps its
body again on every redraw), so a redraw of 16 or 64 references stays cheap.
"""

from __future__ import annotations

import math
import time

from rich.cells import cell_len, set_cell_size
from rich.console import Console, ConsoleOptions, RenderResult
from rich.segment import Segment
from rich.style import Style
from rich.text import Text

from moa_cli.events import AgentResult
from moa_cli.ui.format import agent_stats, plural
from moa_cli.ui.sanitize import strip_controls

STATE_STYLE = {
    "waiting": "dim",
    "queued": "dim",
    "thinking": "magenta",
    "streaming": "cyan",
    "retrying": "yellow",
    "done": "green",
    "failed": "red",
    "timed_out": "red",
    "dropped": "yellow",
    "interrupted": "yellow",
}
STATE_WORD = {"timed_out": "timed out", "dropped": "left out (slow)"}
STATE_MARK = {"done": "✓", "failed": "✗", "timed_out": "✗", "dropped": "✗", "interrupted": "✗"}
FAILED = frozenset({"failed", "timed_out", "dropped"})
MIN_BOX_HEIGHT = 5
COMPACT_WIDTH = 30
"""The width a one-line row asks for; rows get narrower (labels cut) only when they must."""


def tail(parts: list[str], chars: int) -> str:
    """The last ``chars`` characters of ``"".join(parts)``, joining only the parts needed.

    Only the end of a reference's text is wrapped for its panel, so a redraw costs the same at
    the thousandth token as at the first.
    """
    taken: list[str] = []
    size = 0
    for part in reversed(parts):
        taken.append(part)
        size += len(part)
        if size >= chars:
            break
    return "".join(reversed(taken))[-chars:]


_MEASURE = Console(width=200, file=None, force_terminal=False, color_system=None)
"""A console used only to wrap text; it never prints."""


class ReferencePanel:
    """One reference model's live state: a box showing the end of its answer, or one line."""

    def __init__(self, result: AgentResult, show_reasoning: bool) -> None:
        self.result = result
        self.show_reasoning = show_reasoning
        self.note = ""
        self._body: tuple[tuple[object, ...], list[list[Segment]]] | None = None

    @property
    def state(self) -> str:
        status = self.result.status
        if status != "running":
            return status
        if self.result.queued:
            return "queued"
        if self.note:
            return "retrying"
        if self.result.text_parts:
            return "streaming"
        return "thinking" if self.result.reasoning_parts else "waiting"

    def subtitle(self) -> Text:
        state = self.state
        words = [STATE_WORD.get(state, state)]
        if self.result.status == "running":
            words.append(f"{time.perf_counter() - self.result.started_at:.1f}s")
            if self.result.streamed:
                words.append(plural(self.result.streamed, "token"))
        elif stats := agent_stats(self.result):
            words.append(stats)
        return Text(" · ".join(words), style=STATE_STYLE.get(state, ""))

    def body(self, console: Console, width: int, lines: int) -> list[list[Segment]]:
        """The end of the answer as ``lines`` lines of ``width`` cells; rewrapped only on a change."""
        result = self.result
        key = (result.streamed, result.status, self.note, result.queued, width, lines)
        if self._body is None or self._body[0] != key:
            wrapped = self._wrapped_body(width, lines)
            rows = [_cells(console, line, width) for line in wrapped]
            rows += [[Segment(" " * width)]] * (lines - len(rows))
            self._body = (key, rows)
        return self._body[1]

    def _text(self, chars: int) -> Text:
        result = self.result
        if result.error and result.status != "running":
            return Text(strip_controls(result.error), style="red")
        if self.note:
            return Text(self.note, style="yellow")
        text = Text()
        if self.show_reasoning and result.reasoning_parts:
            text.append(strip_controls(tail(result.reasoning_parts, chars)), style="dim italic")
            if result.text_parts:
                text.append("\n")
        text.append(strip_controls(tail(result.text_parts, chars)))
        return text

    def _wrapped_body(self, width: int, lines: int) -> list[Text]:
        text = self._text((lines + 1) * width)  # no more characters than the box can show
        wrapped = list(text.wrap(_MEASURE, max(width, 1)))
        if self.result.error and self.result.status != "running":
            return wrapped[:lines]  # a failure's reason from its start
        return wrapped[-lines:] if lines > 0 else []

    def box(self, console: Console, width: int, height: int) -> list[list[Segment]]:
        """The panel as ``height`` lines of ``width`` cells: title, the answer's end, state."""
        border = Style.parse(STATE_STYLE.get(self.state, "") or "none")
        inner = max(width - 4, 1)
        title = Text(self.result.agent.label, style="bold")
        title.truncate(max(width - 6, 1), overflow="ellipsis")
        top = [Segment("╭─ ", border), *_segments(console, title), Segment(" ", border)]
        top.append(Segment("─" * max(width - 5 - title.cell_len, 0) + "╮", border))
        subtitle = self.subtitle()
        subtitle.truncate(max(width - 6, 1), overflow="ellipsis")
        bottom = [Segment("╰" + "─" * max(width - 5 - subtitle.cell_len, 0) + " ", border)]
        bottom += [*_segments(console, subtitle), Segment(" ─╯", border)]
        left, right = Segment("│ ", border), Segment(" │", border)
        rows = [[left, *line, right] for line in self.body(console, inner, max(height - 2, 0))]
        return [top, *rows, bottom]

    def line(self, console: Console, width: int) -> list[Segment]:
        """The reference in one line of ``width`` cells: mark, label, state, the answer's last words."""
        state = self.state
        style = STATE_STYLE.get(state, "")
        pieces = [(f"{STATE_MARK.get(state, '●')} ", ""), (self.result.agent.label, "bold"), (" ", "")]
        pieces.append((self.subtitle().plain, ""))
        if state in FAILED and self.result.error:
            pieces.append((" " + strip_controls(self.result.error).replace("\n", " "), "red"))
        elif self.result.text_parts:
            pieces.append((" " + strip_controls(tail(self.result.text_parts, width)).replace("\n", " "), "dim"))
        return _fitted(console, pieces, style, width)


def _fitted(console: Console, pieces: list[tuple[str, str]], base: str, width: int) -> list[Segment]:
    """``pieces`` (text, style) in one line of exactly ``width`` cells, as ``Text.truncate`` with an
    ellipsis and padding would give it, with ``base`` over all of it; without building a ``Text``
    (a redraw at 64 references draws 50 of these lines, 8 times a second)."""
    plain = "".join(text for text, _ in pieces)
    cells = cell_len(plain)
    if cells > width:
        plain = set_cell_size(plain, width - 1) + "…"
    segments: list[Segment] = []
    start = 0
    for text, style in pieces:  # a cut piece keeps the ellipsis that replaces its end
        end = min(start + len(text), len(plain))
        if end > start:
            segments.append(Segment(plain[start:end], _style(console, style, base)))
        start = end
    if cells < width:
        segments.append(Segment(" " * (width - cells), _style(console, "", base)))
    return segments


def _style(console: Console, style: str, base: str) -> Style:
    return console.get_style(style) + console.get_style(base) if style else console.get_style(base or "none")


def _cells(console: Console, text: Text, width: int) -> list[Segment]:
    """``text`` (one line) cut or padded to exactly ``width`` cells."""
    text = text.copy()
    text.truncate(width, overflow="ellipsis", pad=True)
    return _segments(console, text)


def _segments(console: Console, text: Text) -> list[Segment]:
    """``text``'s segments, its own style included (``Text.render`` leaves that to its caller)."""
    if text.style:
        text.stylize(text.style, 0, len(text))
        text.style = ""
    return list(text.render(console))


class PanelGrid:
    """The references of one layer in as many columns as the terminal's width allows.

    As many rows of boxes as fit the terminal's height, the rest as one-line rows; when even those
    do not fit, narrower one-line rows, and failures first, so every failure stays in sight.
    """

    def __init__(self, panels: list[ReferencePanel], min_width: int = 38) -> None:
        self.panels = panels
        self.min_width = min_width

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        if not self.panels:
            return
        # Two columns spare: a ^C echoed by the terminal after a full-width last line would wrap,
        # and the live region would then erase one line too few when it is taken down.
        width = options.max_width - 2
        room = max(1, console.height - 4)
        count = len(self.panels)
        columns = max(1, min(count, width // self.min_width))
        per_line = max(1, min(count, width // COMPACT_WIDTH))
        box_rows = math.ceil(count / columns)
        while box_rows and box_rows * MIN_BOX_HEIGHT + math.ceil((count - box_rows * columns) / per_line) > room:
            box_rows -= 1
        boxed = self.panels[: box_rows * columns]
        rest = self.panels[len(boxed) :]
        if box_rows:
            height = max(MIN_BOX_HEIGHT, min(12, (room - math.ceil(len(rest) / per_line)) // box_rows))
            yield from _side_by_side([p.box(console, width // columns, height) for p in boxed], columns)
        if rest:
            yield from self._lines(console, rest, width, room - box_rows * MIN_BOX_HEIGHT, per_line)

    @staticmethod
    def _lines(
        console: Console, panels: list[ReferencePanel], width: int, room: int, per_line: int
    ) -> RenderResult:
        """``panels`` as one-line rows in ``room`` lines: narrower cells if need be, failures first."""
        per_line = max(per_line, math.ceil(len(panels) / max(room, 1)))
        if len(panels) > room * per_line:
            panels = sorted(panels, key=lambda p: p.state not in FAILED)[: room * per_line]
        cell = width // per_line
        yield from _side_by_side([[p.line(console, cell)] for p in panels], per_line)


def _side_by_side(cells: list[list[list[Segment]]], columns: int) -> RenderResult:
    """Cells of equal height, ``columns`` to a row, as segments."""
    newline = Segment.line()
    for start in range(0, len(cells), columns):
        row = cells[start : start + columns]
        for index in range(len(row[0])):
            for cell in row:
                yield from cell[index]
            yield newline
