"""A stored session as a readable Markdown transcript or as JSON: pure functions over store records."""

from __future__ import annotations

import json
from typing import Any

from moa_cli.store import AgentRow, SessionInfo, TurnRecord
from moa_cli.ui.format import plural

JSON_VERSION = 1
"""The ``version`` of the :func:`to_json` structure; raised when a field changes meaning or goes away."""


def to_markdown(session: SessionInfo, turns: list[TurnRecord], *, refs: bool = False) -> str:
    """The title, then each turn as ``## You`` (the question) and ``## moa`` (the answer).

    A turn that is not complete ends with its status and error in italics. With ``refs`` each
    reference model's answer follows the question under a ``### model`` heading.
    """
    when = session.created[:16].replace("T", " ")
    lines = [f"# {session.title}", "", f"Session `{session.id}`, started {when} UTC, {plural(len(turns), 'turn')}."]
    for turn in turns:
        lines += ["", "## You", "", turn.question.strip()]
        if refs:
            lines += _references(turn.agents)
        lines += ["", "## moa"]
        if turn.answer.strip():
            lines += ["", turn.answer.strip()]
        if turn.status != "complete":
            lines += ["", _marker(turn.status, turn.error)]
        if turn.retried:
            lines += ["", "*(asked again with /retry)*"]
    return "\n".join(lines)


def to_json(session: SessionInfo, turns: list[TurnRecord]) -> str:
    """The session as indented JSON, keys in this order::

        {"version": 1,
         "session": {"id", "name", "title", "created", "updated"},
         "turns": [{"seq", "question", "answer", "status", "error", "aggregator", "settings",
                    "started", "finished", "elapsed", "prompt_tokens", "completion_tokens",
                    "retried", "agents": [{"layer", "role", "index", "model", "status", "error", "text",
                                "reasoning", "prompt_tokens", "completion_tokens", "latency",
                                "first_token_latency"}]}]}

    Times are ISO-8601 UTC text, durations seconds; unknown values are null. ``agents`` (the
    references in order, then the aggregator) is empty unless the turns were read with agents.
    """
    document = {
        "version": JSON_VERSION,
        "session": {
            "id": session.id,
            "name": session.name,
            "title": session.title,
            "created": session.created,
            "updated": session.updated,
        },
        "turns": [_turn(turn) for turn in turns],
    }
    return json.dumps(document, indent=2, ensure_ascii=False)


def _references(agents: tuple[AgentRow, ...]) -> list[str]:
    references = [agent for agent in agents if agent.role == "reference"]
    layered = len({agent.layer for agent in references}) > 1
    lines: list[str] = []
    for agent in references:
        lines += ["", f"### {agent.model}" + (f" (layer {agent.layer})" if layered else "")]
        if agent.text.strip():
            lines += ["", agent.text.strip()]
        if agent.status != "done":
            lines += ["", _marker(agent.status, agent.error)]
    return lines


def _marker(status: str, error: str | None) -> str:
    detail = f": {' '.join(error.split())}" if error else ""
    return f"*({status.replace('_', ' ')}{detail})*"


def _turn(turn: TurnRecord) -> dict[str, Any]:
    return {
        "seq": turn.seq,
        "question": turn.question,
        "answer": turn.answer,
        "status": turn.status,
        "error": turn.error,
        "aggregator": turn.aggregator,
        "settings": turn.settings,
        "started": turn.started,
        "finished": turn.finished,
        "elapsed": turn.elapsed,
        "prompt_tokens": turn.prompt_tokens,
        "completion_tokens": turn.completion_tokens,
        "retried": turn.retried,
        "agents": [_agent(agent) for agent in turn.agents],
    }


def _agent(agent: AgentRow) -> dict[str, Any]:
    return {
        "layer": agent.layer,
        "role": agent.role,
        "index": agent.index,
        "model": agent.model,
        "status": agent.status,
        "error": agent.error,
        "text": agent.text,
        "reasoning": agent.reasoning,
        "prompt_tokens": agent.prompt_tokens,
        "completion_tokens": agent.completion_tokens,
        "latency": agent.latency,
        "first_token_latency": agent.first_token_latency,
    }
