"""Providers with their keys: keys are looked up here, once per provider, and handed over."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import replace
from types import MappingProxyType
from typing import TYPE_CHECKING

from moa_cli.keys import KeyStore, find_key
from moa_cli.paths import data_dir
from moa_cli.providers.registry import GROQ, GROQ_URL, ProviderConfig
from moa_cli.settings import Settings

if TYPE_CHECKING:  # the router brings asyncio and the events: `moa keys` needs neither
    from moa_cli.providers.router import KeyLookup, ProviderRouter


def key_store(env: Mapping[str, str] = os.environ) -> KeyStore:
    """Where ``moa keys set`` keeps keys when there is no system keyring."""
    return KeyStore(data_dir(env) / "keys.json")


def key_lookup(keys: KeyStore, env: Mapping[str, str] = os.environ) -> KeyLookup:
    """A provider's key from the environment or ``keys``, each looked up once."""
    found: dict[str, str | None] = {}

    def key_for(config: ProviderConfig) -> str | None:
        if config.name not in found:
            found[config.name] = find_key(config, keys, env)[0]
        return found[config.name]

    return key_for


def provider_configs(settings: Settings, env: Mapping[str, str] = os.environ) -> Mapping[str, ProviderConfig]:
    """``settings.providers`` with Groq's address filled in: the config file's, ``$GROQ_BASE_URL``, or Groq's."""
    groq = settings.providers[GROQ]
    if groq.base_url:
        return settings.providers
    url = env.get("GROQ_BASE_URL") or GROQ_URL
    return MappingProxyType({**settings.providers, GROQ: replace(groq, base_url=url)})


def make_provider(settings: Settings, env: Mapping[str, str] = os.environ, *, timeout: float | None = None) -> ProviderRouter:
    """A router over every configured provider, checked now for the keys the configured models need."""
    from moa_cli.providers.router import ProviderRouter

    router = ProviderRouter(
        provider_configs(settings, env), key_lookup(key_store(env), env), timeout=timeout or settings.timeout
    )
    router.check(spec.model for spec in (*settings.references, settings.aggregator))
    return router
