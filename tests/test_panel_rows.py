"""One-line reference rows (past the boxes that fit) are laid out without rich's ``Text``, yet cut,
padded and styled cell for cell as ``Text.truncate(overflow="ellipsis", pad=True)`` lays them out."""

from __future__ import annotations

import io

import pytest
from rich.console import Console
from rich.segment import Segment
from rich.text import Text

from moa_cli.events import Agent, AgentResult
from moa_cli.ui.format import agent_stats
from moa_cli.ui.panels import ReferencePanel, _fitted

CONSOLE = Console(file=io.StringIO(), force_terminal=True, width=120)


def by_rich(pieces: list[tuple[str, str]], base: str, width: int) -> list[Segment]:
    text = Text(style=base)
    for piece, style in pieces:
        text.append(piece, style=style or None)
    text.truncate(width, overflow="ellipsis", pad=True)
    text.stylize(base, 0, len(text))
    text.style = ""
    return list(text.render(CONSOLE))


def cells(segments: list[Segment]) -> list[tuple[str, str]]:
    return [(char, str(segment.style or "")) for segment in segments for char in segment.text]


@pytest.mark.parametrize("width", [1, 2, 5, 9, 12, 16, 30, 60])
@pytest.mark.parametrize(
    "pieces",
    [
        [("● ", ""), ("ref/1", "bold"), (" ", ""), ("streaming · 1.2s · 60 tokens", ""), (" the sky is blue", "dim")],
        [("✗ ", ""), ("中文模型", "bold"), (" ", ""), ("failed · 0.4s", ""), (" 服务器错误 500", "red")],
        [("✓ ", ""), ("", "bold"), (" ", ""), ("done", "")],
    ],
)
def test_a_row_is_cut_padded_and_styled_as_rich_would(pieces: list[tuple[str, str]], width: int) -> None:
    assert cells(_fitted(CONSOLE, pieces, "cyan", width)) == cells(by_rich(pieces, "cyan", width))


def test_a_failed_row_shows_its_reason_and_fills_its_width() -> None:
    agent = Agent("reference", 1, 0, "ref/slow", 0)
    result = AgentResult(agent, started_at=0.0, status="failed", error="ref/slow: timed out", finished_at=1.0)
    row = ReferencePanel(result, show_reasoning=False).line(CONSOLE, 50)
    line = "".join(segment.text for segment in row)
    assert line.startswith("✗ ref/slow failed") and "timed out" in line and len(line) == 50


def test_one_token_is_one_token_in_a_row_and_in_the_stats() -> None:
    result = AgentResult(Agent("reference", 1, 0, "ref/a", 0), started_at=0.0)
    result.text_parts.append("The")
    result.streamed = 1
    row = "".join(segment.text for segment in ReferencePanel(result, show_reasoning=False).line(CONSOLE, 60))
    assert " · 1 token The" in row
    result.status, result.finished_at = "done", 1.0
    assert agent_stats(result) == "1.0s · 1 token"
