"""One :class:`Provider` over many: ``ollama:llama3.2`` goes to Ollama, a bare id to Groq."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import replace

from moa_cli.errors import MissingApiKeyError, ProviderError
from moa_cli.providers.base import ChatCall, Chunk, Provider
from moa_cli.providers.registry import GROQ, GROQ_KEY_HINT, ProviderConfig, split_model

KeyLookup = Callable[[ProviderConfig], "str | None"]
"""Gives a provider's API key (or None); the application layer looks keys up, providers never do."""


class ProviderRouter:
    """Creates each provider on first use and sends every call to the one its model names."""

    def __init__(self, configs: Mapping[str, ProviderConfig], key_for: KeyLookup, *, timeout: float) -> None:
        self.configs = configs
        self.key_for = key_for
        self.timeout = timeout
        self._open: dict[str, Provider] = {}

    def check(self, models: Iterable[str]) -> None:
        """Fail before any request if a provider these models use has no key."""
        for name in dict.fromkeys(split_model(m, self.configs)[0] for m in models):
            self.provider(name)

    def provider(self, name: str) -> Provider:
        """The provider called ``name``, created on first use; raises MissingApiKeyError without its key."""
        if name not in self._open:
            config = self.configs[name]
            key = self.key_for(config)
            if config.key_env and not key:
                raise MissingApiKeyError(missing_key_message(config))
            self._open[name] = self._create(config, key)
        return self._open[name]

    def _create(self, config: ProviderConfig, key: str | None) -> Provider:
        if config.kind == GROQ:
            from moa_cli.providers.groq import GroqProvider

            return GroqProvider(config, api_key=key, timeout=self.timeout)
        from moa_cli.providers.openai_compat import OpenAICompatProvider

        return OpenAICompatProvider(config, api_key=key, timeout=self.timeout)

    async def stream(self, call: ChatCall) -> AsyncIterator[Chunk]:
        name, model = split_model(call.model, self.configs)
        try:
            provider = self.provider(name)
        except MissingApiKeyError as exc:  # a model chosen after start-up (chat's /models)
            raise ProviderError(str(exc), kind="auth", model=call.model) from None
        async for chunk in provider.stream(replace(call, model=model)):
            yield chunk

    async def aclose(self) -> None:
        for provider in self._open.values():
            await provider.aclose()
        self._open.clear()


def missing_key_message(config: ProviderConfig) -> str:
    """How to give ``config`` its key, in one line."""
    if config.name == GROQ:
        return f"GROQ_API_KEY is not set; {GROQ_KEY_HINT}"
    return (
        f"{config.key_env} is not set (needed for {config.name}: models); "
        f"run: moa keys set {config.name}, or export {config.key_env}=..."
    )
