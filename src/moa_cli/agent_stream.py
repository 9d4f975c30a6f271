"""One agent's call streamed into its :class:`AgentResult`, and how its end is judged."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable

from moa_cli.errors import ProviderError
from moa_cli.events import (
    AgentDone,
    AgentFailed,
    AgentQueued,
    AgentResult,
    AgentRetrying,
    AgentStarted,
    Event,
    ReasoningDelta,
    TextDelta,
    Usage,
)
from moa_cli.providers.base import ChatCall, ChatStreamer, Delta, Finish, Queued, Retrying


async def stream_agent(
    provider: ChatStreamer, agent_result: AgentResult, call: ChatCall, clock: Callable[[], float]
) -> AsyncIterator[Event]:
    """Stream one agent's call, keeping everything it sends in ``agent_result``."""
    agent = agent_result.agent
    agent_result.started_at = clock()
    finish: Finish | None = None
    # The aggregator is announced once its request is out (or something else came back): a
    # consumer drawing "started" (the layer summary, on a terminal) must not delay the request.
    announced = agent.role != "aggregator"
    if announced:
        yield AgentStarted(agent, agent_result)
    chunks = provider.stream(call)
    try:
        async for chunk in chunks:
            if not announced:
                announced = True
                yield AgentStarted(agent, agent_result)
            if isinstance(chunk, Delta):
                agent_result.streamed += chunk.pieces
                if agent_result.first_token_at is None:
                    agent_result.first_token_at = clock()
                if chunk.kind == "text":
                    agent_result.text_parts.append(chunk.text)
                    yield TextDelta(agent, chunk.text)
                else:
                    agent_result.reasoning_parts.append(chunk.text)
                    yield ReasoningDelta(agent, chunk.text)
            elif isinstance(chunk, Usage):
                agent_result.usage = chunk
            elif isinstance(chunk, Finish):  # the answer is whole: what follows is closing
                finish = chunk
                break
            elif isinstance(chunk, Queued):
                agent_result.queued = chunk.waiting
                yield AgentQueued(agent, chunk.waiting)
            elif isinstance(chunk, Retrying):
                if chunk.restart:
                    forget_answer(agent_result)
                yield AgentRetrying(agent, chunk.wait, chunk.reason)
    except ProviderError as error:
        failed_with(agent_result, error)
    except Exception as error:  # a bug must not lose the other agents' answers
        agent_result.status, agent_result.error_kind = "failed", "internal"
        agent_result.error = f"{agent.model}: internal error: {type(error).__name__}: {error}"
    else:
        judge(agent_result, finish, call.max_tokens)
    agent_result.queued = False
    agent_result.finished_at = clock()
    if not announced:
        yield AgentStarted(agent, agent_result)
    yield AgentDone(agent_result) if agent_result.ok else AgentFailed(agent_result)
    if finish is not None:  # its connection is closed after the engine has heard the end
        with contextlib.suppress(ProviderError):
            async for _ in chunks:
                pass


def forget_answer(result: AgentResult) -> None:
    """The provider is asking again from the start: what streamed so far is void."""
    result.text_parts.clear()
    result.reasoning_parts.clear()
    result.streamed = 0
    result.usage = None
    result.first_token_at = None


def judge(result: AgentResult, finish: Finish | None, max_tokens: int) -> None:
    """Whether a stream that ended cleanly answered: no text is a failure; a cut is a warning.

    ``finish`` is None when the provider does not report how its streams end.
    """
    model = result.agent.label  # a Self-MoA sample is told from the others: "model #2"
    reason = finish.reason if finish else "stop"
    result.finish_reason = finish.reason if finish else None
    if not result.text:
        if reason not in ("stop", None):
            detail = f" (finish_reason {reason})"
        else:
            detail = " (only reasoning)" if result.reasoning else ""
        result.status, result.error_kind, result.error = "failed", "empty", f"{model}: returned no text{detail}"
        return
    result.status = "done"
    if reason == "length":
        result.warning = f"{model}: the answer was cut at the {max_tokens:,}-token limit (finish_reason length)"
    elif reason == "content_filter":
        result.warning = f"{model}: the answer was stopped by a content filter (finish_reason content_filter)"
    elif reason is None:
        result.warning = f"{model}: the answer was cut off (the stream ended without a finish reason)"


def failed_with(result: AgentResult, error: ProviderError) -> None:
    """Mark ``result`` failed by ``error``, keeping its kind and any wait the server asked for."""
    result.status, result.error, result.error_kind = "failed", str(error), error.kind
    result.retry_after = error.retry_after
