"""``[models."ID"]`` in the config file: limits, reasoning effort and prices declared per model.

For providers that send no rate-limit headers (or to correct a price), the config may say::

    [models."openai/gpt-oss-120b"]
    tpm = 8000              # tokens per minute
    rpm = 30                # requests per minute
    rpd = 1000              # requests per day
    context_window = 131072
    max_output = 65536
    reasoning_effort = "low"          # low, medium or high; only for models that take it
    price = [0.15, 0.075, 0.60]       # US$ per 1M tokens: input, cached input, output
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Any

from moa_cli import checks
from moa_cli.checks import Problem


@dataclass(frozen=True, slots=True)
class ModelConfig:
    """What the config file declares for one model; None is "not said"."""

    tpm: int | None = None
    rpm: int | None = None
    rpd: int | None = None
    context_window: int | None = None
    max_output: int | None = None
    reasoning_effort: str | None = None
    price: tuple[float, float, float] | None = None


def takes_reasoning_effort(model: str) -> bool:
    """Whether ``model`` (a moa model id) accepts ``reasoning_effort``: gpt-oss anywhere, OpenAI's reasoning models."""
    provider, _, name = model.rpartition(":") if ":" in model.split("/")[0] else ("", "", model)
    if "gpt-oss" in model:
        return True
    return provider == "openai" and name.startswith(("o1", "o3", "o4", "gpt-5"))


def effort_for(model: str, asked: str | None, models: Mapping[str, ModelConfig]) -> str | None:
    """The ``reasoning_effort`` to send to ``model``: the one ``asked`` (flag, preset, model spec), else its
    ``[models]`` entry's. Only a model that takes it gets one, unless the config declares it for that model."""
    declared = models.get(model, ModelConfig()).reasoning_effort
    if asked is not None and takes_reasoning_effort(model):
        return asked
    return declared


def cost(usage_prompt: int, usage_cached: int, usage_completion: int, price: tuple[float, float, float]) -> float:
    """US$ for one call's tokens at ``price`` (input, cached input, output per 1M tokens)."""
    fresh = max(usage_prompt - usage_cached, 0)
    return (fresh * price[0] + usage_cached * price[1] + usage_completion * price[2]) / 1_000_000


def _price(value: object) -> tuple[float, float, float]:
    ok = (
        isinstance(value, list)
        and len(value) == 3
        and all(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) and v >= 0 for v in value)
    )
    if not ok:
        raise checks.invalid("[input, cached input, output] in US$ per 1M tokens", value)
    return (float(value[0]), float(value[1]), float(value[2]))  # type: ignore[index]


BUILTIN_MODELS: Mapping[str, ModelConfig] = MappingProxyType(
    {
        # Groq's published prices (console.groq.com/docs/models, late 2026), US$ per 1M tokens.
        "openai/gpt-oss-120b": ModelConfig(context_window=131072, max_output=65536, price=(0.15, 0.075, 0.60)),
        "openai/gpt-oss-20b": ModelConfig(context_window=131072, max_output=65536, price=(0.075, 0.0375, 0.30)),
        # No price is published for qwen/qwen3.8-27b: these are Groq's for the nearest published
        # Qwen model, qwen/qwen3-32b (0.29 in, 0.59 out); cached input at half, as Groq bills it.
        "qwen/qwen3.8-27b": ModelConfig(context_window=131072, max_output=40960, price=(0.29, 0.145, 0.59)),
    }
)
"""Groq's live models, known without a config file; ``[models."ID"]`` overrides any field."""


_FIELDS = {
    "tpm": checks.count,
    "rpm": checks.count,
    "rpd": checks.count,
    "context_window": checks.count,
    "max_output": checks.count,
    "reasoning_effort": checks.effort,
    "price": _price,
}


def parse_models_table(table: object) -> Mapping[str, ModelConfig]:
    """:data:`BUILTIN_MODELS` with the checked ``[models]`` table over them; raises :class:`~moa_cli.checks.Problem`."""
    if not isinstance(table, Mapping):
        raise checks.invalid("a table of models", table)
    models = dict(BUILTIN_MODELS)
    for model, entry in table.items():
        if not isinstance(entry, Mapping):
            raise Problem((model,), f"must be a table of limits, not {checks.show(entry)}")
        values: dict[str, Any] = {}
        for key, value in entry.items():
            if key not in _FIELDS:
                raise Problem((model, key), f"is not a model setting (expected one of: {', '.join(_FIELDS)})")
            values[key] = checks.within((model, key), _FIELDS[key], value)
        models[model] = replace(models.get(model, ModelConfig()), **values)
    return MappingProxyType(models)
