"""Groq, through the official ``groq`` SDK's ``AsyncGroq`` client, streaming.

Retries are ours, not the SDK's (it is built with ``max_retries=0``): we honour ``Retry-After`` up
to ``RetryPolicy.max_wait`` and report a longer wait (a daily limit) at once instead of retrying,
and we tell the UI when we wait. A call is only retried before any text has streamed, so an answer
is never duplicated.
"""

from __future__ import annotations

import asyncio
import email.utils
import random
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass

import groq
import httpx

from moa_cli.errors import MissingApiKeyError, ProviderError
from moa_cli.events import Usage
from moa_cli.providers.base import ChatCall, Chunk, Delta, Retrying

RETRYABLE_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504})


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how long to wait before retrying a failed request."""

    max_retries: int = 2
    base_delay: float = 0.5
    max_wait: float = 60.0

    def backoff(self, attempt: int) -> float:
        return min(self.base_delay * 2**attempt, 8.0) * (1 - 0.25 * random.random())


class GroqProvider:
    """Streams chat completions from Groq (or any server speaking its protocol)."""

    name = "groq"

    def __init__(
        self,
        *,
        api_key: str | None,
        base_url: str | None = None,
        timeout: float = 120.0,
        retry: RetryPolicy = RetryPolicy(),
    ) -> None:
        if not api_key:
            raise MissingApiKeyError(
                "GROQ_API_KEY is not set; create a key at https://console.groq.com/keys "
                "and run: export GROQ_API_KEY=gsk_..."
            )
        self.retry = retry
        self.base_url = base_url
        self._client = groq.AsyncGroq(
            api_key=api_key,
            base_url=base_url,
            max_retries=0,
            timeout=httpx.Timeout(timeout, connect=min(10.0, timeout)),
        )

    async def aclose(self) -> None:
        await self._client.close()

    async def stream(self, call: ChatCall) -> AsyncIterator[Chunk]:
        attempt = 0
        while True:
            streamed = False
            try:
                async for chunk in self._stream_once(call):
                    streamed = True
                    yield chunk
                return
            except ProviderError as error:
                wait = self._retry_wait(error, attempt)
                if streamed or wait is None:
                    raise
                attempt += 1
                yield Retrying(wait, error.args[0])
                await asyncio.sleep(wait)

    def _retry_wait(self, error: ProviderError, attempt: int) -> float | None:
        """Seconds to wait before retrying ``error``, or None when it must not be retried."""
        if attempt >= self.retry.max_retries:
            return None
        retryable = error.kind in ("connection", "server") or error.status in RETRYABLE_STATUS
        if not retryable:
            return None
        if error.retry_after is not None:
            return error.retry_after if error.retry_after <= self.retry.max_wait else None
        return self.retry.backoff(attempt)

    async def _stream_once(self, call: ChatCall) -> AsyncIterator[Chunk]:
        kwargs: dict[str, object] = {}
        if call.seed is not None:
            kwargs["seed"] = call.seed
        try:
            stream = await self._client.chat.completions.create(
                model=call.model,
                messages=[m.as_dict() for m in call.messages],  # type: ignore[misc]
                temperature=call.temperature,
                max_completion_tokens=call.max_tokens,
                stream=True,
                **kwargs,  # type: ignore[arg-type]
            )
        except groq.APIError as exc:
            raise provider_error(exc, call.model, self.base_url) from None
        try:
            async for chunk in stream:
                x_groq = getattr(chunk, "x_groq", None)
                if x_groq is not None and x_groq.error:
                    raise ProviderError(
                        f"{call.model}: Groq stopped the answer: {x_groq.error}",
                        kind="stream",
                        model=call.model,
                    )
                for choice in chunk.choices:
                    delta = choice.delta
                    if delta.reasoning:
                        yield Delta("reasoning", delta.reasoning)
                    if delta.content:
                        yield Delta("text", delta.content)
                usage = getattr(x_groq, "usage", None) or chunk.usage
                if usage is not None:
                    yield Usage(
                        prompt_tokens=usage.prompt_tokens,
                        completion_tokens=usage.completion_tokens,
                        queue_time=usage.queue_time,
                        prompt_time=usage.prompt_time,
                        completion_time=usage.completion_time,
                    )
        except groq.APIError as exc:
            raise provider_error(exc, call.model, self.base_url) from None
        except httpx.HTTPError as exc:
            raise ProviderError(
                f"{call.model}: the connection dropped mid-answer ({type(exc).__name__})",
                kind="connection",
                model=call.model,
            ) from None
        finally:
            await stream.close()


def provider_error(exc: groq.APIError, model: str, base_url: str | None) -> ProviderError:
    """Turn an SDK exception into a one-line :class:`ProviderError` naming the model."""
    if isinstance(exc, groq.APITimeoutError):
        return ProviderError(f"{model}: timed out waiting for Groq", kind="timeout", model=model)
    if isinstance(exc, groq.APIConnectionError):
        where = base_url or "api.groq.com"
        return ProviderError(f"{model}: cannot connect to {where}", kind="connection", model=model)
    if not isinstance(exc, groq.APIStatusError):
        message = exc.message or "error inside the stream"
        return ProviderError(f"{model}: Groq stopped the answer: {message}", kind="stream", model=model)

    status = exc.status_code
    message, code = _error_details(exc.body, exc.response.text)
    retry_after = parse_retry_after(exc.response.headers)
    if status in (401, 403):
        kind, text = "auth", f"Groq rejected the API key ({status}: {message}); check GROQ_API_KEY"
    elif status == 404 or code in ("model_not_found", "model_decommissioned"):
        kind = "model_not_found"
        text = f"model '{model}' is not available on Groq ({message})"
    elif status == 413:
        kind, text = "too_large", f"request too large for {model}'s limit ({message})"
    elif status == 429:
        kind = "rate_limited"
        text = f"rate limit reached for {model} ({message})"
        if retry_after is not None:
            text += f"; Groq asks to wait {format_wait(retry_after)}"
    elif status >= 500:
        kind, text = "server", f"{model}: Groq server error {status} ({message})"
    else:
        kind, text = "bad_request", f"{model}: request refused ({status}: {message})"
    return ProviderError(text, kind=kind, model=model, status=status, retry_after=retry_after)


def _error_details(body: object, raw: str) -> tuple[str, str | None]:
    """The human message and the machine code from a Groq error body."""
    if isinstance(body, Mapping):
        error = body.get("error", body)
        if isinstance(error, Mapping):
            message = error.get("message")
            code = error.get("code")
            if isinstance(message, str) and message:
                return message.strip(), code if isinstance(code, str) else None
    text = " ".join(raw.split())[:200]
    return text or "no details", None


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds from ``retry-after-ms`` or ``retry-after`` (seconds or an HTTP date)."""
    if (ms := headers.get("retry-after-ms")) is not None:
        try:
            return float(ms) / 1000
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        parsed = email.utils.parsedate_tz(value)
        if parsed is None:
            return None
        return max(0.0, email.utils.mktime_tz(parsed) - time.time())


def format_wait(seconds: float) -> str:
    """``7.5s``, ``7m12s`` or ``3h05m``: a wait as a person reads it."""
    if seconds < 60:
        return f"{seconds:g}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"
