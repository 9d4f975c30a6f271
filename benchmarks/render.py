"""Render CPU per token over a long answer: does the 20,000th token cost what the 1,000th did?

    python benchmarks/render.py [--tokens 20000] [--kind code|prose] [--runs 3]

In process, with the terminal front end's own parts: every token is fed to the ``MarkdownStream``
as ``LiveRenderer.handle`` does (finished blocks printed on a newline), and the unfinished tail is
rendered every 125 tokens, as ``Live`` redraws it 8 times a second at 1,000 tokens/s. The console
is a 40x120 terminal writing to memory. Prints the CPU per 1,000 tokens in the first and the last
tenth of the answer (the block's closing token, which prints it whole once, left out), and their
ratio (goal: <= 1.2).
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import time

from rich.console import Console

from moa_cli.ui.markdown_stream import MarkdownStream

REFRESH_EVERY = 125


def answer_tokens(tokens: int, kind: str) -> list[str]:
    """One code block (or one paragraph) of ``tokens`` tokens, a token being a word and its space."""
    if kind == "prose":
        return [*("and more words " if i % 3 else "again " for i in range(tokens - 1)), "\n\n"]
    out = ["```python\n"]
    for i in range(tokens - 2):
        out.append(f"value_{i} = compute(value_{i - 1})\n" if i % 4 == 3 else f"x{i} ")
    out.append("\n```\n")
    return out


def cpu_per_tenth(tokens: list[str]) -> list[float]:
    """CPU seconds spent on each tenth of ``tokens``."""
    console = Console(file=io.StringIO(), width=120, height=40, force_terminal=True, color_system="truecolor")
    stream = MarkdownStream()
    tenth = (len(tokens) - 1) // 10
    spent: list[float] = []
    started = time.process_time()
    for index, token in enumerate(tokens, 1):
        if index == len(tokens):
            break  # the block's end: printed once, whole, as it is on a terminal; not a streaming cost
        stream.feed(token)
        if "\n" in token and (block := stream.take_finished()) is not None:
            console.print(block)
        if index % REFRESH_EVERY == 0:
            console.print(stream)
            console.file = io.StringIO()  # what was written is gone, as on a terminal
        if index % tenth == 0:
            now = time.process_time()
            spent.append(now - started)
            started = now
    return spent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tokens", type=int, default=20000)
    parser.add_argument("--kind", choices=["code", "prose"], default="code")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    tokens = answer_tokens(args.tokens, args.kind)
    runs = [cpu_per_tenth(tokens) for _ in range(args.runs)]
    per_k = 1000 / ((len(tokens) - 1) // 10)
    first = statistics.median(r[0] for r in runs) * per_k
    last = statistics.median(r[9] for r in runs) * per_k
    ratio = last / first
    print(f"{args.kind}, {args.tokens:,} tokens: first tenth {first * 1000:.1f} ms / 1k tokens, "
          f"last tenth {last * 1000:.1f} ms / 1k tokens, ratio {ratio:.2f} ({'pass' if ratio <= 1.2 else 'MISS'} <= 1.2)")
    return 0 if ratio <= 1.2 else 1


if __name__ == "__main__":
    sys.exit(main())
