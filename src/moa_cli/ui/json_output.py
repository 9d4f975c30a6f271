"""``--json``: one object with the question, every agent's output, the answer and the totals."""

from __future__ import annotations

from typing import Any, TextIO

from moa_cli.events import AgentResult, Event, MoaResult, Usage
from moa_cli.ui.format import FALLBACK_RULE, best_reference
from moa_cli.ui.progress import StderrProgress
from moa_cli.ui.sanitize import json_text


def usage_dict(usage: Usage | None) -> dict[str, Any] | None:
    if usage is None:
        return None
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
        "cached_tokens": usage.cached_tokens,
        "queue_time": usage.queue_time,
        "prompt_time": usage.prompt_time,
        "completion_time": usage.completion_time,
    }


def agent_dict(result: AgentResult, run_start: float) -> dict[str, Any]:
    def rel(t: float | None) -> float | None:
        return None if t is None else round(t - run_start, 4)

    return {
        "model": result.agent.model,
        "role": result.agent.role,
        "layer": result.agent.layer,
        "sample": result.agent.sample,
        "status": result.status,
        "answer": result.text,
        "reasoning": result.reasoning or None,
        "error": result.error,
        "error_kind": result.error_kind,
        "finish_reason": result.finish_reason,
        "warning": result.warning,
        "usage": usage_dict(result.usage),
        "cost_usd": result.cost,
        "timing": {
            "started": rel(result.started_at),
            "first_token": rel(result.first_token_at),
            "finished": rel(result.finished_at),
            "elapsed": None if result.elapsed is None else round(result.elapsed, 4),
        },
    }


def result_dict(result: MoaResult) -> dict[str, Any]:
    """The JSON-ready form of a run, partial or whole."""
    return {
        "question": result.question,
        "status": result.status,
        "answer": result.answer,
        "error": result.error,
        "references": [agent_dict(r, result.started_at) for r in result.references],
        "aggregator": None if result.aggregator is None else agent_dict(result.aggregator, result.started_at),
        "fallback": _fallback(result),
        "usage": usage_dict(result.reported_usage),
        "cost_usd": result.cost,
        "elapsed": None if result.elapsed is None else round(result.elapsed, 4),
    }


def _fallback(result: MoaResult) -> dict[str, Any] | None:
    """When the aggregator failed: which reference answer stands in for it, and how it was chosen."""
    best = best_reference(result)
    if best is None:
        return None
    return {"reference": result.references.index(best), "model": best.agent.model, "answer": best.text,
            "chosen_by": FALLBACK_RULE}


class JsonRenderer:
    """Prints the whole run as one JSON object when it ends, however it ends."""

    def __init__(self, out: TextIO, err: TextIO, *, quiet: bool = False) -> None:
        self.out = out
        self.progress = StderrProgress(err, quiet=quiet)

    def handle(self, event: Event) -> None:
        self.progress.handle(event)

    def close(self, result: MoaResult) -> None:
        self.progress.stop()
        self.out.write(json_text(result_dict(result)) + "\n")
        self.out.flush()
