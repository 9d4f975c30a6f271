"""The config file: where it lives, what it may say, and how it resolves into run settings.

Precedence, lowest first: built-in defaults < config file < ``--preset`` < command-line flags.
The settings themselves are declared in :mod:`moa_cli.settings`; this module reads the file,
its presets and its ``[providers.*]`` tables. Every problem in the file is a one-line
:class:`ConfigError` naming the file, the key and the line.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from types import MappingProxyType
from typing import Any

from moa_cli import checks
from moa_cli.checks import Problem, within
from moa_cli.errors import ConfigError, UsageError
from moa_cli.model_limits import parse_models_table
from moa_cli.providers.registry import BUILTIN_PROVIDERS, ProviderConfig
from moa_cli.redact import remember_url
from moa_cli.settings import (
    DEFAULT_AGGREGATOR,
    DEFAULT_REFERENCES,
    SETTINGS,
    Settings,
    check_values,
)

__all__ = ["DEFAULT_AGGREGATOR", "DEFAULT_REFERENCES", "Config", "Role", "Settings", "config_path", "load_config"]


@dataclass(frozen=True, slots=True)
class Role:
    """A ``[roles.NAME]`` table: a saved way of asking (aichat's roles, llm's templates).

    ``settings`` holds its checked overrides (``system``, ``references`` from ``models``,
    ``aggregator``); ``prompt`` is a template whose ``{input}`` becomes the user's message.
    """

    name: str
    settings: Mapping[str, Any]
    prompt: str | None = None
    preset: str | None = None

    def apply(self, text: str) -> str:
        """``text`` put into the role's template (plain ``{input}`` substitution: other braces are kept)."""
        return self.prompt.replace("{input}", text) if self.prompt else text


@dataclass(frozen=True, slots=True)
class Config:
    """The parsed config file: base settings and named presets.

    ``presets`` maps a preset's name to its overrides: checked values keyed by :class:`Settings`
    field name, ready for :func:`dataclasses.replace`.
    """

    path: Path | None  # None when no file exists
    settings: Settings = Settings()
    presets: Mapping[str, Mapping[str, Any]] = field(default_factory=lambda: MappingProxyType({}))
    roles: Mapping[str, Role] = field(default_factory=lambda: MappingProxyType({}))

    def role(self, name: str) -> Role:
        """The role called ``name``; an unknown one is a :class:`UsageError` listing those there are."""
        if name in self.roles:
            return self.roles[name]
        known = ", ".join(self.roles) if self.roles else "none defined; add a [roles.NAME] table to the config file"
        raise UsageError(f"unknown role '{name}'; roles: {known}")

    def resolve(self, preset: str | None = None, *, role: Role | None = None, **flags: Any) -> Settings:
        """The settings for one run: the file's, then ``preset``'s (else the role's preset), then the
        role's own, then every flag not ``None``.

        Flags are keyed by :class:`Settings` field; ``references`` may be model id strings and
        ``aggregator`` a model id. A bad flag value raises :class:`UsageError`.
        """
        given = check_values({key: value for key, value in flags.items() if value is not None}, flag=True)
        settings = self.settings
        preset = preset if preset is not None or role is None else role.preset
        if preset is not None:
            if preset not in self.presets:
                raise UsageError(self._unknown_preset(preset))
            settings = replace(settings, **self.presets[preset])
        if role is not None:
            settings = replace(settings, **role.settings)
        return replace(settings, **given)

    def _unknown_preset(self, name: str) -> str:
        if not self.presets or self.path is None:
            return f"unknown preset '{name}'; no presets defined; see config.example.toml"
        return f"unknown preset '{name}'; presets in {_display(self.path)}: {', '.join(self.presets)}"


def config_path(env: Mapping[str, str] = os.environ) -> Path:
    """``$MOA_CONFIG``, else ``$XDG_CONFIG_HOME/moa/config.toml``, else ``~/.config/moa/config.toml``."""
    if explicit := env.get("MOA_CONFIG"):
        path = Path(explicit)
        if path.parts and path.parts[0] == "~":
            path = _home(env).joinpath(*path.parts[1:])
        return path
    xdg = env.get("XDG_CONFIG_HOME")
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else _home(env) / ".config"
    return base / "moa" / "config.toml"


