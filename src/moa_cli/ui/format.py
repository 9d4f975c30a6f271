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
    if result.usage and result.usage.cached_tokens:
        parts.append(f"{result.usage.cached_tokens:,} cached")
    if result.cost is not None:
        parts.append(money(result.cost))
    return " · ".join(parts)


def money(dollars: float) -> str:
    """``$0.0031``; ``$1.25`` from a dollar up."""
    return f"${dollars:.2f}" if dollars >= 1 else f"${dollars:.4f}"


def cost_line(result: MoaResult) -> str | None:
    """``$0.0031 (references $0.0011 + $0.0004 + $0.0008, aggregator $0.0008)``; None with no known price."""
    total = result.cost
    if total is None:
        return None
    refs = " + ".join(money(r.cost) if r.cost is not None else "?" for r in result.references if r.usage)
    parts = [f"references {refs}"] if refs else []
    if result.aggregator is not None and result.aggregator.cost is not None:
        parts.append(f"aggregator {money(result.aggregator.cost)}")
    return f"{money(total)} ({', '.join(parts)})" if parts else money(total)


def run_stats(result: MoaResult) -> str:
    """``3 references · 4.2s · 1,234 tokens`` for a whole run."""
    answered = sum(1 for r in result.references if r.ok)
    parts = [f"{answered}/{len(result.references)} references"]
    if result.elapsed is not None:
        parts.append(f"{result.elapsed:.1f}s")
    usage = result.usage
    if usage.total_tokens:
        cached = f" ({usage.cached_tokens:,} cached)" if usage.cached_tokens else ""
        parts.append(f"{usage.total_tokens:,} tokens{cached}")
    if (cost := cost_line(result)) is not None:
        parts.append(cost)
    return " · ".join(parts)
