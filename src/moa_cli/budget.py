"""The token budget: before each request, fit it to its model's limits and wait until it may go.

A request never leaves when it cannot fit the model's per-minute token limit (or its context
window): its ``max_tokens`` is lowered first, down to :data:`FLOOR_TOKENS`, then the answers it
carries (the aggregator's) are shortened evenly, and one line says what was cut. A request that
fits the limit but not what is left of the current minute waits exactly until enough frees,
counting down; a daily limit that will not free within :data:`MAX_WAIT` fails at once, saying
when it resets. What each request may use is written to the shared :class:`LimitsBook` before it
leaves, so a second moa process waits its turn instead of collecting a 429; what a request gave
back or its headers taught is written later (with the next reservation, or :meth:`Budget.flush`
at the end of a run), never between the last reference and the aggregator's request.

Token counts are moa's cautious estimates (:func:`estimate_tokens`), scaled by how the model's
own counts compared with them before (``token_ratio``).
"""

from __future__ import annotations

import asyncio
import hashlib
import math
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import partial

from moa_cli.context import estimate_tokens
from moa_cli.errors import ProviderError
from moa_cli.events import Agent, AgentWaiting, Usage
from moa_cli.limits import DAY, MINUTE, LimitsBook, ModelLimits, Window, observe_headers, wall_clock
from moa_cli.model_limits import BUILTIN_MODELS, ModelConfig, cost
from moa_cli.prompts import answers_message
from moa_cli.providers.base import ChatCall
from moa_cli.providers.sdk import format_wait
from moa_cli.request import Message

FLOOR_TOKENS = 512
"""``max_tokens`` is never lowered below this to make a request fit: answers are shortened instead."""
MAX_WAIT = 60.0
"""Longer waits (a daily limit) are reported at once instead of waited for."""
RATIO_MARGIN = 1.1
"""Estimates scaled by a learned ratio keep this much room for the ratio being off."""
MESSAGE_OVERHEAD = 4
"""Tokens a chat template adds around each message."""


class TooLarge(ValueError):
    """Even with ``max_tokens`` at its floor and the answers cut to nothing, the request does not fit."""


def even_caps(sizes: Sequence[int], room: int) -> list[int]:
    """Each size capped at one common cap, the largest for which they add up to at most ``room``."""
    if sum(sizes) <= room:
        return list(sizes)
    cap, left, rest = 0, max(room, 0), sorted(sizes)
    for count, size in enumerate(rest):
        share = left // (len(rest) - count)
        if size > share:
            cap = share
            break
        left -= size
    return [min(size, cap) for size in sizes]


def fit_tokens(limit: int, base: int, answers: Sequence[int], max_tokens: int, floor: int = FLOOR_TOKENS) -> tuple[int, list[int]]:
    """``max_tokens`` and answer sizes such that ``base + sum(answers) + max_tokens <= limit``.

    ``max_tokens`` is lowered first (not below ``floor``), then the answers are capped evenly.
    Raises :class:`TooLarge` when the base alone leaves no room.
    """
    room = limit - base - sum(answers)
    if max_tokens <= room:
        return max_tokens, list(answers)
    lowered = max(min(max_tokens, floor), room)
    if lowered <= room:
        return lowered, list(answers)
    keep = limit - base - lowered
    if keep < 16 * len(answers):  # not even a few words of each answer (or, with none, no room at all)
        raise TooLarge(f"{base:,} prompt tokens + {lowered:,} for the answer exceed {limit:,}")
    return lowered, even_caps(answers, keep)


