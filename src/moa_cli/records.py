"""What the session store returns: sessions, turns, each agent's output, search hits."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class SessionInfo:
    """A session as listed: ``title`` is its name, else the first line of its first question."""

    id: str
    name: str | None
    created: str
    updated: str
    turns: int
    title: str
    cost: float | None = None
    """US$ of every turn with a known price (None if none has one)."""
    by_prefix: bool = False
    """Found by :meth:`~moa_cli.store.Store.find_session` as the one id starting with what was given."""


@dataclass(frozen=True)
class AgentRow:
    """One agent's output in a turn; ``latency`` and ``first_token_latency`` are in seconds."""

    layer: int
    role: str
    model: str
    text: str
    reasoning: str
    status: str
    error: str | None
    prompt_tokens: int | None
    completion_tokens: int | None
    latency: float | None
    index: int = 0
    first_token_latency: float | None = None
    finish_reason: str | None = None
    warning: str | None = None
    cached_tokens: int | None = None
    cost: float | None = None


@dataclass(frozen=True)
class TurnRecord:
    """One question and its answer; ``agents`` is filled by ``Store.turns(..., with_agents=True)``."""

    id: int
    session_id: str
    seq: int
    question: str
    answer: str
    status: str
    error: str | None
    aggregator: str | None
    settings: dict[str, Any]
    started: str
    finished: str | None
    elapsed: float | None
    prompt_tokens: int | None
    completion_tokens: int | None
    agents: tuple[AgentRow, ...] = ()
    cached_tokens: int | None = None
    cost: float | None = None
    retried: bool = False
    """Asked again with ``/retry``: kept, but no longer part of the conversation."""


@dataclass(frozen=True)
class SearchHit:
    """A turn matching a search; ``snippet`` is one line with matches between ``SNIPPET_MARKS``."""

    session_id: str
    turn_id: int
    seq: int
    title: str
    snippet: str
