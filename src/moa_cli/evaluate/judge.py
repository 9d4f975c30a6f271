"""The pairwise judge: a model reads the question(s) and two answers and ends with [[A]], [[B]] or [[C]].

Our own prompt, after the MT-Bench and AlpacaEval pairwise style. Judges favour the first answer
shown (and longer answers), so every pair is judged in both orders; a system wins a row only if
it wins in both orders, loses only if it loses in both, and anything else (a verdict that flips
with the order, or a tie) is a tie. Verdicts are cached by judge, conversation and order.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from dataclasses import replace
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from moa_cli.app.providers import make_provider
from moa_cli.app.requests import budget_for, prepare_run
from moa_cli.app.turn import drive
from moa_cli.batch.output import read_records
from moa_cli.errors import UsageError
from moa_cli.evaluate.systems import direct
from moa_cli.settings import Settings

Verdict = Literal["A", "B", "C"]
Outcome = Literal["win", "loss", "tie"]

JUDGE_PROMPT = """\
You are an impartial judge. You will see a conversation between a user and two AI assistants, \
A and B, answering the same question or questions. Decide which assistant answered better: more \
helpful, correct, relevant and complete, with the depth the question calls for. Check facts and \
reasoning; a confident wrong answer is worse than a careful partial one. Do not let the order \
in which the answers are shown, their length, or the assistants' names influence you.

Explain your judgement in a few sentences, then end with your verdict on a line of its own: \
[[A]] if assistant A is better, [[B]] if assistant B is better, [[C]] for a tie."""

_VERDICT = re.compile(r"\[\[([ABC])\]\]")


JUDGE_MAX_TOKENS = 1024
"""Room for a short explanation and the verdict; never more than the answers themselves may take."""


def judge_settings(base: Settings, model: str) -> Settings:
    """The judge: ``model`` alone, deterministic, with our prompt as its system prompt."""
    max_tokens = min(JUDGE_MAX_TOKENS, base.max_tokens)
    return replace(direct(base, model), temperature=0.0, system=JUDGE_PROMPT, max_tokens=max_tokens)


def judge_question(turns: Sequence[tuple[str, str, str]]) -> str:
    """What the judge is asked: each turn's question with A's and B's answers (``(question, a, b)``)."""
    if len(turns) == 1:
        question, a, b = turns[0]
        return (
            f"[User question]\n{question}\n\n[Assistant A's answer]\n{a}\n[End of Assistant A's answer]\n\n"
            f"[Assistant B's answer]\n{b}\n[End of Assistant B's answer]"
        )
    parts = []
    for letter, index in (("A", 1), ("B", 2)):
        lines = [f"[Conversation with Assistant {letter}]"]
        for turn in turns:
            lines += [f"### User:\n{turn[0]}", f"### Assistant {letter}:\n{turn[index]}"]
        lines.append(f"[End of conversation with Assistant {letter}]")
        parts.append("\n\n".join(lines))
    return "\n\n".join(parts) + "\n\nJudge the two conversations as a whole, the later answers in the light of the earlier ones."


def parse_verdict(text: str) -> Verdict | None:
    """The last ``[[A]]``, ``[[B]]`` or ``[[C]]`` in ``text``; None if there is none."""
    found = _VERDICT.findall(text)
    return found[-1] if found else None


def outcome(system_first: Verdict | None, system_second: Verdict | None) -> Outcome:
    """The row's outcome for the system, from the verdict with its answer shown first, then second."""
    first = {"A": "win", "B": "loss"}.get(system_first or "C", "tie")
    second = {"B": "win", "A": "loss"}.get(system_second or "C", "tie")
    return first if first == second else "tie"  # type: ignore[return-value]


class Judge:
    """Asks ``model`` for verdicts, ``concurrency`` at a time, through a cache file in ``cache``."""

    def __init__(self, base: Settings, model: str, cache: Path, *, concurrency: int) -> None:
        self.settings = judge_settings(base, model)
        self.path = cache / f"judgments-{hashlib.sha256(model.encode()).hexdigest()[:12]}.jsonl"
        self.cache = {r["id"]: r for r in read_records(self.path) if r.get("verdict") is not None}
        self.limit = asyncio.Semaphore(concurrency)
        self.provider = make_provider(self.settings)
        self.budget = budget_for(self.settings)
        self.asked = 0
        self.failed = 0
        """Verdicts not given: the judge's call failed, or its answer had no [[A]]/[[B]]/[[C]]."""

    async def verdict(self, prompt: str) -> Verdict | None:
        """The judge's verdict on ``prompt``, from the cache or asked now (and then kept)."""
        key = hashlib.sha256(prompt.encode()).hexdigest()
        if key in self.cache:
            return self.cache[key]["verdict"]
        async with self.limit:
            try:
                run, _ = prepare_run(self.settings, self.provider, prompt, budget=self.budget)
                result = await drive(run, [])
            except UsageError:  # a question and answers too long for the context window
                result = None
        self.asked += 1
        verdict = parse_verdict(result.answer) if result and result.status == "complete" else None
        if result is None or verdict is None:
            self.failed += 1  # counted as a tie now, and asked again next time (not cached)
            return None
        record = {"id": key, "verdict": verdict, "judgement": result.answer}
        self.cache[key] = record
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as out:
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
        return verdict

    async def compare(self, system: dict[str, Any], baseline: dict[str, Any]) -> Outcome:
        """One row: the system's record against the baseline's, judged in both orders."""
        pairs = [(s["question"], s["answer"], b["answer"]) for s, b in zip(system["turns"], baseline["turns"])]
        swapped = [(question, b, a) for question, a, b in pairs]
        first, second = await asyncio.gather(self.verdict(judge_question(pairs)), self.verdict(judge_question(swapped)))
        return outcome(first, second)

    async def aclose(self) -> None:
        await self.provider.aclose()