def shorten(text: str, tokens: int, estimate: Callable[[str], int]) -> str:
    """``text`` cut at a word boundary to about ``tokens`` (by ``estimate``), marked ``[…]``."""
    if estimate(text) <= tokens:
        return text
    low, high = 0, len(text)
    while low < high:  # the longest prefix that fits
        middle = (low + high + 1) // 2
        if estimate(text[:middle]) + 2 <= tokens:
            low = middle
        else:
            high = middle - 1
    cut = text[:low]
    if " " in cut[len(cut) // 2 :]:
        cut = cut[: cut.rfind(" ")]
    return cut.rstrip() + " […]"


def digests(messages: Sequence[Message]) -> tuple[str, ...]:
    """One short digest per message: enough to tell which leading messages a server may have cached."""
    return tuple(hashlib.sha256(f"{m.role}\0{m.content}".encode()).hexdigest()[:16] for m in messages)


def _shared_prefix(a: Sequence[str], b: Sequence[str]) -> int:
    count = 0
    for x, y in zip(a, b):
        if x != y:
            break
        count += 1
    return count


@dataclass
class Budget:
    """Fits and paces every request against what is known of its model's limits.

    ``models`` are the declared limits (config and built-in); ``book`` the learned ones, shared.
    """

    book: LimitsBook
    models: Mapping[str, ModelConfig] = field(default_factory=lambda: BUILTIN_MODELS)
    clock: Callable[[], float] = wall_clock
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    max_wait: float = MAX_WAIT
    _sent: dict[int, tuple[int, bool]] = field(default_factory=dict)
    """Per call in flight (by id): tokens reserved, and whether the server has answered since."""

    @classmethod
    def default(cls, models: Mapping[str, ModelConfig] = BUILTIN_MODELS) -> Budget:
        """The budget shared by every moa process of this user (``limits.json`` in the data directory)."""
        from moa_cli.paths import data_dir

        return cls(LimitsBook(data_dir() / "limits.json"), models)

    # -- sizes ---------------------------------------------------------------------------------

    def _ratio(self, known: ModelLimits) -> float:
        if known.token_ratio is None:
            return 1.0
        return min(max(known.token_ratio * RATIO_MARGIN, 0.1), 2.0)

    def _size(self, text: str, ratio: float) -> int:
        return math.ceil(estimate_tokens(text) * ratio)

    def prompt_tokens(self, messages: Sequence[Message], ratio: float) -> int:
        return sum(self._size(m.content, ratio) + MESSAGE_OVERHEAD for m in messages)

    def limit(self, model: str, known: ModelLimits) -> int | None:
        """Most tokens one request may take: the per-minute limit or the context window, the smaller."""
        declared = self.models.get(model, ModelConfig())
        limits = [x for x in (known.tokens.limit if known.tokens else declared.tpm, declared.context_window) if x]
        return min(limits) if limits else None

    def smallest_limit(self, models: Sequence[str]) -> int | None:
        """The smallest per-request token limit known among ``models`` (None if none is known):
        what a conversation must fit besides the context window (see ``fit_history_to_rate_limit``)."""
        limits = [x for m in models if (x := self.limit(m, self.book.get(m))) is not None]
        return min(limits) if limits else None

    # -- fitting -------------------------------------------------------------------------------

    def fit(self, call: ChatCall, answers: Sequence[str]) -> tuple[ChatCall, str | None]:
        """``call`` cut to fit its model's limits, and one line saying what was cut (None if nothing).

        ``answers`` are the ones ``call`` carries in its last message. Raises
        :class:`ProviderError` (kind ``too_large``) when nothing can make it fit.
        """
        known = self.book.get(call.model)
        declared = self.models.get(call.model, ModelConfig())
        max_tokens = min(call.max_tokens, declared.max_output or call.max_tokens)
        limit = self.limit(call.model, known)
        if limit is None:
            return replace(call, max_tokens=max_tokens), None
        ratio = self._ratio(known)
        size = partial(self._size, ratio=ratio)
        sizes = [size(a) for a in answers]
        base = self.prompt_tokens(call.messages, ratio) - sum(sizes)
        try:
            fitted, caps = fit_tokens(limit, base, sizes, max_tokens)
        except TooLarge as exc:
            raise ProviderError(
                f"{call.model}: the request is too large for its limit of {limit:,} tokens ({exc}); "
                "shorten the question or the conversation",
                kind="too_large",
                model=call.model,
            ) from None
        cut = [i for i, (cap, was) in enumerate(zip(caps, sizes)) if cap < was]
        notes = []
        if fitted < max_tokens:
            notes.append(f"max tokens {max_tokens:,} → {fitted:,}")
        if cut:
            shortened = [shorten(a, cap, size) if cap < was else a for a, cap, was in zip(answers, caps, sizes)]
            call = replace(call, messages=(*call.messages[:-1], answers_message(shortened)))
            notes.append(f"{len(cut)} of {len(answers)} answers shortened to ~{max(caps):,} tokens each")
        call = replace(call, max_tokens=fitted)
        if not notes:
            return call, None
        return call, f"{call.model}: {'; '.join(notes)}, to fit its limit of {limit:,} tokens per request"

    # -- pacing --------------------------------------------------------------------------------

    async def clear(self, agent: Agent, call: ChatCall) -> AsyncIterator[AgentWaiting]:
        """Wait until ``call`` fits what is left of its model's limits, counting down; then reserve it.

        Raises :class:`ProviderError` (kind ``rate_limited``) when the wait is longer than ``max_wait``.
        """
        while True:
            wait, reason = self._reserve(call)
            if wait <= 0:
                return
            if math.isinf(wait):
                raise ProviderError(f"{call.model}: {reason}: more than it will ever allow", kind="too_large", model=call.model)
            if wait > self.max_wait:
                raise ProviderError(f"{call.model}: {reason}; it frees in {format_wait(math.ceil(wait))}",
                                    kind="rate_limited", model=call.model, retry_after=wait)
            deadline = self.clock() + wait
            while (left := deadline - self.clock()) > 0:
                yield AgentWaiting(agent, left, reason)
                await self.sleep(min(1.0, left))

    def _reserve(self, call: ChatCall) -> tuple[float, str]:
        """Take ``call``'s tokens and one request from the book if they are free now; else how long to wait, and why."""
        verdict: list[tuple[float, str]] = []
        declared = self.models.get(call.model, ModelConfig())

        def change(known: ModelLimits) -> ModelLimits:
            at = self.clock()
            known = _with_declared(known, declared, at)
            ratio = self._ratio(known)
            sent = digests(call.messages)
            cached = _shared_prefix(sent, known.prefix)
            need = self.prompt_tokens(call.messages, ratio) - self.prompt_tokens(call.messages[:cached], ratio)
            need += call.max_tokens
            waits = [(0.0, "")]
            if known.tokens:
                waits.append((known.tokens.wait_for(need, at), f"waiting for {need:,} of {known.tokens.limit:,} tokens a minute"))
            if known.rpm:
                waits.append((known.rpm.wait_for(1, at), f"{known.rpm.limit:,} requests a minute reached"))
            if known.requests:
                waits.append((known.requests.wait_for(1, at), f"daily limit of {known.requests.limit:,} requests reached"))
            wait, reason = max(waits)
            wait = 0.0 if wait < 0.001 else wait  # a millisecond is rounding, not a wait
            verdict.append((wait, reason))
            if wait > 0:
                return known
            self._sent[id(call)] = (need, False)
            return replace(
                known,
                tokens=known.tokens.take(need, at) if known.tokens else None,
                rpm=known.rpm.take(1, at) if known.rpm else None,
                requests=known.requests.take(1, at) if known.requests else None,
                prefix=sent,
            )

        if not self._limited(call.model):
            return 0.0, ""
        self.book.update(call.model, change)
        return verdict[0]

    def _limited(self, model: str) -> bool:
        """Whether anything is known of ``model``'s limits (else the book is not even written)."""
        known, declared = self.book.get(model), self.models.get(model, ModelConfig())
        return any((known.tokens, known.requests, known.rpm, declared.tpm, declared.rpm, declared.rpd))

    def cost(self, model: str, usage: Usage | None) -> float | None:
        """US$ for ``usage`` at ``model``'s price (None when either is unknown)."""
        price = self.models.get(model, ModelConfig()).price
        if usage is None or price is None:
            return None
        return cost(usage.prompt_tokens, usage.cached_tokens, usage.completion_tokens, price)

    # -- learning ------------------------------------------------------------------------------

    def watched(self, call: ChatCall) -> ChatCall:
        """``call`` with an ``on_headers`` that writes what each response says into the book."""

        key: list[int] = []

        def observe(headers: Mapping[str, str], requests_period: float) -> None:
            if not any(name.lower().startswith("x-ratelimit-") for name in headers):
                return
            if key[0] in self._sent:
                self._sent[key[0]] = (self._sent[key[0]][0], True)
            at = self.clock()
            self.book.update_later(call.model, lambda known: observe_headers(known, headers, requests_period, at))

        watched = replace(call, on_headers=observe)
        key.append(id(watched))
        if id(call) in self._sent:
            self._sent[id(watched)] = self._sent.pop(id(call))
        return watched

    def settle(self, call: ChatCall, usage: Usage | None) -> None:
        """After ``call``: give back what it reserved but did not use; learn how the model counts tokens."""
        reserved, answered = self._sent.pop(id(call), (0, False))
        if not self._limited(call.model):
            return
        at = self.clock()
        if usage is not None:
            unused = max(call.max_tokens - usage.completion_tokens, 0)
            estimate = self.prompt_tokens(call.messages, 1.0)
            ratio = usage.prompt_tokens / estimate if usage.prompt_tokens and estimate else None
        else:
            unused, ratio = (0 if answered else reserved), None  # no answer: the server charged nothing

        def change(known: ModelLimits) -> ModelLimits:
            tokens = known.tokens.give(unused, at) if known.tokens and unused else known.tokens
            return replace(known, tokens=tokens, token_ratio=ratio or known.token_ratio)

        # Nothing waits on this being shared at once: the next reservation writes it, or flush().
        self.book.update_later(call.model, change)

    def flush(self) -> None:
        """Share what :meth:`settle` and the headers taught this process with the others."""
        self.book.flush()


def _with_declared(known: ModelLimits, declared: ModelConfig, at: float) -> ModelLimits:
    """``known``, with full windows for the limits the config declares and no server has announced."""
    return replace(
        known,
        tokens=known.tokens or (Window.full(declared.tpm, MINUTE, at) if declared.tpm else None),
        rpm=known.rpm or (Window.full(declared.rpm, MINUTE, at) if declared.rpm else None),
        requests=known.requests or (Window.full(declared.rpd, DAY, at) if declared.rpd else None),
    )
