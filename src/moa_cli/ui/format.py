"""Short human summaries of agents and runs, shared by every front end."""

from __future__ import annotations

from moa_cli.events import AgentResult, MoaResult


def agent_stats(result: AgentResult) -> str:
    """``1.2s · 312 tokens`` for an agent (tokens counted from usage when the server sent it)."""
    parts = []
    if result.elapsed is not None:
        parts.append(f"{result.elapsed:.1f}s")
    tokens = result.usage.completion_tokens if result.usage else result.streamed
    if tokens:
        parts.append(f"{tokens:,} tokens")
    return " · ".join(parts)


def run_stats(result: MoaResult) -> str:
    """``3 references · 4.2s · 1,234 tokens`` for a whole run."""
    answered = sum(1 for r in result.references if r.ok)
    parts = [f"{answered}/{len(result.references)} references"]
    if result.elapsed is not None:
        parts.append(f"{result.elapsed:.1f}s")
    usage = result.usage
    if usage.total_tokens:
        parts.append(f"{usage.total_tokens:,} tokens")
    return " · ".join(parts)


def plural(count: int, word: str) -> str:
    """``1 turn``, ``2 turns``: a count with its noun, in the right number."""
    return f"{count:,} {word}" if count == 1 else f"{count:,} {word}s"
