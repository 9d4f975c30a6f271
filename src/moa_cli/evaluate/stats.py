"""The numbers of a comparison: win rate with a bootstrap interval, lengths, latencies, tokens."""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from moa_cli.evaluate.judge import Outcome

SCORE = {"win": 1.0, "tie": 0.5, "loss": 0.0}
BOOTSTRAP_SAMPLES = 2000


@dataclass(frozen=True, slots=True)
class SystemStats:
    """One system's row of the report; the baseline's win figures are None."""

    name: str
    spec: str
    rows: int
    win_rate: float | None
    interval: tuple[float, float] | None
    wins: int
    losses: int
    ties: int
    mean_length: float
    latency_p50: float | None
    latency_p95: float | None
    tokens: int
    cost: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "spec": self.spec,
            "rows": self.rows,
            "win_rate": _round(self.win_rate),
            "interval": None if self.interval is None else [_round(x) for x in self.interval],
            "wins": self.wins,
            "losses": self.losses,
            "ties": self.ties,
            "mean_answer_length": round(self.mean_length, 1),
            "latency_p50": _round(self.latency_p50),
            "latency_p95": _round(self.latency_p95),
            "tokens": self.tokens,
            "cost": self.cost,
        }


def win_rate(outcomes: Sequence[Outcome]) -> float:
    """Wins over rows, a tie counting half."""
    return sum(SCORE[o] for o in outcomes) / len(outcomes) if outcomes else 0.5


def bootstrap_interval(outcomes: Sequence[Outcome], *, seed: int, samples: int = BOOTSTRAP_SAMPLES) -> tuple[float, float]:
    """The 95% percentile bootstrap interval of the win rate, resampling rows; the same seed, the same interval."""
    if not outcomes:
        return (0.0, 1.0)
    scores = [SCORE[o] for o in outcomes]
    rng = random.Random(seed)
    n = len(scores)
    means = sorted(sum(rng.choices(scores, k=n)) / n for _ in range(samples))
    return means[int(0.025 * samples)], means[min(samples - 1, int(0.975 * samples))]


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q`` quantile (0..1) by linear interpolation; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def system_stats(
    name: str, spec: str, records: Iterable[dict[str, Any]], outcomes: Sequence[Outcome] | None, *, seed: int
) -> SystemStats:
    """A system's figures over ``records`` (its answered rows); ``outcomes`` None for the baseline."""
    records = list(records)
    turns = [turn for record in records for turn in record["turns"]]
    latencies = [turn["elapsed"] for turn in turns if turn.get("elapsed") is not None]
    lengths = [len(turn["answer"]) for turn in turns]
    judged = outcomes is not None
    return SystemStats(
        name=name,
        spec=spec,
        rows=len(outcomes) if judged else len(records),
        win_rate=win_rate(outcomes) if judged else None,
        interval=bootstrap_interval(outcomes, seed=seed) if judged else None,
        wins=outcomes.count("win") if judged else 0,
        losses=outcomes.count("loss") if judged else 0,
        ties=outcomes.count("tie") if judged else 0,
        mean_length=sum(lengths) / len(lengths) if lengths else 0.0,
        latency_p50=percentile(latencies, 0.5),
        latency_p95=percentile(latencies, 0.95),
        tokens=sum(record["usage"]["total_tokens"] for record in records),
    )


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)
