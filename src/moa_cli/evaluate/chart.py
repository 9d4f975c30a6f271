"""A small SVG bar chart of win rates with their intervals, written by hand (no plotting library)."""

from __future__ import annotations

from collections.abc import Sequence
from xml.sax.saxutils import escape

from moa_cli.evaluate.stats import SystemStats

WIDTH, BAR, GAP, LEFT, RIGHT, TOP = 680, 22, 14, 170, 70, 40


def svg(systems: Sequence[SystemStats], title: str) -> str:
    """Horizontal bars (win rate vs the baseline), whiskers for the 95% interval, a line at 50%."""
    judged = [s for s in systems if s.win_rate is not None and s.interval is not None]
    plot = WIDTH - LEFT - RIGHT
    height = TOP + len(judged) * (BAR + GAP) + 40

    def x(rate: float) -> float:
        return LEFT + plot * rate

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" font-family="sans-serif" font-size="12">',
        '<rect width="100%" height="100%" fill="white"/>',
        f'<text x="{LEFT}" y="20" font-size="14">{escape(title)}</text>',
    ]
    for tick in (0.0, 0.25, 0.5, 0.75, 1.0):
        dash = "" if tick == 0.5 else ' stroke-dasharray="2,3"'
        bottom = height - 28
        parts.append(f'<line x1="{x(tick):.1f}" y1="{TOP - 6}" x2="{x(tick):.1f}" y2="{bottom}" stroke="#999"{dash}/>')
        parts.append(f'<text x="{x(tick):.1f}" y="{bottom + 16}" text-anchor="middle">{tick:.0%}</text>')
    for i, s in enumerate(judged):
        assert s.win_rate is not None and s.interval is not None
        y = TOP + i * (BAR + GAP)
        low, high = s.interval
        middle = y + BAR / 2
        parts += [
            f'<text x="{LEFT - 8}" y="{middle + 4:.1f}" text-anchor="end">{escape(s.name)}</text>',
            f'<rect x="{LEFT}" y="{y}" width="{plot * s.win_rate:.1f}" height="{BAR}" fill="#4c78a8"/>',
            f'<line x1="{x(low):.1f}" y1="{middle:.1f}" x2="{x(high):.1f}" y2="{middle:.1f}" stroke="black" stroke-width="1.5"/>',
            f'<line x1="{x(low):.1f}" y1="{y + 4}" x2="{x(low):.1f}" y2="{y + BAR - 4}" stroke="black" stroke-width="1.5"/>',
            f'<line x1="{x(high):.1f}" y1="{y + 4}" x2="{x(high):.1f}" y2="{y + BAR - 4}" stroke="black" stroke-width="1.5"/>',
            f'<text x="{x(high) + 6:.1f}" y="{middle + 4:.1f}">{s.win_rate:.1%}</text>',
        ]
    parts.append("</svg>")
    return "\n".join(parts) + "\n"
