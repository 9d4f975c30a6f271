"""Any OpenAI-compatible endpoint (OpenAI, OpenRouter, Together, Ollama, vLLM, LM Studio, llama.cpp),
through the groq SDK's client.

moa builds its request bodies itself and posts them with an SDK client's ``post`` (:mod:`.sdk`):
what it takes from an SDK is the client (auth, URL, headers, timeouts, typed errors). The groq and
openai SDKs generate the same client (Stainless), and the bodies are the same; but ``import openai``
loads every type of OpenAI's whole API: 1.1 s on 2 cores (openai 3.57), against 0.17 s for groq,
so a local model's answer began 0.9 s later than it had to, on every run.
"""

from __future__ import annotations

import os
from typing import Any

import groq
from groq.types import ModelListResponse

from moa_cli import __version__
from moa_cli.providers.base import ChatCall
from moa_cli.providers.registry import ProviderConfig
from moa_cli.providers.sdk import RetryPolicy, SdkProvider, client_timeout, http_client

OPENAI_ENV_HEADERS = {"OPENAI_ORG_ID": "OpenAI-Organization", "OPENAI_PROJECT_ID": "OpenAI-Project"}
"""What the openai SDK sends from the environment, as it did when moa used it."""


class OpenAICompatProvider(SdkProvider):
    """Streams from ``config.base_url``; usage comes in a last chunk asked for with ``include_usage``."""

    def __init__(
        self, config: ProviderConfig, *, api_key: str | None, timeout: float, retry: RetryPolicy = RetryPolicy()
    ) -> None:
        if not config.base_url:  # the groq client would fall back to GROQ_BASE_URL, or Groq itself
            raise ValueError(f"provider {config.name} has no base_url")
        headers = {name: os.environ[env] for env, name in OPENAI_ENV_HEADERS.items() if os.environ.get(env)}
        client = groq.AsyncGroq(
            api_key=api_key or "not-needed",  # local servers take any key; the client insists on one
            base_url=config.base_url,
            default_headers={"User-Agent": f"moa-cli/{__version__}", **headers, **config.headers},
            max_retries=0,
            timeout=client_timeout(groq, config.timeout or timeout),
            http_client=http_client(groq),
        )
        super().__init__(
            client,
            groq,
            label=config.display,
            key_env=config.key_env,
            where=config.base_url,
            retry=retry,
            max_tokens_field=config.max_tokens_field,
            max_concurrency=config.max_concurrency,
            local=config.key_env is None,
        )

    async def _model_list(self) -> Any:
        return await self._client.get("/models", cast_to=ModelListResponse)  # the client's models.list is Groq's path

    def _request_options(self, call: ChatCall) -> dict[str, Any]:
        return {**super()._request_options(call), "stream_options": {"include_usage": True}}
