"""Transcripts: a stored session as Markdown and as JSON."""

from __future__ import annotations

import json

from moa_cli.store import AgentRow, SessionInfo, TurnRecord
from moa_cli.transcript import to_json, to_markdown

SESSION = SessionInfo("abcd1234", "physics", "2026-05-01T09:30:12.000001Z", "2026-05-01T09:41:00.5Z", 2, "physics")


def row(model: str, text: str, *, role: str = "reference", layer: int = 1, index: int = 0, status: str = "done",
        error: str | None = None) -> AgentRow:
    return AgentRow(layer, role, model, text, f"{model} thinks", status, error, 10, 20, 1.5, index, 0.25)


def turn(seq: int, question: str, answer: str, *, status: str = "complete", error: str | None = None,
         agents: tuple[AgentRow, ...] = ()) -> TurnRecord:
    return TurnRecord(
        seq, "abcd1234", seq, question, answer, status, error, "agg", {"layers": 1, "models": ["m1", "m2"]},
        "2026-05-01T09:30:13Z", "2026-05-01T09:30:16Z", 3.0, 20, 40, agents,
    )


TURNS = [
    turn(1, "What is entanglement?", "Two particles share one state.", agents=(
        row("m1", "A link between particles."),
        row("m2", "Half an ans", index=1, status="timed_out", error="no answer in 20 s"),
        row("agg", "Two particles share one state.", role="aggregator", layer=2),
    )),
    turn(2, "And teleportation?", "It moves a sta", status="interrupted"),
]


def test_markdown_has_the_title_and_each_question_then_answer_in_order() -> None:
    text = to_markdown(SESSION, TURNS)
    assert text.startswith("# physics\n\nSession `abcd1234`, started 2026-05-01 09:30 UTC, 2 turns.\n")
    sections = [line for line in text.splitlines() if line.startswith("#")]
    assert sections == ["# physics", "## You", "## moa", "## You", "## moa"]
    assert text.index("What is entanglement?") < text.index("Two particles share") < text.index("And teleportation?")


def test_markdown_marks_a_turn_that_is_not_complete() -> None:
    text = to_markdown(SESSION, TURNS)
    assert text.endswith("## moa\n\nIt moves a sta\n\n*(interrupted)*")
    failed = turn(3, "Why?", "", status="failed", error="rate limited\nretry later")
    assert to_markdown(SESSION, [failed]).endswith("## moa\n\n*(failed: rate limited retry later)*")


def test_markdown_with_refs_shows_each_reference_answer_under_its_model() -> None:
    text = to_markdown(SESSION, TURNS, refs=True)
    assert "\n### m1\n\nA link between particles.\n" in text
    assert "\n### m2\n\nHalf an ans\n\n*(timed out: no answer in 20 s)*\n" in text
    assert "### agg" not in text
    assert text.index("## You") < text.index("### m1") < text.index("### m2") < text.index("## moa")
    assert "A link between particles." not in to_markdown(SESSION, TURNS)


def test_markdown_names_the_layer_of_each_reference_when_there_are_several() -> None:
    layered = turn(1, "q", "a", agents=(row("m1", "first"), row("m1", "second", layer=2)))
    text = to_markdown(SESSION, [layered], refs=True)
    assert "### m1 (layer 1)" in text and "### m1 (layer 2)" in text


def test_json_holds_the_session_every_turn_and_every_agent_in_a_stable_order() -> None:
    text = to_json(SESSION, TURNS)
    document = json.loads(text)
    assert list(document) == ["version", "session", "turns"]
    assert document["version"] == 1
    assert document["session"] == {
        "id": "abcd1234", "name": "physics", "title": "physics",
        "created": "2026-05-01T09:30:12.000001Z", "updated": "2026-05-01T09:41:00.5Z",
    }
    first, second = document["turns"]
    assert list(first) == [
        "seq", "question", "answer", "status", "error", "aggregator", "settings", "started", "finished",
        "elapsed", "prompt_tokens", "completion_tokens", "retried", "agents",
    ]
    assert (first["answer"], first["settings"], second["status"]) == (
        "Two particles share one state.", {"layers": 1, "models": ["m1", "m2"]}, "interrupted",
    )
    assert [a["model"] for a in first["agents"]] == ["m1", "m2", "agg"]
    assert first["agents"][1] == {
        "layer": 1, "role": "reference", "index": 1, "model": "m2", "status": "timed_out",
        "error": "no answer in 20 s", "text": "Half an ans", "reasoning": "m2 thinks", "prompt_tokens": 10,
        "completion_tokens": 20, "latency": 1.5, "first_token_latency": 0.25,
    }
    assert to_json(SESSION, TURNS) == text


def test_json_has_no_key_or_secret_fields() -> None:
    def names(value: object) -> set[str]:
        if isinstance(value, dict):
            return set(value) | {n for v in value.values() for n in names(v)}
        if isinstance(value, list):
            return {n for v in value for n in names(v)}
        return set()

    fields = names(json.loads(to_json(SESSION, TURNS)))
    assert not [name for name in fields if "key" in name.lower() or "secret" in name.lower()]


def test_json_keeps_non_ascii_text_readable() -> None:
    text = to_json(SESSION, [turn(1, "Qu'est-ce que l'intrication ?", "Un état partagé — ψ")])
    assert "Un état partagé — ψ" in text
