"""Any OpenAI-compatible endpoint (OpenAI, OpenRouter, Together, Ollama, vLLM, LM Studio) via the
official ``openai`` SDK.

The SDK is imported here only, so ``moa`` pays its import cost only when a model uses it.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

import openai

try:  # openai 3 runs on httpx2; earlier versions, like groq, on httpx
    import httpx2 as transport
except ImportError:
    import httpx as transport  # type: ignore[no-redef]

from moa_cli.providers.base import ChatCall
from moa_cli.providers.registry import ProviderConfig
from moa_cli.providers.sdk import RetryPolicy, SdkProvider, client_timeout, http_client


class OpenAICompatProvider(SdkProvider):
    """Streams from ``config.base_url``; usage comes in a last chunk asked for with ``include_usage``."""

    post_options = MappingProxyType({"security": {"bearer_auth": True}})
    """As the SDK's ``create``: the API key as a bearer token (not the admin key)."""

    def __init__(
        self, config: ProviderConfig, *, api_key: str | None, timeout: float, retry: RetryPolicy = RetryPolicy()
    ) -> None:
        client = openai.AsyncOpenAI(
            api_key=api_key or "not-needed",  # local servers take any key; the SDK insists on one
            base_url=config.base_url,
            default_headers=dict(config.headers),
            max_retries=0,
            timeout=client_timeout(openai, config.timeout or timeout),
            http_client=http_client(openai),
        )
        super().__init__(
            client,
            openai,
            label=config.display,
            key_env=config.key_env,
            where=config.base_url or config.name,
            retry=retry,
            max_tokens_field=config.max_tokens_field,
            transport=transport,
            max_concurrency=config.max_concurrency,
            local=config.key_env is None,
        )

    def _request_options(self, call: ChatCall) -> dict[str, Any]:
        return {**super()._request_options(call), "stream_options": {"include_usage": True}}
