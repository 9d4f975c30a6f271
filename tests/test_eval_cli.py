"""`moa eval`: systems answer through batch (cached), a pairwise judge compares them in both orders."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from conftest import run_moa
from groq_server import Behavior, GroqServer
from test_batch_cli import mt_bench

JUDGE = "judge/m"


@pytest.fixture
def mixture(moa_env: dict[str, str], groq_server: GroqServer) -> dict[str, str]:
    """A config file whose mixture is two local references and an aggregator; a judge that always says A."""
    config = Path(moa_env["XDG_CONFIG_HOME"]) / "moa" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text('references = ["ref/a", "ref/b"]\naggregator = "agg/m"\nmax_tokens = 64\n', encoding="utf-8")
    groq_server.set(JUDGE, Behavior(text="Both are fine, but the first is better.\n[[A]]"))
    return moa_env


def evaluate(source: Path, env: dict[str, str], *systems: str, extra: tuple[str, ...] = ()) -> dict:
    args = ["eval", str(source), *(a for s in systems for a in ("--system", s)), "--baseline", "base"]
    result = run_moa([*args, "--judge", JUDGE, "--concurrency", "8", "--json", *extra], env, timeout=120)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_a_judge_that_always_prefers_the_first_answer_scores_fifty_percent(
    groq_server: GroqServer, mixture: dict[str, str], tmp_path: Path
) -> None:
    source = mt_bench(tmp_path / "mt.jsonl", questions=20)
    report = evaluate(source, mixture, "base=single:ref/a", "mix=moa")
    mix = report["systems"]["mix"]
    assert (mix["win_rate"], mix["interval"], mix["ties"], mix["rows"]) == (0.5, [0.5, 0.5], 20, 20)
    assert report["systems"]["base"]["win_rate"] is None and report["judge_failures"] == 0
    judged = [r.messages[-1]["content"] for r in groq_server.requests_for(JUDGE)]
    assert len(judged) == 40  # every question, in both orders
    first = "### Assistant A:\nref/a answers: First question 0?"  # the baseline shown first...
    second = "### Assistant A:\nagg/m answers: First question 0?"  # ...and the mixture shown first
    assert sum(first in j for j in judged) == sum(second in j for j in judged) == 1


def test_adding_a_system_runs_only_its_answers_and_its_verdicts(
    groq_server: GroqServer, mixture: dict[str, str], tmp_path: Path
) -> None:
    source = mt_bench(tmp_path / "mt.jsonl", questions=10)
    evaluate(source, mixture, "base=single:ref/a", "mix=moa")
    before = len(groq_server.requests)
    report = evaluate(source, mixture, "base=single:ref/a", "mix=moa", "self=self:ref/c*2")
    new = groq_server.requests[before:]
    assert {r.model for r in new} == {"ref/c", JUDGE}
    assert len([r for r in new if r.model == JUDGE]) == 20  # 10 questions, both orders, for self alone
    assert report["systems"]["self"]["win_rate"] == 0.5 and report["systems"]["mix"]["ties"] == 10


def test_the_report_and_the_chart_are_written(groq_server: GroqServer, mixture: dict[str, str], tmp_path: Path) -> None:
    source = tmp_path / "q.txt"
    source.write_text("One?\nTwo?\nThree?\n", encoding="utf-8")
    report, chart = tmp_path / "eval.md", tmp_path / "eval.svg"
    result = run_moa(
        ["eval", str(source), "--system", "base=single:ref/a", "--system", "mix=moa", "--baseline", "base",
         "--judge", JUDGE, "--report", str(report), "--chart", str(chart)],
        mixture,
    )
    assert result.returncode == 0, result.stderr
    table = result.stdout.decode()
    (mix,) = [line.split() for line in table.splitlines() if line.strip().startswith("mix")]
    assert mix[:4] == ["mix", "50.0%", "50.0%-50.0%", "0/0/3"]
    assert max(len(line) for line in table.splitlines()) <= 80
    text = report.read_text(encoding="utf-8")
    assert "| mix | `moa` | 50.0% | 50.0%-50.0% | 0/0/3 |" in text and "![win rates](eval.svg)" in text
    svg = ET.fromstring(chart.read_text(encoding="utf-8"))
    labels = [t.text for t in svg.iter("{http://www.w3.org/2000/svg}text")]
    assert "mix" in labels and "50.0%" in labels


def test_an_unknown_system_spec_is_one_error_line(groq_server: GroqServer, mixture: dict[str, str], tmp_path: Path) -> None:
    source = tmp_path / "q.txt"
    source.write_text("One?\n", encoding="utf-8")
    result = run_moa(
        ["eval", str(source), "--system", "base=single:ref/a", "--system", "mix=best", "--baseline", "base", "--judge", JUDGE],
        mixture,
    )
    assert result.returncode == 2
    assert result.stderr.decode().splitlines() == [
        "moa: error: --system mix: unknown spec 'best'; use moa, preset:NAME, single:MODEL or self:MODEL*N"
    ]
    assert groq_server.requests == []
