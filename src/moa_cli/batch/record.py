"""A finished row as its output line: each turn's question, answer, every agent's output, usage, timing."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from moa_cli.batch.rows import Row
from moa_cli.events import MoaResult
from moa_cli.ui.json_output import result_dict


def turn_dict(result: MoaResult) -> dict[str, Any]:
    """One turn as ``moa ask --json`` gives it (question, answer, each agent's output, usage, time),
    with its cost in US$ as ``cost`` (None when a model's price is unknown)."""
    turn = result_dict(result)
    turn["cost"] = turn.pop("cost_usd")
    return turn


def row_record(row: Row, results: Sequence[MoaResult], error: str | None = None) -> dict[str, Any]:
    """The output line of ``row``: ``ok`` when every turn was answered, else ``failed`` with why."""
    turns = [turn_dict(result) for result in results]
    complete = len(results) == len(row.turns) and all(r.status == "complete" for r in results)
    if error is None and not complete:
        error = next((r.error for r in results if r.status != "complete"), None) or "the row did not complete"
    usage = [t["usage"] for t in turns if t["usage"]]
    return {
        "id": row.id,
        "status": "ok" if complete and error is None else "failed",
        "answer": results[-1].answer if results else "",
        "error": None if complete else error,
        "turns": turns,
        "usage": {
            "prompt_tokens": sum(u["prompt_tokens"] for u in usage),
            "completion_tokens": sum(u["completion_tokens"] for u in usage),
            "total_tokens": sum(u["total_tokens"] for u in usage),
        },
        "cost": _total([t["cost"] for t in turns]),
        "elapsed": round(sum(t["elapsed"] or 0.0 for t in turns), 4),
        "input_digest": row.digest,
    }


def _total(costs: list[float | None]) -> float | None:
    """The sum of ``costs``, or None when any is unknown: a partial sum would read as the whole."""
    return None if not costs or any(c is None for c in costs) else round(sum(costs), 6)  # type: ignore[arg-type]
