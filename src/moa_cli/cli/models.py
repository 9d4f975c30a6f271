"""``moa models``: the chat models each provider serves now, which ones moa uses, and which are gone."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import typer

from moa_cli.cli import options as opt

if TYPE_CHECKING:
    from moa_cli.config import Settings
    from moa_cli.keys import KeyStore


@dataclass
class ProviderModels:
    """What one provider answered: its model ids, or why it could not be asked."""

    name: str
    where: str
    models: list[str] = field(default_factory=list)
    error: str | None = None


def models(
    preset: str | None = opt.PRESET,
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List the chat models each configured provider serves, marking those moa uses."""
    import asyncio
    import json

    from moa_cli.app.providers import key_store
    from moa_cli.config import load_config
    from moa_cli.providers.registry import split_model

    settings = load_config().resolve(preset)
    uses: dict[str, list[str]] = {}
    for spec in settings.references:
        uses.setdefault(spec.model, []).append("reference")
    uses.setdefault(settings.aggregator.model, []).append("aggregator")
    answers = asyncio.run(_ask_providers(settings, key_store(), {split_model(m, settings.providers)[0] for m in uses}))

    served = {(a.name, m) for a in answers for m in a.models}
    reachable = {a.name for a in answers if a.error is None}
    missing = []
    for model, roles in uses.items():
        name, bare = split_model(model, settings.providers)
        if name in reachable and (name, bare) not in served:
            missing.append({"model": model, "provider": name, "used_as": roles})

    if as_json:
        data = {
            "providers": [
                {
                    "name": a.name,
                    "url": a.where,
                    "error": a.error,
                    "models": [{"id": m, "used_as": uses.get(_full(a.name, m), [])} for m in a.models],
                }
                for a in answers
            ],
            "not_served": missing,
        }
        sys.stdout.write(json.dumps(data, indent=2) + "\n")
    else:
        _print_table(answers, uses)
    for item in missing:
        sys.stderr.write(
            f"moa: warning: {item['model']} ({', '.join(item['used_as'])}) is not served by {item['provider']} "
            "(unknown or decommissioned); change it in your config or with -m/-a\n"
        )
    if answers and all(a.error for a in answers):
        raise typer.Exit(1)


def _full(provider: str, model: str) -> str:
    return model if provider == "groq" else f"{provider}:{model}"


def _print_table(answers: list[ProviderModels], uses: dict[str, list[str]]) -> None:
    for answer in answers:
        sys.stdout.write(f"{answer.name} ({answer.where})\n")
        if answer.error:
            sys.stdout.write(f"  unavailable: {answer.error}\n")
        for model in answer.models:
            roles = uses.get(_full(answer.name, model), [])
            mark = "*" if roles else " "
            sys.stdout.write(f"  {mark} {model:<40} {', '.join(roles)}\n".rstrip() + "\n")


async def _ask_providers(settings: Settings, keys: KeyStore, used: set[str]) -> list[ProviderModels]:
    """Ask, at once, every provider that is in use, declared in the config file, or has a key."""
    from moa_cli.app.providers import key_lookup, provider_configs
    from moa_cli.errors import MissingApiKeyError, ProviderError
    from moa_cli.providers.registry import BUILTIN_PROVIDERS
    from moa_cli.providers.router import ProviderRouter

    key_for = key_lookup(keys)
    configs = provider_configs(settings)
    router = ProviderRouter(configs, key_for, timeout=min(settings.timeout, 15.0))
    names = [
        name
        for name, config in settings.providers.items()
        if name in used or BUILTIN_PROVIDERS.get(name) != config or (config.key_env and key_for(config))
    ]

    async def one(name: str) -> ProviderModels:
        answer = ProviderModels(name, configs[name].base_url or name)
        try:
            provider = router.provider(name)
            answer.where = provider.where
            answer.models = await provider.list_models()
        except (MissingApiKeyError, ProviderError) as exc:
            answer.error = str(exc)
        return answer

    import asyncio

    try:
        return list(await asyncio.gather(*(one(name) for name in names)))
    finally:
        await router.aclose()
