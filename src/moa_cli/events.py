"""The typed events the engine yields, and the result it ends with.

Every front end (Rich panels, plain pipe output, JSON, the REPL, the session store) is a consumer
of these; none of them talks to a provider directly. The events are the only channel from the
engine to its consumers: ``AgentStarted`` hands over each agent's :class:`AgentResult`, which the
engine goes on filling as deltas arrive (consumers read it, never write it), and ``Finished``
the whole :class:`MoaResult`. No consumer is given the run itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

AgentRole = Literal["reference", "aggregator"]


@dataclass(frozen=True, slots=True)
class Agent:
    """Who is speaking: a reference model in a layer, or the aggregator (layer = layers + 1)."""

    role: AgentRole
    layer: int
    index: int
    model: str
    sample: int = 0
    """Which of a model's Self-MoA samples this is (0 when each model answers once)."""

    @property
    def label(self) -> str:
        """``model``, or ``model #2`` for a second sample."""
        return f"{self.model} #{self.sample + 1}" if self.sample else self.model


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts and Groq's own timings for one call (times in seconds, when the server sends them)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    queue_time: float | None = None
    prompt_time: float | None = None
    completion_time: float | None = None
    cached_tokens: int = 0
    """Prompt tokens the server had cached (``usage.prompt_tokens_details.cached_tokens``)."""

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
            cached_tokens=self.cached_tokens + other.cached_tokens,
        )


@dataclass(slots=True)
class AgentResult:
    """What one agent produced: its text (possibly partial), reasoning, usage, timing, and error.

    ``status`` is ``done``, ``failed``, ``timed_out`` (left out by ``ref_timeout``), ``dropped``
    (left out by the straggler policy) or ``interrupted``. A done answer may carry a ``warning``:
    cut at the token limit, stopped by a content filter, or cut off without a finish reason.
    """

    agent: Agent
    text_parts: list[str] = field(default_factory=list)
    reasoning_parts: list[str] = field(default_factory=list)
    usage: Usage | None = None
    streamed: int = 0
    """Chunks received, about one token each: the live count before the server's usage arrives."""
    status: str = "running"
    error: str | None = None
    error_kind: str | None = None
    retry_after: float | None = None
    """Seconds a rate-limited failure was told to wait before asking again, when known."""
    finish_reason: str | None = None
    """The server's ``finish_reason`` (``stop``, ``length``, ``content_filter``...), when it gave one."""
    warning: str | None = None
    queued: bool = False
    """Waiting for its provider to have a free slot (``max_concurrency``)."""
    started_at: float = 0.0
    first_token_at: float | None = None
    finished_at: float | None = None
    cost: float | None = None
    """US$ for this call's tokens, when the model's price is known."""

    @property
    def text(self) -> str:
        return "".join(self.text_parts)

    @property
    def reasoning(self) -> str:
        return "".join(self.reasoning_parts)

    @property
    def ok(self) -> bool:
        return self.status == "done"

    @property
    def elapsed(self) -> float | None:
        return None if self.finished_at is None else self.finished_at - self.started_at


# --- events -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AgentStarted:
    """A request for ``agent`` has been sent; ``result`` is where the engine keeps what it produces."""

    agent: Agent
    result: AgentResult


@dataclass(frozen=True, slots=True)
class TextDelta:
    """A piece of the agent's answer."""

    agent: Agent
    text: str


@dataclass(frozen=True, slots=True)
class ReasoningDelta:
    """A piece of the agent's reasoning (gpt-oss streams it apart from the answer)."""

    agent: Agent
    text: str


@dataclass(frozen=True, slots=True)
class AgentRetrying:
    """The provider is waiting ``wait`` seconds before retrying the agent's request."""

    agent: Agent
    wait: float
    reason: str


@dataclass(frozen=True, slots=True)
class AgentQueued:
    """The agent's request waits for its provider (``waiting``), or has just been sent (not ``waiting``)."""

    agent: Agent
    waiting: bool


@dataclass(frozen=True, slots=True)
class AgentDone:
    """The agent finished its answer."""

    result: AgentResult


@dataclass(frozen=True, slots=True)
class AgentFailed:
    """The agent failed, timed out or was dropped; ``result`` keeps any partial text."""

    result: AgentResult


@dataclass(slots=True)
class MoaResult:
    """Everything a run produced. ``status``: ``complete``, ``failed`` or ``interrupted``."""

    question: str
    references: list[AgentResult] = field(default_factory=list)
    aggregator: AgentResult | None = None
    status: str = "running"
    error: str | None = None
    started_at: float = 0.0
    finished_at: float | None = None

    @property
    def answer(self) -> str:
        return self.aggregator.text if self.aggregator else ""

    @property
    def usage(self) -> Usage:
        total = Usage()
        for result in self.agents:
            if result.usage:
                total = total + result.usage
        return total

    @property
    def reported_usage(self) -> Usage | None:
        """:attr:`usage`, or None when a model that answered reported none (llama-cpp-python's
        server streams none): a sum without it would say fewer tokens than were used."""
        if any(r.usage is None for r in self.agents if r.ok):
            return None
        return self.usage

    @property
    def cost(self) -> float | None:
        """US$ for every call of the run with a known price (None if none has one)."""
        costs = [r.cost for r in self.agents if r.cost is not None]
        return sum(costs) if costs else None

    @property
    def agents(self) -> list[AgentResult]:
        return self.references + ([self.aggregator] if self.aggregator else [])

    @property
    def elapsed(self) -> float | None:
        return None if self.finished_at is None else self.finished_at - self.started_at


@dataclass(frozen=True, slots=True)
class Finished:
    """The run is over; the last event of every run, even a failed one."""

    result: MoaResult


@dataclass(frozen=True, slots=True)
class AgentWaiting:
    """The agent's request waits ``wait`` more seconds for its model's rate limit to free (``reason``).

    Sent again every second of the wait: a countdown.
    """

    agent: Agent
    wait: float
    reason: str


@dataclass(frozen=True, slots=True)
class AgentTrimmed:
    """The agent's request was cut to fit its model's limits; ``note`` says what was cut, in one line."""

    agent: Agent
    note: str


Event = (
    AgentStarted | AgentQueued | TextDelta | ReasoningDelta | AgentRetrying | AgentDone | AgentFailed | Finished
    | AgentWaiting | AgentTrimmed
)
