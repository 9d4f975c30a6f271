"""Groq's free-tier rate limits and prompt cache, emulated for :mod:`groq_server` (off unless asked).

Per model: a daily request allowance and a per-minute token allowance, each a bucket refilled
continuously (as Groq's are), announced on every response in ``x-ratelimit-*`` headers; a request
whose prompt plus ``max_tokens`` exceeds the per-minute limit gets 413, one that does not fit what
is left of the minute gets 429 with ``retry-after``. Prompt tokens that repeat the exact start of
an earlier prompt to the same model are cached: reported in ``usage.prompt_tokens_details`` and not
counted toward the limits. A request is charged its uncached prompt plus ``max_tokens`` when it is
admitted; what it did not generate is given back when it ends.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

ORG = "org_test"
UPGRADE = " Need more tokens? Upgrade to Dev Tier today at https://console.groq.com/settings/billing"
CACHE_DEPTH = 32
"""Earlier prompts remembered per model for prefix matching."""


@dataclass(frozen=True, slots=True)
class TierLimits:
    """One model's limits: requests per day and tokens per minute."""

    rpd: int = 1000
    tpm: int = 8000


FREE_TIER = {
    "openai/gpt-oss-120b": TierLimits(rpd=1000, tpm=8000),
    "openai/gpt-oss-20b": TierLimits(rpd=1000, tpm=8000),
    "qwen/qwen3.8-27b": TierLimits(rpd=1000, tpm=6000),
}
"""Groq's free tier for the default models (late 2026)."""


def format_reset(seconds: float) -> str:
    """Groq's reset format: ``7.66s``, ``2m59.56s``, ``3h2m1s``."""
    seconds = max(seconds, 0.0)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    text = f"{round(secs, 2):g}s"
    if minutes or hours:
        text = f"{int(minutes)}m{text}"
    if hours:
        text = f"{int(hours)}h{text}"
    return text


def prompt_words(messages: list[dict[str, Any]]) -> list[str]:
    """The prompt as the cache sees it: a role marker, then each word, for every message."""
    words: list[str] = []
    for message in messages:
        content = message.get("content")
        text = content if isinstance(content, str) else ""
        words.append(f"\0{message.get('role')}")
        words.extend(text.split())
    return words


def _common_words(a: list[str], b: list[str]) -> int:
    """Content words (not role markers) in the longest common prefix of ``a`` and ``b``."""
    count = 0
    for x, y in zip(a, b):
        if x != y:
            break
        count += not x.startswith("\0")
    return count


@dataclass(slots=True)
class _Bucket:
    capacity: float
    period: float
    level: float
    at: float

    def refill(self, now: float) -> None:
        self.level = min(self.capacity, self.level + (now - self.at) * self.capacity / self.period)
        self.at = now

    def wait_for(self, amount: float) -> float:
        return max(0.0, (amount - self.level) * self.period / self.capacity)

    def reset(self) -> float:
        """Seconds until full."""
        return (self.capacity - self.level) * self.period / self.capacity


@dataclass(slots=True)
class _ModelState:
    requests: _Bucket
    tokens: _Bucket
    prompts: list[list[str]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Grant:
    """An admitted request: what it was charged, its cached prompt tokens, and the headers to send."""

    model: str
    charged: int
    max_tokens: int
    cached_tokens: int
    headers: dict[str, str]


@dataclass(frozen=True, slots=True)
class Refusal:
    """A refused request: HTTP status, Groq's error body and headers."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str]


class Limiter:
    """The limits of every model (``"*"`` for the rest); ``minute`` seconds make a minute (tests shrink it)."""

    def __init__(
        self,
        limits: dict[str, TierLimits],
        *,
        minute: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limits = dict(limits)
        self.minute = minute
        self.clock = clock
        self._lock = threading.Lock()
        self._models: dict[str, _ModelState] = {}

    def _state(self, model: str, now: float) -> _ModelState | None:
        limits = self.limits.get(model) or self.limits.get("*")
        if limits is None:
            return None
        if model not in self._models:
            day = self.minute * 24 * 60
            self._models[model] = _ModelState(
                _Bucket(limits.rpd, day, limits.rpd, now), _Bucket(limits.tpm, self.minute, limits.tpm, now)
            )
        state = self._models[model]
        state.requests.refill(now)
        state.tokens.refill(now)
        return state

    def admit(
        self, model: str, messages: list[dict[str, Any]], prompt_tokens: int, max_tokens: int
    ) -> Grant | Refusal | None:
        """Charge and admit the request, or refuse it; None when ``model`` has no limits."""
        with self._lock:
            state = self._state(model, self.clock())
            if state is None:
                return None
            tpm, rpd = int(state.tokens.capacity), int(state.requests.capacity)
            words = prompt_words(messages)
            cached = min(prompt_tokens, max((_common_words(words, p) for p in state.prompts), default=0))
            where = f"for model `{model}` in organization `{ORG}` service tier `on_demand`"
            if prompt_tokens + max_tokens > tpm:
                message = (
                    f"Request too large {where} on tokens per minute (TPM): Limit {tpm}, Requested "
                    f"{prompt_tokens + max_tokens}, please reduce your message size and try again.{UPGRADE}"
                )
                return Refusal(413, _error(message, "tokens"), self._headers(state))
            if state.requests.level < 1:
                wait = state.requests.wait_for(1)
                message = (
                    f"Rate limit reached {where} on requests per day (RPD): Limit {rpd}, Used {rpd}, "
                    f"Requested 1. Please try again in {format_reset(wait)}.{UPGRADE}"
                )
                return Refusal(429, _error(message, "requests"), self._headers(state, wait))
            charge = prompt_tokens - cached + max_tokens
            if charge > state.tokens.level:
                wait = state.tokens.wait_for(charge)
                used = tpm - int(state.tokens.level)
                message = (
                    f"Rate limit reached {where} on tokens per minute (TPM): Limit {tpm}, Used {used}, "
                    f"Requested {charge}. Please try again in {format_reset(wait)}.{UPGRADE}"
                )
                return Refusal(429, _error(message, "tokens"), self._headers(state, wait))
            state.requests.level -= 1
            state.tokens.level -= charge
            state.prompts = [words, *state.prompts[: CACHE_DEPTH - 1]]
            return Grant(model, charge, max_tokens, cached, self._headers(state))

    def settle(self, grant: Grant, completion_tokens: int) -> None:
        """Give back the part of ``max_tokens`` the answer did not use."""
        with self._lock:
            state = self._state(grant.model, self.clock())
            if state is not None:
                unused = max(grant.max_tokens - completion_tokens, 0)
                state.tokens.level = min(state.tokens.capacity, state.tokens.level + unused)

    @staticmethod
    def _headers(state: _ModelState, retry_after: float | None = None) -> dict[str, str]:
        requests, tokens = state.requests, state.tokens
        headers = {
            "x-ratelimit-limit-requests": str(int(requests.capacity)),
            "x-ratelimit-limit-tokens": str(int(tokens.capacity)),
            "x-ratelimit-remaining-requests": str(max(int(requests.level), 0)),
            "x-ratelimit-remaining-tokens": str(max(int(tokens.level), 0)),
            "x-ratelimit-reset-requests": format_reset(requests.reset()),
            "x-ratelimit-reset-tokens": format_reset(tokens.reset()),
        }
        if retry_after is not None:
            headers["retry-after"] = str(max(1, math.ceil(retry_after)))
        return headers


def _error(message: str, kind: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "code": "rate_limit_exceeded"}}