def load_config(path: Path | None = None, env: Mapping[str, str] = os.environ) -> Config:
    """Reads and checks the config file; no file at the default location means the defaults.

    A file named by ``path`` or ``$MOA_CONFIG`` must exist.
    """
    explicit = path is not None or bool(env.get("MOA_CONFIG"))
    path = Path(path) if path is not None else config_path(env)
    shown = _display(path)
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except (FileNotFoundError, NotADirectoryError):
        if explicit:
            raise ConfigError("config file not found", path=shown) from None
        return Config(path=None)
    except OSError as exc:
        raise ConfigError(f"cannot read config file: {exc.strerror or exc}", path=shown) from None
    except UnicodeDecodeError:
        raise ConfigError("config file is not UTF-8 text", path=shown) from None
    import tomllib  # only when there is a file: most runs have none, and it costs 5 ms

    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message, line = _split_position(str(exc))
        raise ConfigError(f"invalid TOML: {message}", path=shown, line=line) from None
    try:
        settings, presets = _read(doc)
        roles = within(("roles",), lambda table: _roles(table, presets), doc.get("roles", {}))
    except Problem as problem:
        from moa_cli.toml_lines import Locator

        line = Locator(text).run().get(problem.where)
        raise ConfigError(checks.describe(problem), path=shown, line=line) from None
    return Config(path, settings, presets, roles)


# --- the document -----------------------------------------------------------------------------

_PROVIDER_FIELDS: dict[str, checks.Check] = {
    "base_url": lambda v: _url(v),
    "api_key_env": checks.text,
    "label": checks.text,
    "headers": lambda v: _headers(v),
    "timeout": checks.positive,
    "max_tokens_field": checks.choice(("max_tokens", "max_completion_tokens")),
    "max_concurrency": lambda v: None if v == 0 and type(v) is int else checks.count(v),  # 0: no limit
}


def _url(value: object) -> str:
    """An http:// or https:// address with no spaces or control characters."""
    if isinstance(value, str):
        remember_url(value)  # its credentials stay out of the error that may follow
    if not isinstance(value, str) or not value.strip().lower().startswith(("http://", "https://")):
        raise checks.invalid("an http:// or https:// URL", value)
    if not value.strip().isprintable() or " " in value.strip():
        raise checks.invalid("a URL without spaces or control characters", value)
    return value.strip()


def _header_value(value: object) -> str:
    """What an HTTP header can carry: printable ASCII, no line break."""
    text = checks.text(value)
    if not (text.isascii() and text.isprintable()):
        raise checks.invalid("printable ASCII (no line breaks or accented letters)", value)
    return text


def _headers(value: object) -> dict[str, str]:
    if not isinstance(value, dict):
        raise checks.invalid("a table of header names to strings", value)
    for name, item in value.items():
        within((name,), _header_value, item)
    return dict(value)


def _provider(name: str, value: object) -> ProviderConfig:
    """A ``[providers.NAME]`` table: a new OpenAI-compatible endpoint, or changes to a built-in one."""
    if not isinstance(value, dict):
        raise checks.invalid("a table of provider settings", value)
    checks.known(value, tuple(_PROVIDER_FIELDS))
    given = {key: within((key,), _PROVIDER_FIELDS[key], item) for key, item in value.items()}
    if "api_key_env" in given:
        given["key_env"] = given.pop("api_key_env") or None
    base = BUILTIN_PROVIDERS.get(name)
    if base is None:
        if "base_url" not in given:
            raise Problem((), "needs a 'base_url' key (an OpenAI-compatible endpoint ending in /v1)")
        return ProviderConfig(name=name, **{"key_env": None, **given})
    return replace(base, **given)


