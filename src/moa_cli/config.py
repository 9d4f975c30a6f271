"""The config file: where it lives, what it may say, and how it resolves into run settings.

Precedence, lowest first: built-in defaults < config file < ``--preset`` < command-line flags.
Every problem in the file is a one-line :class:`ConfigError` naming the file, the key and the line.
"""

from __future__ import annotations

import bisect
import json
import math
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

from moa_cli.errors import ConfigError, UsageError
from moa_cli.model_limits import BUILTIN_MODELS, ModelConfig, TableProblem, parse_models_table
from moa_cli.providers.registry import BUILTIN_PROVIDERS, ProviderConfig
from moa_cli.request import ModelSpec

DEFAULT_REFERENCES: tuple[str, ...] = ("openai/gpt-oss-120b", "openai/gpt-oss-20b", "qwen/qwen3.8-27b")
DEFAULT_AGGREGATOR = "openai/gpt-oss-120b"

Key = tuple[str | int, ...]
"""A path into the TOML document: ``("presets", "fast", "layers")``, ``("references", 1)``."""


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything a run needs, resolved from defaults < config file < preset < flags."""

    references: tuple[ModelSpec, ...] = tuple(ModelSpec(model) for model in DEFAULT_REFERENCES)
    aggregator: ModelSpec = ModelSpec(DEFAULT_AGGREGATOR)
    layers: int = 1  # >= 1
    temperature: float = 0.7  # 0..2
    max_tokens: int = 2048  # > 0
    system: str | None = None
    ref_timeout: float | None = None  # seconds a reference may take before it is left out; None waits
    timeout: float = 120.0  # per HTTP request (read) timeout, seconds, > 0
    straggler_factor: float = 0.0  # 0 waits for all refs; > 0: after a majority, wait <= F x their time
    context_window: int = 131072  # tokens the smallest model accepts; chat trims history to fit
    samples: int = 1  # Self-MoA: each reference answers this many times (distinct seeds, spread temperatures)
    providers: Mapping[str, ProviderConfig] = field(default_factory=lambda: BUILTIN_PROVIDERS)  # + [providers.*]
    models: Mapping[str, ModelConfig] = field(default_factory=lambda: BUILTIN_MODELS)  # + [models."ID"]


@dataclass(frozen=True, slots=True)
class Config:
    """The parsed config file: base settings and named presets.

    ``presets`` maps a preset's name to its overrides: checked values keyed by :class:`Settings`
    field name, ready for :func:`dataclasses.replace`.
    """

    path: Path | None  # None when no file exists
    settings: Settings = Settings()
    presets: Mapping[str, Mapping[str, Any]] = field(default_factory=lambda: MappingProxyType({}))

    def resolve(self, preset: str | None = None, **flags: Any) -> Settings:
        """The settings for one run: the file's, then ``preset``'s, then every flag not ``None``.

        Flags are keyed by :class:`Settings` field; ``references`` may be model id strings and
        ``aggregator`` a model id. A bad flag value raises :class:`UsageError`.
        """
        unknown = sorted(flags.keys() - _CONVERT.keys())
        if unknown:
            raise TypeError(f"resolve() got unknown settings: {', '.join(unknown)}")
        settings = self.settings
        if preset is not None:
            if preset not in self.presets:
                raise UsageError(self._unknown_preset(preset))
            settings = replace(settings, **self.presets[preset])
        try:
            given = {
                key: _within((key,), _CONVERT[key], value) for key, value in flags.items() if value is not None
            }
        except _Problem as problem:
            raise UsageError(_describe(problem, flag=True)) from None
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
    except _Problem as problem:
        line = _Locator(text).run().get(problem.where)
        raise ConfigError(_describe(problem), path=shown, line=line) from None
    return Config(path, settings, presets)


# --- checking values --------------------------------------------------------------------------


class _Problem(Exception):
    """A value that cannot be used, at ``where``; ``rest`` follows the key's name in the message."""

    def __init__(self, where: Key, rest: str, *, unknown: bool = False) -> None:
        super().__init__(rest)
        self.where = where
        self.rest = rest
        self.unknown = unknown


def _invalid(expected: str, value: object) -> _Problem:
    return _Problem((), f"must be {expected}, not {_show(value)}")


def _within(path: Key, convert: Callable[[Any], Any], value: object) -> Any:
    """``convert(value)``, with any problem's location moved under ``path``."""
    try:
        return convert(value)
    except _Problem as problem:
        problem.where = path + problem.where
        raise


