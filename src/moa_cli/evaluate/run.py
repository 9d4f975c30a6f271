"""An evaluation from start to end: answers for every system, verdicts for every pair, the figures."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

from moa_cli.batch.rows import Row
from moa_cli.evaluate.answers import answered, collect
from moa_cli.evaluate.judge import Judge, Outcome
from moa_cli.evaluate.report import Report
from moa_cli.evaluate.stats import system_stats
from moa_cli.evaluate.systems import System


async def evaluate(
    rows: Sequence[Row],
    systems: Sequence[System],
    judge_model: str,
    cache: Path,
    *,
    input_name: str,
    concurrency: int,
    seed: int,
    quiet: bool,
) -> Report:
    """Compare ``systems`` (the baseline first) on ``rows``; answers and verdicts are cached in ``cache``.

    Only rows every system answered are compared, so each win rate is over the same questions.
    """
    await collect(rows, systems, cache, concurrency=concurrency, quiet=quiet)
    answers = {s.name: answered(rows, s, cache) for s in systems}
    common = [row.id for row in rows if all(row.id in answers[s.name] for s in systems)]
    baseline, *others = systems
    judge = Judge(baseline.settings, judge_model, cache, concurrency=concurrency)
    try:
        outcomes: dict[str, list[Outcome]] = {}
        for system in others:
            base, mine = answers[baseline.name], answers[system.name]
            outcomes[system.name] = list(await asyncio.gather(*(judge.compare(mine[i], base[i]) for i in common)))
    finally:
        await judge.aclose()
    stats = [
        system_stats(s.name, s.spec, (answers[s.name][i] for i in common), outcomes.get(s.name), seed=seed)
        for s in systems
    ]
    return Report(stats, baseline.name, judge_model, input_name, len(common), judge.failed)
