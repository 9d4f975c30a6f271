"""Groq, through the official ``groq`` SDK's ``AsyncGroq`` client, streaming."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import groq

from moa_cli.errors import MissingApiKeyError, ProviderError
from moa_cli.providers.base import Chunk
from moa_cli.providers.registry import GROQ_KEY_HINT
from moa_cli.providers.sdk import RetryPolicy, SdkProvider, client_timeout, usage_of


class GroqProvider(SdkProvider):
    """Streams chat completions from Groq (or any server speaking its protocol at ``base_url``).

    Usage and Groq's own timings arrive in the last chunk's ``x_groq``; an error Groq reports
    after HTTP 200 arrives as ``x_groq.error`` or as an ``error`` event, which the SDK raises.
    """

    def __init__(
        self,
        *,
        api_key: str | None,
        base_url: str | None = None,
        timeout: float = 120.0,
        retry: RetryPolicy = RetryPolicy(),
    ) -> None:
        if not api_key:
            raise MissingApiKeyError(f"GROQ_API_KEY is not set; {GROQ_KEY_HINT}")
        client = groq.AsyncGroq(api_key=api_key, base_url=base_url, max_retries=0, timeout=client_timeout(timeout))
        where = base_url or "api.groq.com"
        super().__init__(client, groq, label="Groq", key_env="GROQ_API_KEY", where=where, retry=retry)

    def _chunks(self, chunk: Any) -> Iterable[Chunk]:
        x_groq = getattr(chunk, "x_groq", None)
        if x_groq is not None and x_groq.error:
            model = chunk.model
            raise ProviderError(f"{model}: Groq stopped the answer: {x_groq.error}", kind="stream", model=model)
        yield from super()._chunks(chunk)
        if x_groq is not None and x_groq.usage is not None and chunk.usage is None:
            yield usage_of(x_groq.usage)
