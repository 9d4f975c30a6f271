"""Which providers exist, where they live, and how a model id names one (``ollama:llama3.2``).

Standard library only: the config file is checked against this at start-up.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

from moa_cli.errors import UsageError

GROQ = "groq"
GROQ_URL = "https://api.groq.com"
"""Groq's API root; its SDK adds ``/openai/v1``. ``$GROQ_BASE_URL`` replaces it (another server speaking Groq's protocol)."""
GROQ_KEY_HINT = "create a key at https://console.groq.com/keys and run: export GROQ_API_KEY=gsk_..."


@dataclass(frozen=True, slots=True)
class ProviderConfig:
    """One provider: an OpenAI-compatible endpoint, or Groq itself (``kind="groq"``).

    ``key_env`` names the environment variable holding its key; None means it needs none (a
    local server). ``timeout`` None uses the run's ``timeout``. ``max_concurrency`` is how many
    requests moa sends it at once (the rest wait their turn); None sends them all.
    """

    name: str
    base_url: str | None
    key_env: str | None
    kind: Literal["groq", "openai"] = "openai"
    label: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
    timeout: float | None = None
    max_tokens_field: str = "max_tokens"
    max_concurrency: int | None = None

    @property
    def display(self) -> str:
        return self.label or self.name


BUILTIN_PROVIDERS: Mapping[str, ProviderConfig] = MappingProxyType({
    p.name: p
    for p in (
        ProviderConfig(GROQ, None, "GROQ_API_KEY", kind="groq", label="Groq", max_tokens_field="max_completion_tokens"),
        ProviderConfig(
            "openai", "https://api.openai.com/v1", "OPENAI_API_KEY", label="OpenAI",
            max_tokens_field="max_completion_tokens",
        ),
        ProviderConfig("openrouter", "https://openrouter.ai/api/v1", "OPENROUTER_API_KEY", label="OpenRouter"),
        ProviderConfig("together", "https://api.together.xyz/v1", "TOGETHER_API_KEY", label="Together"),
        # Ollama runs OLLAMA_NUM_PARALLEL requests per model (documented default 1) and queues the
        # rest on the server, where moa's read timeout runs while nothing streams: queue them here.
        ProviderConfig("ollama", "http://localhost:11434/v1", None, label="Ollama", max_concurrency=1),
        # vLLM batches every request it receives (continuous batching): no limit.
        ProviderConfig("vllm", "http://localhost:8000/v1", None, label="vLLM"),
        # LM Studio's "Max Concurrent Predictions" defaults to 4 (continuous batching); more wait.
        ProviderConfig("lmstudio", "http://localhost:1234/v1", None, label="LM Studio", max_concurrency=4),
        # llama.cpp's server: llama-cpp-python's `python -m llama_cpp.server` holds one model
        # instance and, by default, cuts off the running stream when the next request arrives.
        ProviderConfig("llamacpp", "http://127.0.0.1:8080/v1", None, label="llama.cpp", max_concurrency=1),
    )
})


def split_model(model: str, providers: Mapping[str, ProviderConfig]) -> tuple[str, str]:
    """``("ollama", "llama3.2:3b")`` for ``ollama:llama3.2:3b``; an id without a colon is Groq's.

    Raises :class:`UsageError` (exit 2) for an unknown provider or an empty model id, before any
    request: ``nope:model``, ``groq:``, ``:x``.
    """
    prefix, sep, rest = model.partition(":")
    if not sep:
        if not model.strip():
            raise UsageError("a model id is empty; " + _known(providers))
        return GROQ, model
    if prefix in providers and rest.strip():
        return prefix, rest
    if not prefix.strip():
        problem = f"model '{model}' names no provider before ':'"
    elif prefix in providers:
        problem = f"model '{model}' names no model after '{prefix}:'"
    else:
        problem = f"unknown provider '{prefix}' in model '{model}'"
    raise UsageError(f"{problem}; {_known(providers)}")


def _known(providers: Mapping[str, ProviderConfig]) -> str:
    return f"use PROVIDER:MODEL with one of: {', '.join(providers)} (a model id without ':' is Groq's)"
