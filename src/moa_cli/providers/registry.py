"""Which providers exist, where they live, and how a model id names one (``ollama:llama3.2``).

Standard library only: the config file is checked against this at start-up.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

GROQ = "groq"
GROQ_URL = "https://api.groq.com"
"""Groq's API root; its SDK adds ``/openai/v1``. ``$GROQ_BASE_URL`` replaces it (another server speaking Groq's protocol)."""
GROQ_KEY_HINT = "create a key at https://console.groq.com/keys and run: export GROQ_API_KEY=gsk_..."


@dataclass(frozen=True, slots=True)
class ProviderConfig:
    """One provider: an OpenAI-compatible endpoint, or Groq itself (``kind="groq"``).

    ``key_env`` names the environment variable holding its key; None means it needs none (a
    local server). ``timeout`` None uses the run's ``timeout``.
    """

    name: str
    base_url: str | None
    key_env: str | None
    kind: Literal["groq", "openai"] = "openai"
    label: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
    timeout: float | None = None
    max_tokens_field: str = "max_tokens"

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
        ProviderConfig("ollama", "http://localhost:11434/v1", None, label="Ollama"),
        ProviderConfig("vllm", "http://localhost:8000/v1", None, label="vLLM"),
        ProviderConfig("lmstudio", "http://localhost:1234/v1", None, label="LM Studio"),
    )
})


def split_model(model: str, providers: Mapping[str, ProviderConfig]) -> tuple[str, str]:
    """``("ollama", "llama3.2:3b")`` for ``ollama:llama3.2:3b``; a bare id (even with a colon) is Groq's."""
    prefix, sep, rest = model.partition(":")
    if sep and rest and prefix in providers:
        return prefix, rest
    return GROQ, model
