"""Rich's live region, erased whole after the terminal got narrower and rewrapped it.

Before each redraw, Rich's ``Live`` moves the cursor up by as many lines as it drew last time.
Most terminals (tmux, kitty, iTerm2, VTE, Konsole, Windows Terminal) rewrap their lines when the
window gets narrower: a line drawn ``w`` cells wide then takes ``ceil(w / columns)`` rows, so the
move falls short and the top of the old panels stays on the screen. :class:`ReflowingRender`
counts the rows the last drawing takes now and erases them all. On a terminal known not to
rewrap (xterm, rxvt, st, the Linux console), a narrower window cuts lines instead, and Rich's
count is right: it is kept there, so as not to erase lines above the region.

One case is beyond repair: a drawing written just before the window changed but shown by the
terminal only after it rewrapped the screen (no terminal says when it did). The drawings after
it are right again.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping

from rich.console import Console, ConsoleOptions, RenderResult
from rich.control import Control
from rich.live import Live
from rich.live_render import LiveRender
from rich.segment import ControlType

from moa_cli.ui.terminals import rewraps


class ReflowingRender(LiveRender):
    """Rich's live region, which remembers how wide each line it drew was, and at what width."""

    def __init__(self, live: Live, console: Console) -> None:
        super().__init__(live.get_renderable(), vertical_overflow=live.vertical_overflow)
        self.console = console
        self._drawn: list[int] = []
        self._drawn_at = 0

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        widths = [0]
        for segment in super().__rich_console__(console, options):
            if segment.text == "\n" and not segment.style:
                widths.append(0)
            elif not segment.control:
                widths[-1] += segment.cell_length
            yield segment
        self._drawn, self._drawn_at = widths, options.size.width

    def position_cursor(self) -> Control:
        columns = self.console.size.width
        if self._shape is None or columns >= self._drawn_at:
            return super().position_cursor()
        rows = sum(max(1, math.ceil(width / columns)) for width in self._drawn)
        return Control(
            ControlType.CARRIAGE_RETURN,
            (ControlType.ERASE_IN_LINE, 2),
            *(((ControlType.CURSOR_UP, 1), (ControlType.ERASE_IN_LINE, 2)) * (rows - 1)),
        )


def erase_rewrapped(live: Live, console: Console, env: Mapping[str, str] = os.environ) -> None:
    """Makes ``live`` erase its whole region after the terminal rewrapped it (see the module's docstring)."""
    if rewraps(env):
        live._live_render = ReflowingRender(live, console)
