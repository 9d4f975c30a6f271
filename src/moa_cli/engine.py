"""The Mixture-of-Agents engine: references in parallel, layer by layer, then one streamed aggregator.

It knows nothing of terminals. ``MoaRun`` is an async iterable of :mod:`moa_cli.events`, the one
channel to its consumers (see there). Its ``result`` holds everything that has arrived so far, for
whoever drives the run: a run stopped early (Ctrl-C) still has every partial answer.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from typing import Final

from moa_cli.agent_stream import failed_with, stream_agent
from moa_cli.budget import Budget
from moa_cli.errors import ProviderError
from moa_cli.events import (
    Agent,
    AgentDone,
    AgentFailed,
    AgentResult,
    AgentRetrying,
    AgentTrimmed,
    Event,
    Finished,
    MoaResult,
)
from moa_cli.model_limits import effort_for
from moa_cli.prompts import build_messages
from moa_cli.providers.base import ChatCall, ChatStreamer, Pace
from moa_cli.request import MoaRequest, ModelSpec

REFERENCE_READ_INTERVAL: Final = 0.01
"""A reference's stream is parsed at most once per 10 ms: all that arrived meanwhile in one pass
(:func:`moa_cli.providers.sse.gathered`). Nothing waits on a reference's single tokens (panels
redraw every 125 ms; the aggregator needs whole answers), and at 1,000 tokens/s a pass per token
costs twice the CPU. Its bytes are read as they arrive all the same: its ``[DONE]`` ends a pause,
so its end is seen at once."""

HELD_AT_MOST: Final = 0.05
"""A reference's end (its row stored, its panel drawn) waits this long at most for the others of
its layer to end too: when they do, the layer's ends are handed on after the next stage's requests
are out, so that storing and drawing 64 of them does not delay those requests. The end of a layer
waits for the aggregator's first event, again no longer than this: its request is out in a few ms,
and a server slow to send its headers must not leave finished answers unstored meanwhile."""

RETRY_WAIT_FLOOR: Final = 1.0
"""Once the others of a layer are done, a reference waiting to retry is kept only if its wait is
at most twice what the others took, or this many seconds: a server asking for a minute (503 with
``Retry-After: 59``) must not hold an answer the others gave in 0.1 s."""

_DEADLINE: Final = object()
"""Put on a layer's queue when its time is up (``ref_timeout`` or the straggler cut-off)."""
_FLUSH: Final = object()
"""Put on a layer's queue ``HELD_AT_MOST`` after a reference's end was held: hand the held on."""
_ENDED: Final = object()
"""Put on the aggregator's queue when its task has ended."""