def _count(value: object) -> int:
    if type(value) is not int or value < 1:
        raise _invalid("an integer >= 1", value)
    return value


def _bounded(most: int) -> Callable[[object], int]:
    """An integer from 1 to ``most``: the same limits the command-line flags have."""

    def check(value: object) -> int:
        if type(value) is not int or not 1 <= value <= most:
            raise _invalid(f"an integer from 1 to {most}", value)
        return value

    return check


def _number(expected: str, ok: Callable[[float], bool]) -> Callable[[object], float]:
    def check(value: object) -> float:
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise _invalid(expected, value)
        if not math.isfinite(value) or not ok(value):
            raise _invalid(expected, value)
        return float(value)

    return check


_temperature = _number("a number from 0 to 2", lambda x: 0 <= x <= 2)
_timeout = _number("a number > 0", lambda x: x > 0)
_non_negative = _number("a number >= 0", lambda x: x >= 0)


def _ref_timeout(value: object) -> float | None:
    return _non_negative(value) or None  # 0 waits for every reference


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise _invalid("a string", value)
    return value


def _system(value: object) -> str | None:
    return _text(value) or None  # "" means no system prompt


def _model_id(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _invalid("a non-empty model id string", value)
    return value.strip()


_MODEL_FIELDS: dict[str, Callable[[Any], Any]] = {
    "model": _model_id,
    "temperature": _temperature,
    "max_tokens": _count,
    "system": _text,
}


def _spec(value: object) -> ModelSpec:
    """A model id or a ``{ model = ..., temperature = ..., max_tokens = ..., system = ... }`` table."""
    if isinstance(value, ModelSpec):
        return value
    if isinstance(value, str):
        return ModelSpec(_model_id(value))
    if not isinstance(value, dict):
        raise _invalid("a model id or a table with a 'model' key", value)
    _known(value, tuple(_MODEL_FIELDS))
    if "model" not in value:
        raise _Problem((), "needs a 'model' key")
    return ModelSpec(**{key: _within((key,), _MODEL_FIELDS[key], item) for key, item in value.items()})


def _references(value: object) -> tuple[ModelSpec, ...]:
    if isinstance(value, str | bytes) or not isinstance(value, Sequence) or not value:
        raise _invalid("a non-empty array of model ids or tables", value)
    return tuple(_within((index,), _spec, item) for index, item in enumerate(value))


_CONVERT: dict[str, Callable[[Any], Any]] = {
    "references": _references,
    "aggregator": _spec,
    "layers": _bounded(8),
    "temperature": _temperature,
    "max_tokens": _count,
    "system": _system,
    "ref_timeout": _ref_timeout,
    "timeout": _timeout,
    "straggler_factor": _non_negative,
    "context_window": _count,
    "samples": _bounded(16),
}

_PROVIDER_FIELDS: dict[str, Callable[[Any], Any]] = {
    "base_url": _model_id,
    "api_key_env": _text,
    "label": _text,
    "headers": lambda v: _headers(v),
    "timeout": _timeout,
    "max_tokens_field": lambda v: _choice(v, ("max_tokens", "max_completion_tokens")),
}


def _choice(value: object, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise _invalid(" or ".join(repr(a) for a in allowed), value)
    return value  # type: ignore[return-value]


def _headers(value: object) -> dict[str, str]:
    if not isinstance(value, dict):
        raise _invalid("a table of header names to strings", value)
    for name, item in value.items():
        _within((name,), _text, item)
    return dict(value)


def _provider(name: str, value: object) -> ProviderConfig:
    """A ``[providers.NAME]`` table: a new OpenAI-compatible endpoint, or changes to a built-in one."""
    if not isinstance(value, dict):
        raise _invalid("a table of provider settings", value)
    _known(value, tuple(_PROVIDER_FIELDS))
    given = {key: _within((key,), _PROVIDER_FIELDS[key], item) for key, item in value.items()}
    if "api_key_env" in given:
        given["key_env"] = given.pop("api_key_env") or None
    base = BUILTIN_PROVIDERS.get(name)
    if base is None:
        if "base_url" not in given:
            raise _Problem((), "needs a 'base_url' key (an OpenAI-compatible endpoint ending in /v1)")
        return ProviderConfig(name=name, **{"key_env": None, **given})
    return replace(base, **given)


def _providers(value: object) -> Mapping[str, ProviderConfig]:
    if not isinstance(value, dict):
        raise _invalid("a table of providers", value)
    merged = dict(BUILTIN_PROVIDERS)
    for name, table in value.items():
        if not _BARE.fullmatch(name):
            raise _Problem((name,), "is not a usable provider name (letters, digits, - and _)")
        merged[name] = _within((name,), lambda t, n=name: _provider(n, t), table)
    return MappingProxyType(merged)


def _known(table: Mapping[str, object], allowed: Sequence[str]) -> None:
    for key in table:
        if key not in allowed:
            import difflib  # only on this error path: keeps start-up light

            close = difflib.get_close_matches(key, allowed, n=1)
            hint = f"did you mean '{close[0]}'?" if close else f"expected one of: {', '.join(allowed)}"
            raise _Problem((key,), f" ({hint})", unknown=True)


def _overrides(table: Mapping[str, Any]) -> dict[str, Any]:
    """The checked settings of one table (the top level or a preset), keyed by field name."""
    _known(table, tuple(_CONVERT))
    return {key: _within((key,), _CONVERT[key], value) for key, value in table.items()}


def _read(doc: Mapping[str, Any]) -> tuple[Settings, Mapping[str, Mapping[str, Any]]]:
    _known(doc, (*_CONVERT, "presets", "providers", "models"))
    tables = ("presets", "providers", "models")
    settings = replace(Settings(), **_overrides({k: v for k, v in doc.items() if k not in tables}))
    if "providers" in doc:
        settings = replace(settings, providers=_within(("providers",), _providers, doc["providers"]))
    if "models" in doc:
        try:
            settings = replace(settings, models=parse_models_table(doc["models"]))
        except TableProblem as problem:
            raise _Problem(("models", *problem.where), problem.rest) from None
    tables = doc.get("presets", {})
    if not isinstance(tables, dict):
        raise _Problem(("presets",), f"must be a table of presets, not {_show(tables)}")
    presets: dict[str, Mapping[str, Any]] = {}
    for name, table in tables.items():
        if not isinstance(table, dict):
            raise _Problem(("presets", name), f"must be a table of settings, not {_show(table)}")
        presets[name] = MappingProxyType(_within(("presets", name), _overrides, table))
    return settings, MappingProxyType(presets)


# --- messages ---------------------------------------------------------------------------------

_BARE = re.compile(r"[A-Za-z0-9_-]+")
_POSITION = re.compile(r"\s*\(at (?:line (\d+), column \d+|end of document)\)$")


FLAG_NAMES = {"references": "--model"}
"""Settings whose flag is not simply ``--`` and the field's name."""


def _describe(problem: _Problem, *, flag: bool = False) -> str:
    name = _name(problem.where, flag=flag)
    return f"unknown key '{name}'{problem.rest}" if problem.unknown else f"'{name}' {problem.rest}"


def _name(path: Key, *, flag: bool = False) -> str:
    """``presets.fast.layers``, ``references[1].temperature``; ``--max-tokens`` for a flag."""
    out = ""
    for step in path:
        if isinstance(step, int):
            out += f"[{step}]"
        elif flag and not out:
            out = FLAG_NAMES.get(step, "--" + step.replace("_", "-"))
        else:
            part = step if _BARE.fullmatch(step) else json.dumps(step, ensure_ascii=False)
            out += f".{part}" if out else part
    return out


def _show(value: object) -> str:
    """A value as the user wrote it, or what it is, for "must be ..., not <value>"."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        text = json.dumps(value, ensure_ascii=False)
        return text if len(text) <= 40 else text[:36] + '..."'
    if isinstance(value, list | tuple):
        return "an array" if value else "an empty array"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    return str(value)


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


# --- finding lines ----------------------------------------------------------------------------


class _Locator:
    """Finds the line on which each key path of a valid TOML document is defined.

    tomllib keeps no positions, so this walks the text: ``[table]`` and ``[[array]]`` headers,
    ``key = value`` lines (quoted and dotted keys too), array items and inline tables. Paths it
    cannot place are simply absent.
    """

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.newlines = [i for i, char in enumerate(text) if char == "\n"]
        self.lines: dict[Key, int] = {}
        self.arrays: dict[Key, int] = {}  # array-of-tables path -> tables so far

    def run(self) -> dict[Key, int]:
        try:
            self._document()
        except (IndexError, ValueError):
            pass  # only on text tomllib rejects; what was found so far is still right
        return self.lines

    def _line(self) -> int:
        return bisect.bisect_left(self.newlines, self.pos) + 1

    def _define(self, path: Key, line: int) -> None:
        for size in range(1, len(path)):
            self.lines.setdefault(path[:size], line)
        self.lines[path] = line

    def _document(self) -> None:
        table: Key = ()
        while True:
            self._skip(newlines=True)
            if self.pos >= len(self.text):
                return
            line = self._line()
            if self.text.startswith("[[", self.pos):
                self.pos += 2
                keys = self._key()
                self._expect("]]")
                array = self._expand(keys[:-1]) + (keys[-1],)
                index = self.arrays.get(array, 0)
                self.arrays[array] = index + 1
                table = array + (index,)
                self._define(table, line)
            elif self.text[self.pos] == "[":
                self.pos += 1
                keys = self._key()
                self._expect("]")
                table = self._expand(keys)
                self._define(table, line)
            else:
                self._pair(table)

    def _expand(self, keys: Sequence[str]) -> Key:
        """A header's key path, with each array of tables standing for its last table."""
        path: Key = ()
        for key in keys:
            path += (key,)
            if path in self.arrays:
                path += (self.arrays[path] - 1,)
        return path

    def _pair(self, table: Key) -> None:
        line = self._line()
        path = table + tuple(self._key())
        self._expect("=")
        self._define(path, line)
        self._value(path)

    def _key(self) -> list[str]:
        keys = []
        while True:
            self._skip()
            if self.text[self.pos] in "\"'":
                start = self.pos
                self._string()
                import tomllib

                keys.append(next(iter(tomllib.loads(self.text[start : self.pos] + " = 0"))))
            else:
                match = _BARE.match(self.text, self.pos)
                if match is None:
                    raise ValueError("expected a key")
                self.pos = match.end()
                keys.append(match[0])
            self._skip()
            if self.text[self.pos] != ".":
                return keys
            self.pos += 1

    def _value(self, path: Key) -> None:
        self._skip()
        char = self.text[self.pos]
        if char in "\"'":
            self._string()
        elif char == "[":
            self.pos += 1
            index = 0
            while True:
                self._skip(newlines=True)
                if self.text[self.pos] == "]":
                    self.pos += 1
                    return
                self._define(path + (index,), self._line())
                self._value(path + (index,))
                index += 1
                self._skip(newlines=True)
                if self.text[self.pos] == ",":
                    self.pos += 1
                elif self.text[self.pos] != "]":
                    raise ValueError("expected ',' or ']'")
        elif char == "{":
            self.pos += 1
            while True:
                self._skip(newlines=True)
                if self.text[self.pos] == "}":
                    self.pos += 1
                    return
                self._pair(path)
                self._skip(newlines=True)
                if self.text[self.pos] == ",":
                    self.pos += 1
                elif self.text[self.pos] != "}":
                    raise ValueError("expected ',' or '}'")
        else:
            match = _SCALAR.match(self.text, self.pos)
            if match is None:
                raise ValueError("expected a value")
            self.pos = match.end()

    def _string(self) -> None:
        text, quote = self.text, self.text[self.pos]
        basic = quote == '"'
        if text.startswith(quote * 3, self.pos):
            pos = self.pos + 3
            while not text.startswith(quote * 3, pos):
                pos += 2 if basic and text[pos] == "\\" else 1
                if pos >= len(text):
                    raise ValueError("unterminated string")
            pos += 3
            for _ in range(2):  # up to two quotes right before the closing ones belong to the string
                if pos < len(text) and text[pos] == quote:
                    pos += 1
        else:
            pos = self.pos + 1
            while text[pos] != quote:
                pos += 2 if basic and text[pos] == "\\" else 1
            pos += 1
        self.pos = pos

    def _skip(self, *, newlines: bool = False) -> None:
        text = self.text
        while self.pos < len(text):
            char = text[self.pos]
            if char in " \t" or (newlines and char in "\r\n"):
                self.pos += 1
            elif char == "#":
                end = text.find("\n", self.pos)
                self.pos = len(text) if end < 0 else end
            else:
                return

    def _expect(self, token: str) -> None:
        self._skip()
        if not self.text.startswith(token, self.pos):
            raise ValueError(f"expected {token!r}")
        self.pos += len(token)


_SCALAR = re.compile(r"[^,\]}#\n]+")
