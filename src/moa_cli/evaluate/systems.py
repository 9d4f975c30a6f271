"""The systems compared: ``NAME=SPEC`` with SPEC ``moa``, ``preset:NAME``, ``single:MODEL`` or ``self:MODEL*N``."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace

from moa_cli.config import Config
from moa_cli.errors import UsageError
from moa_cli.request import ModelSpec
from moa_cli.settings import Settings, check_values, record

SPEC_HELP = "moa, preset:NAME, single:MODEL or self:MODEL*N"


@dataclass(frozen=True, slots=True)
class System:
    """One system under test: its name, the spec it was given, and the settings it runs with."""

    name: str
    spec: str
    settings: Settings

    @property
    def key(self) -> str:
        """What its answers depend on: the settings (a renamed system keeps its cached answers)."""
        text = json.dumps(record(self.settings), sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:12]


def direct(settings: Settings, model: str) -> Settings:
    """``model`` answering alone: no reference layer, so the engine's aggregator call is the answer."""
    return replace(settings, references=(), aggregator=ModelSpec(model), layers=0, samples=1)


def parse_system(text: str, config: Config) -> System:
    """``NAME=SPEC`` as a :class:`System`; a bad one is a :class:`UsageError` saying what is allowed."""
    name, equals, spec = text.partition("=")
    name, spec = name.strip(), spec.strip()
    if not equals or not name or not spec:
        raise UsageError(f"--system takes NAME=SPEC (SPEC: {SPEC_HELP}), not {text!r}")
    kind, _, value = spec.partition(":")
    if spec == "moa":
        settings = config.resolve()
    elif kind == "preset" and value:
        settings = config.resolve(value)
    elif kind == "single" and value:
        settings = direct(config.resolve(), _model(value))
    elif kind == "self" and value:
        model, star, count = value.rpartition("*")
        if not star or not count.isdigit():
            raise UsageError(f"--system {name}: self takes MODEL*N (such as self:openai/gpt-oss-120b*4), not {value!r}")
        samples = check_values({"samples": int(count)}, flag=True)["samples"]
        spec_model = _model(model)
        settings = replace(config.resolve(), references=(ModelSpec(spec_model),), aggregator=ModelSpec(spec_model), samples=samples)
    else:
        raise UsageError(f"--system {name}: unknown spec {spec!r}; use {SPEC_HELP}")
    return System(name, spec, settings)


def parse_systems(texts: list[str], baseline: str, config: Config) -> list[System]:
    """Every ``--system``, the baseline first; names must be distinct and include the baseline."""
    systems = [parse_system(text, config) for text in texts]
    names = [s.name for s in systems]
    if len(set(names)) != len(names):
        raise UsageError(f"each --system needs its own name; given: {', '.join(names)}")
    if baseline not in names:
        raise UsageError(f"--baseline {baseline!r} is not one of the systems ({', '.join(names)})")
    return sorted(systems, key=lambda s: s.name != baseline)


def _model(text: str) -> str:
    model = text.strip()
    if not model:
        raise UsageError("a system's model is empty")
    return model