class MoaRun:
    """One run of a :class:`MoaRequest`. Iterate it once for events; read ``result`` at any time."""

    def __init__(
        self,
        request: MoaRequest,
        provider: ChatStreamer,
        clock: Callable[[], float] = time.perf_counter,
        budget: Budget | None = None,
    ) -> None:
        self.request = request
        self.provider = provider
        self.clock = clock
        self.budget = budget if budget is not None else Budget.default()
        """Fits and paces every call to its model's rate limits (shared by this user's moa processes)."""
        self.result = MoaResult(question=request.question)
        self.seed_base = random.randrange(1, 2**31 - 64)
        self._closing: set[asyncio.Task[None]] = set()
        """Tasks whose agent has ended and whose connection is being closed (awaited at the run's end)."""
        self._closes_held: list[Pace] = []
        """Streams whose responses close once the aggregator's request is out (``_hold_closes``)."""
        self._held: list[Event] = []
        """The end of the last layer, yielded once the next stage's requests are out (see ``_layer``)."""

    def __aiter__(self) -> AsyncIterator[Event]:
        return self._events()

    async def _events(self) -> AsyncIterator[Event]:
        request, result = self.request, self.result
        result.started_at = self.clock()
        answers: list[str] = []
        try:
            for layer in range(1, request.layers + 1):
                results: list[AgentResult] = []
                async for event in self._layer(layer, answers, results):
                    for held in self._release():
                        yield held
                    yield event
                answers = [r.text for r in results if r.ok]
                if not answers:
                    result.status, result.error = "failed", all_failed_message(results)
                    break
            else:
                # The aggregator's first event comes once its request is out (or it waits, or failed).
                async for event in self._aggregate(answers):
                    for held in self._release():
                        yield held
                    yield event
            for held in self._release():
                yield held
            result.finished_at = self.clock()
            yield Finished(result)
        finally:
            await self._closed()
            self.budget.flush()  # what the calls gave back and taught, for the other moa processes
            if result.status == "running":
                result.status = "interrupted"
                for agent_result in result.agents:
                    if agent_result.status == "running":
                        agent_result.status = "interrupted"
                        agent_result.finished_at = self.clock()

    async def _layer(
        self, layer: int, previous: list[str], results: list[AgentResult]
    ) -> AsyncIterator[Event]:
        """Run every reference of ``layer`` at once and yield their events as they arrive."""
        request = self.request
        queue: asyncio.Queue[object] = asyncio.Queue()
        loop = asyncio.get_running_loop()
        tasks: dict[asyncio.Task[None], AgentResult] = {}
        paces: dict[Agent, Pace] = {}
        panel = [(spec, sample) for spec in request.references for sample in range(request.samples)]
        for index, (spec, sample) in enumerate(panel):
            agent = Agent("reference", layer, index, spec.model, sample)
            agent_result = AgentResult(agent, started_at=self.clock())
            results.append(agent_result)
            self.result.references.append(agent_result)
            call = self._call(spec, previous, sample)
            if call.pace is not None:
                paces[agent] = call.pace
            tasks[asyncio.create_task(self._forward(agent_result, call, queue, previous))] = agent_result
        layer_start = loop.time()
        timers = []
        if request.ref_timeout is not None:
            timers.append(loop.call_at(layer_start + request.ref_timeout, queue.put_nowait, _DEADLINE))
        running = len(tasks)
        answered = 0
        majority = len(tasks) // 2 + 1
        retry_at: dict[Agent, float] = {}  # when each reference waiting to retry will send again
        others_done = layer_start
        backlog: deque[object] = deque()
        """Everything the streams have put on the queue by now: one pass of the event loop."""
        ends = 0  # how many references end in ``backlog``
        flush: asyncio.TimerHandle | None = None
        try:
            while running:
                if not backlog:
                    backlog.append(await queue.get())
                    while not queue.empty():
                        backlog.append(queue.get_nowait())
                    ends = sum(isinstance(x, AgentDone | AgentFailed) for x in backlog)
                item = backlog.popleft()
                if item is _DEADLINE:
                    break
                if item is _FLUSH:  # the others did not end soon after: what ended is handed on now
                    flush = None
                    for held in self._release():
                        yield held
                else:
                    if isinstance(item, AgentRetrying):
                        retry_at[item.agent] = loop.time() + item.wait
                    elif isinstance(item, AgentDone | AgentFailed):
                        retry_at.pop(item.result.agent, None)
                    else:  # it sends again: no longer waiting
                        retry_at.pop(item.agent, None)  # type: ignore[attr-defined]
                    if isinstance(item, AgentDone | AgentFailed):
                        others_done = loop.time()
                        running -= 1
                        ends -= 1
                        answered += isinstance(item, AgentDone)
                        if answered == 1 and isinstance(item, AgentDone) and layer == request.layers:
                            self._hold_closes(results, paces)
                        if running == 1:  # the aggregator waits on this one: it is read at full speed
                            for result in results:
                                if result.status == "running" and result.agent in paces:
                                    paces[result.agent].release()
                        # The clock for stragglers starts when a majority has *answered*: quick failures
                        # say nothing about how long a good answer takes.
                        just_answered = isinstance(item, AgentDone)
                        if request.straggler_factor > 0 and running and just_answered and answered == majority:
                            cutoff = layer_start + request.straggler_factor * (loop.time() - layer_start)
                            timers.append(loop.call_at(cutoff, queue.put_nowait, _DEADLINE))
                    if self._held or running <= ends or isinstance(item, AgentDone | AgentFailed):
                        # A reference's end waits a moment for the rest of its layer: the layer's ends
                        # are handed on once the next stage's requests are out (the recorder's rows, the
                        # renderers' lines come after them), or after HELD_AT_MOST if the others go on.
                        self._held.append(item)  # type: ignore[arg-type]
                        if flush is None and running > ends:
                            flush = loop.call_later(HELD_AT_MOST, queue.put_nowait, _FLUSH)
                            timers.append(flush)
                    else:
                        yield item  # type: ignore[misc]
                if answered and running and len(retry_at) == running:  # only retries are left
                    for task, agent_result in tasks.items():
                        wait = retry_at.get(agent_result.agent, loop.time()) - loop.time()
                        if wait > max(RETRY_WAIT_FLOOR, 2 * (others_done - layer_start)):
                            task.cancel()
                            await asyncio.gather(task, return_exceptions=True)
                            del retry_at[agent_result.agent]
                            running -= 1
                            yield self._left_out(
                                agent_result, f"still to retry in {wait:.2g}s, after the others were done"
                            )
            late = [(t, r) for t, r in tasks.items() if not t.done() and r.status == "running"]
            self._closing.update(t for t in tasks if not t.done() and tasks[t].status != "running")
            for task, _ in late:
                task.cancel()
            await asyncio.gather(*(t for t, _ in late), return_exceptions=True)
            while not queue.empty():
                backlog.append(queue.get_nowait())
            self._held.extend(x for x in backlog if x is not _DEADLINE and x is not _FLUSH)  # type: ignore[misc]
            now = loop.time()
            for _, agent_result in late:
                timed_out = request.ref_timeout is not None and now - layer_start >= request.ref_timeout
                agent_result.status = "timed_out" if timed_out else "dropped"
                waited = now - layer_start
                agent_result.error = (
                    f"{agent_result.agent.model}: no complete answer after {waited:.1f}s; left out"
                    if timed_out
                    else f"{agent_result.agent.model}: slower than the others ({waited:.1f}s); left out"
                )
                agent_result.error_kind = agent_result.status
                agent_result.finished_at = self.clock()
                self._held.append(AgentFailed(agent_result))
        finally:
            for timer in timers:
                timer.cancel()
            pending = [t for t in tasks if not t.done() and t not in self._closing]
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)

    def _hold_closes(self, results: list[AgentResult], paces: dict[Agent, Pace]) -> None:
        """The last layer's others close their responses after the aggregator's request is out.

        Each close walks every open connection of the pool; 64 of them ending together would
        delay the aggregator's request. The first to answer closes at once: its connection is free
        for that request. (Between layers all close at once: the next layer needs every one.)
        """
        for result in results:
            if result.status == "running" and (pace := paces.get(result.agent)) is not None:
                pace.hold_close()
                self._closes_held.append(pace)

    def _let_close(self) -> None:
        for pace in self._closes_held:
            pace.let_close()
        self._closes_held.clear()

    async def _closed(self) -> None:
        """Every connection still being closed, closed; an interrupted run does not wait for them."""
        self._let_close()
        if self.result.status == "running":
            for task in self._closing:
                task.cancel()
        await asyncio.gather(*self._closing, return_exceptions=True)
        self._closing.clear()

    def _release(self) -> list[Event]:
        held, self._held = self._held, []
        return held

    def _left_out(self, agent_result: AgentResult, why: str) -> AgentFailed:
        """``agent_result`` dropped from its layer, ``why`` saying so."""
        agent_result.status = agent_result.error_kind = "dropped"
        agent_result.error = f"{agent_result.agent.model}: left out: {why}"
        agent_result.finished_at = self.clock()
        return AgentFailed(agent_result)

    async def _aggregate(self, answers: list[str]) -> AsyncIterator[Event]:
        request = self.request
        spec = request.aggregator
        agent = Agent("aggregator", request.layers + 1, 0, spec.model)
        agent_result = AgentResult(agent, started_at=self.clock())
        self.result.aggregator = agent_result
        queue: asyncio.Queue[object] = asyncio.Queue()
        task = asyncio.create_task(self._forward(agent_result, self._call(spec, answers), queue, answers))
        task.add_done_callback(lambda _: queue.put_nowait(_ENDED))
        try:
            item: object = None
            if self._held:
                try:
                    item = await asyncio.wait_for(queue.get(), HELD_AT_MOST)
                except TimeoutError:  # its server is slow to answer: the request is out, store the layer's end now
                    self._let_close()
                    for held in self._release():
                        yield held
            if item is None:
                item = await queue.get()
            self._let_close()
            while item is not _ENDED:
                yield item  # type: ignore[misc]
                item = await queue.get()
            await task  # a bug in the aggregator's task is raised here, not lost
        finally:
            if not task.done():
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        if agent_result.ok:
            self.result.status = "complete"
        else:
            self.result.status, self.result.error = "failed", agent_result.error

    def _call(self, spec: ModelSpec, answers: list[str], sample: int | None = None) -> ChatCall:
        """The call for ``spec``; a Self-MoA ``sample`` gets its own seed and temperature."""
        request = self.request
        temperature, max_tokens, system = request.settings_for(spec)
        messages = build_messages(request.question, request.history, system, answers)
        if sample is None:  # the aggregator: every token goes out the moment it arrives
            return ChatCall(spec.model, messages, temperature, max_tokens)
        pace = Pace(REFERENCE_READ_INTERVAL)
        if request.samples == 1:
            return ChatCall(spec.model, messages, temperature, max_tokens, pace=pace)
        seed = self.seed_base + sample
        temperature = request.sample_temperature(temperature, sample)
        return ChatCall(spec.model, messages, temperature, max_tokens, seed, pace=pace)

    async def _forward(
        self, agent_result: AgentResult, call: ChatCall, queue: asyncio.Queue[object], answers: list[str]
    ) -> None:
        async for event in self._budgeted(agent_result, call, answers):
            queue.put_nowait(event)

    async def _budgeted(self, agent_result: AgentResult, call: ChatCall, answers: list[str]) -> AsyncIterator[Event]:
        """``call`` cut to fit its model's limits and sent when they allow (see :mod:`moa_cli.budget`).

        A call that cannot fit, or would wait for a daily limit, fails its agent without being sent.
        """
        try:
            call, note = self.budget.fit(call, answers)
            if note:
                yield AgentTrimmed(agent_result.agent, note)
            async for waiting in self.budget.clear(agent_result.agent, call):
                yield waiting
        except ProviderError as error:
            failed_with(agent_result, error)
            agent_result.finished_at = self.clock()
            yield AgentFailed(agent_result)
            return
        call = self.budget.watched(replace(call, reasoning_effort=self._effort(agent_result.agent)))
        settled = False
        try:
            async for event in stream_agent(self.provider, agent_result, call, self.clock):
                if isinstance(event, AgentDone | AgentFailed):  # settled before anyone hears the end
                    settled = True
                    self._settle(agent_result, call)
                yield event
        finally:
            if not settled:
                self._settle(agent_result, call)

    def _settle(self, agent_result: AgentResult, call: ChatCall) -> None:
        """What ``call`` used, given back to its budget; its cost kept in ``agent_result``."""
        self.budget.settle(call, agent_result.usage)
        agent_result.cost = self.budget.cost(call.model, agent_result.usage)

    def _effort(self, agent: Agent) -> str | None:
        """The reasoning effort for ``agent``'s model: its spec's, else the request's, else the config's."""
        request = self.request
        spec = request.aggregator if agent.role == "aggregator" else request.references[agent.index // request.samples]
        return effort_for(agent.model, spec.reasoning_effort or request.reasoning_effort, self.budget.models)


def all_failed_message(results: list[AgentResult]) -> str:
    """One line saying why no reference answered; a shared cause (a bad key) is said once."""
    errors = [r.error or r.status for r in results]
    if len(results) == 1 or {r.error_kind for r in results} == {"auth"}:
        return errors[0]
    causes = {error.removeprefix(f"{r.agent.model}: ") for r, error in zip(results, errors)}
    if len(causes) == 1:  # one cause for all, such as a server that cannot be reached
        return f"{causes.pop()} (all {len(results)} reference models)"
    return f"all {len(results)} reference models failed: " + "; ".join(errors)
