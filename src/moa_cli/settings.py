"""Every run setting, declared once: its default, its check, its flag and its help.

:class:`Settings` is the single declaration. Each field's metadata (:class:`SettingInfo`) says
how the value is checked and whether a command-line flag or a chat slash command sets it; the
config file, the Typer options of ``ask`` and ``chat``, chat's slash commands, the engine's
request and what a stored turn records are all derived from these fields.
Standard library only: every command resolves its settings at start-up.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from moa_cli import checks
from moa_cli.errors import UsageError
from moa_cli.model_limits import BUILTIN_MODELS, ModelConfig
from moa_cli.providers.registry import BUILTIN_PROVIDERS, ProviderConfig
from moa_cli.request import ModelSpec

DEFAULT_REFERENCES: tuple[str, ...] = ("openai/gpt-oss-120b", "openai/gpt-oss-20b", "qwen/qwen3.8-27b")
DEFAULT_AGGREGATOR = "openai/gpt-oss-120b"


@dataclass(frozen=True, slots=True)
class SettingInfo:
    """How one setting is checked and set. ``flag`` None: only the config file sets it."""

    help: str
    check: checks.Check
    flag: str | None = None
    short: str | None = None
    metavar: str | None = None
    flag_type: type = str
    """What the flag's text is parsed into before ``check`` (``int``, ``float``, ``str``)."""
    many: bool = False
    """A repeatable flag (``-m a -m b``)."""
    slash: bool = False
    """Chat has a ``/NAME`` command showing or setting it, parsed as the flag is."""


def _setting(default: Any, info: SettingInfo) -> Any:
    return field(default=default, metadata={"setting": info})


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything a run needs, resolved from defaults < config file < preset < flags."""

    references: tuple[ModelSpec, ...] = _setting(
        tuple(ModelSpec(model) for model in DEFAULT_REFERENCES),
        SettingInfo("A reference model; repeat for several.", checks.specs, "--model", "-m", "MODEL", many=True),
    )
    aggregator: ModelSpec = _setting(
        ModelSpec(DEFAULT_AGGREGATOR), SettingInfo("The aggregator model.", checks.spec, "--aggregator", "-a", "MODEL")
    )
    layers: int = _setting(
        1, SettingInfo("Reference layers (default 1).", checks.bounded(8), "--layers", "-l", "N", int, slash=True)
    )
    temperature: float = _setting(
        0.7,
        SettingInfo("Sampling temperature, 0 to 2.", checks.temperature, "--temperature", "-t", "T", float, slash=True),
    )
    max_tokens: int = _setting(
        2048, SettingInfo("Max tokens per answer.", checks.count, "--max-tokens", None, "N", int, slash=True)
    )
    system: str | None = _setting(
        None, SettingInfo("System prompt for every model.", checks.optional_text, "--system", "-s", "TEXT")
    )
    ref_timeout: float | None = _setting(
        None,
        SettingInfo(
            "Leave out references not done after this many seconds (0: wait for all).",
            checks.zero_is_none, "--ref-timeout", None, "SECONDS", float, slash=True,
        ),
    )
    timeout: float = _setting(120.0, SettingInfo("Per HTTP request (read) timeout, seconds.", checks.positive))
    straggler_factor: float = _setting(
        0.0,
        SettingInfo("After a majority answered, wait at most F times their time (0: wait for all).", checks.non_negative),
    )
    context_window: int = _setting(
        131072, SettingInfo("Tokens the smallest model accepts; history is trimmed to fit.", checks.count)
    )
    reasoning_effort: str | None = _setting(
        None,
        SettingInfo(
            "Reasoning effort (low, medium, high) for models that take it, such as gpt-oss.",
            checks.optional_effort, "--reasoning-effort", None, "LEVEL", str, slash=True,
        ),
    )
    samples: int = _setting(
        1,
        SettingInfo("Self-MoA: each reference answers N times.", checks.bounded(16), "--samples", None, "N", int, slash=True),
    )
    providers: Mapping[str, ProviderConfig] = field(default_factory=lambda: BUILTIN_PROVIDERS)
    """Built-in providers plus the config file's ``[providers.*]``: checked by :mod:`moa_cli.config`."""
    models: Mapping[str, ModelConfig] = field(default_factory=lambda: BUILTIN_MODELS)
    """Groq's live models plus the config file's ``[models."ID"]`` (limits, effort, price): :mod:`moa_cli.model_limits`."""


SETTINGS: Mapping[str, SettingInfo] = {
    f.name: f.metadata["setting"] for f in dataclasses.fields(Settings) if "setting" in f.metadata
}
"""Every declared setting by field name, in declaration order (the config file's keys)."""

FLAGS: Mapping[str, str] = {name: info.flag for name, info in SETTINGS.items() if info.flag}
"""Setting -> its long flag, for naming a bad flag value."""


def flagged() -> Iterator[tuple[str, SettingInfo]]:
    """The settings a command-line flag sets."""
    return ((name, info) for name, info in SETTINGS.items() if info.flag)


def check_values(values: Mapping[str, Any], *, flag: bool = False) -> dict[str, Any]:
    """``values`` checked and converted; a bad one raises :class:`UsageError` naming it as a flag or key."""
    unknown = sorted(values.keys() - SETTINGS.keys())
    if unknown:
        raise TypeError(f"unknown settings: {', '.join(unknown)}")
    try:
        return {key: checks.within((key,), SETTINGS[key].check, value) for key, value in values.items()}
    except checks.Problem as problem:
        raise UsageError(checks.describe(problem, FLAGS if flag else None)) from None


def parse_slash(name: str, text: str) -> Any:
    """The value typed after ``/NAME`` in chat, parsed and checked as its flag would be."""
    info = SETTINGS[name]
    try:
        value = info.flag_type(text)
    except ValueError:
        raise UsageError(f"/{slash_name(name)} takes {_expected(info)}, not {text!r}") from None
    try:
        return info.check(value)
    except checks.Problem:
        raise UsageError(f"/{slash_name(name)} takes {_expected(info)}, not {text!r}") from None


def slash_name(name: str) -> str:
    """``max-tokens`` for ``max_tokens``: a slash command is spelled as its flag."""
    return name.replace("_", "-")


def _expected(info: SettingInfo) -> str:
    try:
        info.check(object())
    except checks.Problem as problem:
        return problem.rest.removeprefix("must be ").rsplit(", not ", 1)[0]
    return "a value"


def record(settings: Settings) -> dict[str, object]:
    """What a stored turn keeps of how it was asked: every declared setting, models by id (never a key)."""
    out: dict[str, object] = {}
    for name in SETTINGS:
        value = getattr(settings, name)
        if isinstance(value, ModelSpec):
            value = value.model
        elif name == "references":
            value = [spec.model for spec in value]
        out[name] = value
    return out
