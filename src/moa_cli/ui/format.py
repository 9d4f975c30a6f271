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
        parts.append(plural(tokens, "token"))
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


def plural(count: int, word: str) -> str:
    """``1 turn``, ``2 turns``: a count with its noun, in the right number."""
    return f"{count:,} {word}" if count == 1 else f"{count:,} {word}s"


FALLBACK_RULE = "the longest complete reference answer"
"""How :func:`best_reference` chooses: no judge is left when the aggregator failed, and the
longest complete answer is the one most likely to cover the question (a short one is more
often a refusal or a stub)."""


def unshown_answer(result: MoaResult, shown: int) -> str:
    """The aggregator's text past the first ``shown`` characters a front end has been handed.

    A run stopped (Ctrl-C, SIGHUP) while pieces of the answer were still on their way from the
    aggregator's task to the front end: they are in the result, and stored, so they are shown too.
    """
    aggregator = result.aggregator
    return aggregator.text[shown:] if aggregator is not None else ""


def best_reference(result: MoaResult) -> AgentResult | None:
    """The answer to show when a run failed after its references answered: the longest complete one
    of the last layer (the most refined); None when the aggregator did not fail or none completed."""
    if result.status != "failed" or not result.references:
        return None
    last_layer = max(ref.agent.layer for ref in result.references)
    done = [ref for ref in result.references if ref.ok and ref.text.strip() and ref.agent.layer == last_layer]
    return max(done, key=lambda ref: len(ref.text), default=None)


def fallback_note(best: AgentResult, result: MoaResult) -> str:
    """``the aggregator failed; best reference answer: MODEL (the longest complete of 3)``."""
    answered = sum(1 for ref in result.references if ref.ok)
    return f"the aggregator failed; best reference answer: {best.agent.label} (the longest complete of {answered})"
