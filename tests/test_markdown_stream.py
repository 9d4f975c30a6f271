"""The streamed answer: finished blocks printed once, whole; the unfinished one drawn from its end."""

from __future__ import annotations

import io

from rich.console import Console

from moa_cli.ui.markdown_stream import MarkdownStream


def draw(renderable: object, height: int = 12) -> str:
    console = Console(file=io.StringIO(), width=60, height=height, color_system=None)
    console.print(renderable)
    return console.file.getvalue()  # type: ignore[attr-defined]


def feed_all(stream: MarkdownStream, text: str) -> list[str]:
    """Feed ``text`` a word at a time, as the live renderer does; what it printed on the way."""
    printed = []
    for token in text.split(" "):
        stream.feed(token + " ")
        if "\n" in token and (block := stream.take_finished()) is not None:
            printed.append(draw(block, height=10_000))
    return printed


def test_a_long_open_code_block_is_drawn_from_its_fence_and_newest_lines() -> None:
    stream = MarkdownStream()
    code = "".join(f"line_{i} = {i}\n" for i in range(2000))
    printed = feed_all(stream, "Intro text.\n\n```python\n" + code)
    assert "Intro text." in "".join(printed)
    shown = draw(stream)
    assert "line_1999 = 1999" in shown and "line_1995 = 1995" in shown
    assert "line_5 = 5" not in shown


def test_a_long_paragraph_is_drawn_from_its_end() -> None:
    stream = MarkdownStream()
    feed_all(stream, " ".join(f"w{i}" for i in range(5000)))
    shown = draw(stream)
    assert "w4999" in shown and "w10 " not in shown


def test_finished_blocks_are_printed_whole_once_and_the_rest_at_the_end() -> None:
    stream = MarkdownStream()
    code = "".join(f"line_{i} = {i}\n" for i in range(300))
    printed = feed_all(stream, "First paragraph.\n\n```python\n" + code + "```\n\nLast words")
    rest = stream.take_rest()
    assert rest is not None
    whole = "".join(printed) + draw(rest, height=10_000)
    assert whole.count("First paragraph.") == 1 and "Last words" in whole
    assert all(f"line_{i} = {i}" in whole for i in range(300))