def _providers(value: object) -> Mapping[str, ProviderConfig]:
    if not isinstance(value, dict):
        raise checks.invalid("a table of providers", value)
    merged = dict(BUILTIN_PROVIDERS)
    for name, table in value.items():
        if not checks.BARE.fullmatch(name):
            raise Problem((name,), "is not a usable provider name (letters, digits, - and _)")
        merged[name] = within((name,), partial(_provider, name), table)
    return MappingProxyType(merged)


_ROLE_FIELDS: dict[str, checks.Check] = {
    "system": checks.text,
    "prompt": lambda v: _template(v),
    "models": checks.specs,
    "aggregator": checks.spec,
    "preset": checks.text,
}


def _template(value: object) -> str:
    text = checks.text(value)
    if "{input}" not in text:
        raise Problem((), "must contain {input}, where the message goes (a role's 'system' sets the system prompt)")
    return text


def _role(name: str, value: object, presets: Mapping[str, object]) -> Role:
    """A ``[roles.NAME]`` table: ``system``, ``prompt`` (with ``{input}``), ``models``, ``aggregator``, ``preset``."""
    if not isinstance(value, dict):
        raise checks.invalid("a table of role settings", value)
    checks.known(value, tuple(_ROLE_FIELDS))
    given = {key: within((key,), _ROLE_FIELDS[key], item) for key, item in value.items()}
    preset = given.pop("preset", None)
    if preset is not None and preset not in presets:
        raise Problem(("preset",), f"names no preset ('{preset}'); presets: {', '.join(presets) or 'none'}")
    if "models" in given:
        given["references"] = given.pop("models")
    prompt = given.pop("prompt", None)
    return Role(name, MappingProxyType(given), prompt, preset)


def _roles(value: object, presets: Mapping[str, object]) -> Mapping[str, Role]:
    if not isinstance(value, dict):
        raise checks.invalid("a table of roles", value)
    roles = {name: within((name,), lambda t, n=name: _role(n, t, presets), table) for name, table in value.items()}
    return MappingProxyType(roles)


def _overrides(table: Mapping[str, Any]) -> dict[str, Any]:
    """The checked settings of one table (the top level or a preset), keyed by field name."""
    checks.known(table, tuple(SETTINGS))
    return {key: within((key,), SETTINGS[key].check, value) for key, value in table.items()}


def _read(doc: Mapping[str, Any]) -> tuple[Settings, Mapping[str, Mapping[str, Any]]]:
    tables = ("presets", "providers", "models", "roles")
    checks.known(doc, (*SETTINGS, *tables))
    settings = replace(Settings(), **_overrides({k: v for k, v in doc.items() if k not in tables}))
    if "providers" in doc:
        settings = replace(settings, providers=within(("providers",), _providers, doc["providers"]))
    if "models" in doc:
        settings = replace(settings, models=within(("models",), parse_models_table, doc["models"]))
    tables = doc.get("presets", {})
    if not isinstance(tables, dict):
        raise Problem(("presets",), f"must be a table of presets, not {checks.show(tables)}")
    presets: dict[str, Mapping[str, Any]] = {}
    for name, table in tables.items():
        if not isinstance(table, dict):
            raise Problem(("presets", name), f"must be a table of settings, not {checks.show(table)}")
        presets[name] = MappingProxyType(within(("presets", name), _overrides, table))
    return settings, MappingProxyType(presets)


# --- messages ---------------------------------------------------------------------------------

_POSITION = re.compile(r"\s*\(at (?:line (\d+), column \d+|end of document)\)$")


def _display(path: Path) -> str:
    """``path`` with the home directory written ``~``."""
    try:
        return str(Path("~") / path.relative_to(Path.home()))
    except (ValueError, RuntimeError, KeyError):
        return str(path)


def _home(env: Mapping[str, str]) -> Path:
    home = env.get("HOME")
    return Path(home) if home else Path.home()


def _split_position(message: str) -> tuple[str, int | None]:
    """tomllib's message without its "(at line N, column M)" suffix, and N."""
    match = _POSITION.search(message)
    if match is None:
        return message, None
    if match[1] is None:
        return message[: match.start()] + " at end of file", None
    return message[: match.start()], int(match[1])
