"""What the Groq and OpenAI-compatible providers share: both SDKs come from one generator (Stainless),
with the same streaming API and the same exception classes, so retries and error messages live here.

Retries are ours, not the SDK's (clients are built with ``max_retries=0``): we honour
``Retry-After`` up to ``RetryPolicy.max_wait`` and report a longer wait (a daily limit) at once
instead of retrying, and we tell the UI when we wait. A call is only retried before any text has
streamed, so an answer is never duplicated.
"""

from __future__ import annotations

import asyncio
import email.utils
import random
import time
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import httpx

from moa_cli.errors import ProviderError
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


def client_timeout(timeout: float) -> httpx.Timeout:
    """The per-request timeout: ``timeout`` to read, at most 10 s to connect."""
    return httpx.Timeout(timeout, connect=min(10.0, timeout))


class SdkProvider:
    """Streams chat completions through an async Stainless SDK client (``AsyncGroq``, ``AsyncOpenAI``).

    ``label`` names the service in messages ("Groq"), ``where`` its address; ``key_env`` is the
    environment variable its key comes from.
    """

    def __init__(
        self,
        client: Any,
        sdk: ModuleType,
        *,
        label: str,
        key_env: str | None,
        where: str,
        retry: RetryPolicy = RetryPolicy(),
        max_tokens_field: str = "max_completion_tokens",
    ) -> None:
        self._client = client
        self._sdk = sdk
        self.label = label
        self.key_env = key_env
        self.where = where
        self.retry = retry
        self.max_tokens_field = max_tokens_field

    async def aclose(self) -> None:
        await self._client.close()

    async def list_models(self) -> list[str]:
        """The ids of the models the service serves now."""
        try:
            page = await self._client.models.list()
        except self._sdk.APIError as exc:
            raise self.error(exc, "models") from None
        except httpx.HTTPError as exc:
            raise ProviderError(f"{self.label}: {type(exc).__name__}", kind="connection", model="models") from None
        return sorted(model.id for model in page.data)

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

    def _request_options(self, call: ChatCall) -> dict[str, Any]:
        """Keyword arguments for ``chat.completions.create``; providers add their own."""
        options: dict[str, Any] = {self.max_tokens_field: call.max_tokens}
        if call.seed is not None:
            options["seed"] = call.seed
        return options

    def _chunks(self, chunk: Any) -> Iterable[Chunk]:
        """What one streamed SDK chunk carries: answer and reasoning deltas, and usage."""
        for choice in chunk.choices:
            delta = choice.delta
            reasoning = getattr(delta, "reasoning", None) or getattr(delta, "reasoning_content", None)
            if reasoning:
                yield Delta("reasoning", reasoning)
            if delta.content:
                yield Delta("text", delta.content)
        if chunk.usage is not None:
            yield usage_of(chunk.usage)

    async def _stream_once(self, call: ChatCall) -> AsyncIterator[Chunk]:
        try:
            stream = await self._client.chat.completions.create(
                model=call.model,
                messages=[m.as_dict() for m in call.messages],
                temperature=call.temperature,
                stream=True,
                **self._request_options(call),
            )
        except self._sdk.APIError as exc:
            raise self.error(exc, call.model) from None
        try:
            async for chunk in stream:
                for item in self._chunks(chunk):
                    yield item
        except self._sdk.APIError as exc:
            raise self.error(exc, call.model) from None
        except httpx.HTTPError as exc:
            raise ProviderError(
                f"{call.model}: the connection dropped mid-answer ({type(exc).__name__})",
                kind="connection",
                model=call.model,
            ) from None
        finally:
            await stream.close()

    def error(self, exc: Exception, model: str) -> ProviderError:
        """Turn an SDK exception into a one-line :class:`ProviderError` naming the model."""
        sdk, label = self._sdk, self.label
        if isinstance(exc, sdk.APITimeoutError):
            return ProviderError(f"{model}: timed out waiting for {label}", kind="timeout", model=model)
        if isinstance(exc, sdk.APIConnectionError):
            return ProviderError(f"{model}: cannot connect to {self.where}", kind="connection", model=model)
        if not isinstance(exc, sdk.APIStatusError):
            message = getattr(exc, "message", None) or "error inside the stream"
            return ProviderError(f"{model}: {label} stopped the answer: {message}", kind="stream", model=model)

        status = exc.status_code
        message, code = error_details(exc.body, exc.response.text)
        retry_after = parse_retry_after(exc.response.headers)
        if status in (401, 403):
            kind = "auth"
            text = f"{label} rejected the API key ({status}: {message})"
            if self.key_env:
                text += f"; check {self.key_env}"
        elif status == 404 or code in ("model_not_found", "model_decommissioned"):
            kind, text = "model_not_found", f"model '{model}' is not available on {label} ({message})"
        elif status == 413:
            kind, text = "too_large", f"request too large for {model}'s limit ({message})"
        elif status == 429:
            kind = "rate_limited"
            text = f"rate limit reached for {model} ({message})"
            if retry_after is not None:
                text += f"; {label} asks to wait {format_wait(retry_after)}"
        elif status >= 500:
            kind, text = "server", f"{model}: {label} server error {status} ({message})"
        else:
            kind, text = "bad_request", f"{model}: request refused ({status}: {message})"
        return ProviderError(text, kind=kind, model=model, status=status, retry_after=retry_after)


def usage_of(usage: Any) -> Usage:
    """Our :class:`Usage` from an SDK usage object (Groq adds its own timings)."""
    return Usage(
        prompt_tokens=usage.prompt_tokens or 0,
        completion_tokens=usage.completion_tokens or 0,
        queue_time=getattr(usage, "queue_time", None),
        prompt_time=getattr(usage, "prompt_time", None),
        completion_time=getattr(usage, "completion_time", None),
    )


def error_details(body: object, raw: str) -> tuple[str, str | None]:
    """The human message and the machine code from an error body (``{"error": {...}}``)."""
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
