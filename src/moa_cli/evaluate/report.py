"""The comparison shown: a terminal table, a JSON object and a Markdown report."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from moa_cli.evaluate.stats import SystemStats


@dataclass(frozen=True, slots=True)
class Report:
    """Everything ``moa eval`` found: the figures per system, the baseline and judge, and the data set."""

    systems: Sequence[SystemStats]
    baseline: str
    judge: str
    input: str
    rows: int
    judge_failures: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "input": self.input,
            "rows": self.rows,
            "baseline": self.baseline,
            "judge": self.judge,
            "judge_failures": self.judge_failures,
            "systems": {s.name: s.as_dict() for s in self.systems},
        }


def _cells(s: SystemStats) -> list[str]:
    """name, spec, win rate, interval, W/L/T, mean length, p50, p95, tokens, cost."""
    if s.win_rate is None or s.interval is None:
        win, interval, record = "baseline", "", ""
    else:
        win, interval = f"{s.win_rate:.1%}", f"{s.interval[0]:.1%}-{s.interval[1]:.1%}"
        record = f"{s.wins}/{s.losses}/{s.ties}"
    p50, p95 = ("-" if t is None else f"{t:.2f}s" for t in (s.latency_p50, s.latency_p95))
    cost = "-" if s.cost is None else f"${s.cost:.4f}"
    return [s.name, s.spec, win, interval, record, f"{s.mean_length:,.0f}", p50, p95, f"{s.tokens:,}", cost]


HEADERS = ["system", "spec", "win rate", "95% CI", "W/L/T", "mean length", "p50", "p95", "tokens", "cost"]


def table(report: Report) -> Any:
    """A Rich table that fits 80 columns (model text in it is data, never markup); cost once it is known."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    title = f"win rate against {report.baseline}: {report.rows} questions, judge {report.judge}"
    out = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    costs = any(s.cost is not None for s in report.systems)
    shown = [h for h in HEADERS if h != "spec" and (h != "cost" or costs)]
    for header in shown:
        out.add_column("length" if header == "mean length" else header, justify="left" if header == "system" else "right", no_wrap=True)
    for s in report.systems:
        cells = dict(zip(HEADERS, _cells(s)))
        out.add_row(*(Text(cells[h]) for h in shown))
    return out


def markdown(report: Report, chart: str | None = None) -> str:
    """The report as Markdown: what was compared, the table, how to read it, and the chart if drawn."""
    lines = [
        "# moa eval",
        "",
        f"{report.rows} questions from `{report.input}`, judged pairwise by `{report.judge}` against the "
        f"baseline `{report.baseline}`.",
        "",
        "| " + " | ".join(HEADERS) + " |",
        "|" + "|".join("---" if h in ("system", "spec") else "---:" for h in HEADERS) + "|",
    ]
    for s in report.systems:
        name, spec, *rest = (cell.replace("|", "\\|") for cell in _cells(s))
        lines.append("| " + " | ".join([name, f"`{spec}`", *rest]) + " |")
    lines += [
        "",
        "Each pair of answers was judged twice, once in each order; a system wins a question only if it "
        "wins in both orders, and a verdict that flips with the order counts as a tie. The win rate counts "
        "a tie as half; the interval is a 95% bootstrap interval over questions. Judges favour longer "
        "answers: compare the mean lengths before trusting a win.",
    ]
    if report.judge_failures:
        lines += ["", f"{report.judge_failures} verdicts could not be had (counted as ties); run again to retry them."]
    if chart:
        lines += ["", f"![win rates]({chart})"]
    return "\n".join(lines) + "\n"
