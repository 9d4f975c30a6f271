"""How the session store's rows are shaped: its SQL for sessions, turns and agent outputs, and the
conversions between rows and records. Every text moa writes passes :func:`moa_cli.redact.scrub`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from moa_cli.prompts import as_history
from moa_cli.records import SessionInfo
from moa_cli.redact import scrub
from moa_cli.request import Message

if TYPE_CHECKING:
    from moa_cli.events import AgentResult

TITLE_MAX = 60
EMPTY_TITLE = "(empty)"

SESSION_SELECT = """
    SELECT s.id, s.name, s.created, s.updated,
        (SELECT count(*) FROM turns t WHERE t.session_id = s.id),
        coalesce(s.title, (SELECT substr(t.question, 1, 400) FROM turns t WHERE t.session_id = s.id ORDER BY t.seq LIMIT 1)),
        (SELECT sum(t.cost) FROM turns t WHERE t.session_id = s.id)
    FROM sessions s
"""
TURN_SELECT = """
    SELECT id, session_id, seq, question, answer, status, error, aggregator, settings,
        started, finished, elapsed, prompt_tokens, completion_tokens, cached_tokens, cost, retried != 0
    FROM turns
"""
ANSWERED = "FROM turns WHERE session_id = ? AND answer != '' AND NOT retried"
"""The turns of a session that are in its history (index ``turns_answered``)."""
INSERT_AGENT = """INSERT INTO agent_outputs (turn_id, layer, role, idx, model, status, error, prompt_tokens,
    completion_tokens, latency, first_token_latency, text, reasoning, finish_reason, warning, cached_tokens, cost)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"""


def agent_values(turn_id: int, result: AgentResult) -> tuple[object, ...]:
    agent = result.agent
    usage = result.usage
    first_token = None if result.first_token_at is None else result.first_token_at - result.started_at
    return (
        turn_id, agent.layer, agent.role, agent.index, agent.model,
        "interrupted" if result.status == "running" else result.status, scrub_optional(result.error),
        usage.prompt_tokens if usage else None, usage.completion_tokens if usage else None,
        result.elapsed, first_token, scrub(result.text), scrub(result.reasoning), result.finish_reason,
        scrub_optional(result.warning), usage.cached_tokens if usage else None, result.cost,
    )


def scrub_optional(text: str | None) -> str | None:
    """``text`` with no key moa knows: a server may echo one in an error."""
    return None if text is None else scrub(text)


def session_of(row: tuple[Any, ...]) -> SessionInfo:
    session_id, name, created, updated, turns, first, cost = row
    return SessionInfo(session_id, name, created, updated, turns, title_of(name, first), cost)


def title_of(name: str | None, first_question: str | None) -> str:
    if name:
        return name
    line = next((line.strip() for line in (first_question or "").splitlines() if line.strip()), "")
    if not line:
        return EMPTY_TITLE
    return line if len(line) <= TITLE_MAX else line[: TITLE_MAX - 1] + "…"


def match_query(text: str) -> str:
    """``text`` as FTS5 phrases, one per word, so quotes, ``-``, ``:`` and ``*`` are plain characters."""
    phrases = []
    for word in text.split():
        stem = word.rstrip("*")
        if stem:
            phrases.append('"' + stem.replace('"', '""') + '"' + ("*" if stem != word else ""))
    return " ".join(phrases)


def history_pair(question: str, answer: str, status: str) -> tuple[Message, Message]:
    """One answered turn as the models see it again: the question, then the answer."""
    return Message("user", question), Message("assistant", as_history(answer, status))
