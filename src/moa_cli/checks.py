"""Value checks shared by the config file, command-line flags and chat's slash commands.

A check takes a value as TOML or a flag gives it and returns it converted, or raises
:class:`Problem`; the caller turns that into a one-line error naming where the value came from.
Standard library only: every command checks its settings at start-up.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from moa_cli.request import ModelSpec

Key = tuple[str | int, ...]
"""A path into the TOML document: ``("presets", "fast", "layers")``, ``("references", 1)``."""
Check = Callable[[Any], Any]

BARE = re.compile(r"[A-Za-z0-9_-]+")


class Problem(Exception):
    """A value that cannot be used, at ``where``; ``rest`` follows the key's name in the message."""

    def __init__(self, where: Key, rest: str, *, unknown: bool = False) -> None:
        super().__init__(rest)
        self.where = where
        self.rest = rest
        self.unknown = unknown


def invalid(expected: str, value: object) -> Problem:
    return Problem((), f"must be {expected}, not {show(value)}")


def within(path: Key, check: Check, value: object) -> Any:
    """``check(value)``, with any problem's location moved under ``path``."""
    try:
        return check(value)
    except Problem as problem:
        problem.where = path + problem.where
        raise


def count(value: object) -> int:
    if type(value) is not int or value < 1:
        raise invalid("an integer >= 1", value)
    return value


def bounded(most: int) -> Check:
    """An integer from 1 to ``most``."""

    def check(value: object) -> int:
        if type(value) is not int or not 1 <= value <= most:
            raise invalid(f"an integer from 1 to {most}", value)
        return value

    return check


def number(expected: str, ok: Callable[[float], bool]) -> Check:
    def check(value: object) -> float:
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise invalid(expected, value)
        if not math.isfinite(value) or not ok(value):
            raise invalid(expected, value)
        return float(value)

    return check


temperature = number("a number from 0 to 2", lambda x: 0 <= x <= 2)
positive = number("a number > 0", lambda x: x > 0)
non_negative = number("a number >= 0", lambda x: x >= 0)


def zero_is_none(value: object) -> float | None:
    """A number >= 0 where 0 means "no limit"."""
    return non_negative(value) or None


def text(value: object) -> str:
    if not isinstance(value, str):
        raise invalid("a string", value)
    return value


def optional_text(value: object) -> str | None:
    return text(value) or None  # "" means none


def model_id(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise invalid("a non-empty model id string", value)
    return value.strip()


def choice(allowed: tuple[str, ...]) -> Check:
    def check(value: object) -> str:
        if value not in allowed:
            raise invalid(" or ".join(repr(a) for a in allowed), value)
        return value  # type: ignore[return-value]

    return check


effort = choice(("low", "medium", "high"))
"""``reasoning_effort``: sent only to models that take it (see :mod:`moa_cli.model_limits`)."""


def optional_effort(value: object) -> str | None:
    return None if value == "" else effort(value)  # "": each model's own default

MODEL_FIELDS: dict[str, Check] = {
    "model": model_id,
    "temperature": temperature,
    "max_tokens": count,
    "system": text,
    "reasoning_effort": effort,
}


def spec(value: object) -> ModelSpec:
    """A model id or a ``{ model = ..., temperature = ..., max_tokens = ..., system = ... }`` table."""
    if isinstance(value, ModelSpec):
        return value
    if isinstance(value, str):
        return ModelSpec(model_id(value))
    if not isinstance(value, dict):
        raise invalid("a model id or a table with a 'model' key", value)
    known(value, tuple(MODEL_FIELDS))
    if "model" not in value:
        raise Problem((), "needs a 'model' key")
    return ModelSpec(**{key: within((key,), MODEL_FIELDS[key], item) for key, item in value.items()})


def specs(value: object) -> tuple[ModelSpec, ...]:
    if isinstance(value, str | bytes) or not isinstance(value, Sequence) or not value:
        raise invalid("a non-empty array of model ids or tables", value)
    models = tuple(within((index,), spec, item) for index, item in enumerate(value))
    for index, model in enumerate(models):
        if model in models[:index]:  # one answer twice is no mixture, and its progress reads as one
            raise Problem((index,), f"repeats {model.model}; for several answers from one model use samples (--samples N)")
    return models


def known(table: Mapping[str, object], allowed: Sequence[str]) -> None:
    """Raise for the first key of ``table`` not in ``allowed``, with a close match if there is one."""
    for key in table:
        if key not in allowed:
            import difflib  # only on this error path: keeps start-up light

            close = difflib.get_close_matches(key, allowed, n=1)
            hint = f"did you mean '{close[0]}'?" if close else f"expected one of: {', '.join(allowed)}"
            raise Problem((key,), f" ({hint})", unknown=True)


# --- messages ---------------------------------------------------------------------------------


def describe(problem: Problem, flags: Mapping[str, str] | None = None) -> str:
    """The one-line message for ``problem``; with ``flags`` (setting -> flag) the key is named as a flag."""
    name = key_name(problem.where, flags)
    return f"unknown key '{name}'{problem.rest}" if problem.unknown else f"'{name}' {problem.rest}"


def key_name(path: Key, flags: Mapping[str, str] | None = None) -> str:
    """``presets.fast.layers``, ``references[1].temperature``; ``--max-tokens`` for a flag."""
    out = ""
    for step in path:
        if isinstance(step, int):
            out += f"[{step}]"
        elif flags is not None and not out:
            out = flags.get(step, "--" + step.replace("_", "-"))
        else:
            part = step if BARE.fullmatch(step) else json.dumps(step, ensure_ascii=False)
            out += f".{part}" if out else part
    return out


def show(value: object) -> str:
    """A value as the user wrote it, or what it is, for "must be ..., not <value>"."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        shown = json.dumps(value, ensure_ascii=False)
        return shown if len(shown) <= 40 else shown[:36] + '..."'
    if isinstance(value, list | tuple):
        return "an array" if value else "an empty array"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    return str(value)
