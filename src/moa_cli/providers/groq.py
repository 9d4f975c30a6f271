"""Groq, through the official ``groq`` SDK's ``AsyncGroq`` client, streaming."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import groq

from moa_cli.errors import MissingApiKeyError, UsageError
from moa_cli.providers.base import Chunk
from moa_cli.providers.registry import GROQ_KEY_HINT, GROQ_URL, ProviderConfig
from moa_cli.providers.sdk import RetryPolicy, SdkProvider, client_timeout, http_client
from moa_cli.providers.wire import usage_of


class GroqProvider(SdkProvider):
    """Streams chat completions from Groq (or any server speaking its protocol at ``base_url``).

    Usage and Groq's own timings arrive in the last chunk's ``x_groq``; an error Groq reports
    after HTTP 200 arrives as ``x_groq.error`` or as an ``error`` event.
    """

    requests_period = 86400.0  # Groq's x-ratelimit-*-requests count requests per day
    chat_path = "/openai/v1/chat/completions"  # the SDK's base URL is the server's root

    def __init__(
        self, config: ProviderConfig, *, api_key: str | None, timeout: float, retry: RetryPolicy = RetryPolicy()
    ) -> None:
        if not api_key:
            raise MissingApiKeyError(f"GROQ_API_KEY is not set; {GROQ_KEY_HINT}")
        base_url = groq_base_url(config.base_url)
        client = groq.AsyncGroq(
            api_key=api_key,
            base_url=base_url,
            default_headers=dict(config.headers),
            max_retries=0,
            timeout=client_timeout(groq, config.timeout or timeout),
            http_client=http_client(groq),
        )
        super().__init__(
            client,
            groq,
            label=config.display,
            key_env=config.key_env,
            where=base_url or GROQ_URL,
            retry=retry,
            max_tokens_field=config.max_tokens_field,
            max_concurrency=config.max_concurrency,
        )

    def _chunks(self, model: str, chunk: dict[str, Any]) -> Iterable[Chunk]:
        x_groq = chunk.get("x_groq") or {}
        if x_groq.get("error"):
            raise self._stream_error(model, x_groq["error"])
        yield from super()._chunks(model, chunk)
        if (usage := x_groq.get("usage")) and not chunk.get("usage"):
            yield usage_of(usage)


def groq_base_url(url: str | None) -> str | None:
    """``url`` as the groq SDK wants it: the server's root, to which the SDK adds ``/openai/v1``.

    A URL ending in ``/openai/v1`` (Groq's documented endpoint) is cut back to its root; one ending
    in ``/v1`` names an OpenAI-style endpoint the SDK cannot reach, and is explained
    (:class:`UsageError`, exit 2).
    """
    if url is None:
        return None
    root = url.rstrip("/")
    if root.endswith("/openai/v1"):
        return root.removesuffix("/openai/v1")
    if root.endswith("/v1"):
        raise UsageError(
            f"the Groq base URL {url} ends in /v1, but the groq SDK adds /openai/v1 itself: give the "
            f"server's root ({root.removesuffix('/v1')}), or for an OpenAI-compatible server declare "
            f'[providers.NAME] base_url = "{url}" in the config file and use NAME:MODEL'
        )
    return url
