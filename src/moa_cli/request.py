"""What the engine is asked to do: the models, their settings and the conversation."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from json.encoder import encode_basestring, encode_basestring_ascii  # type: ignore[attr-defined]
from typing import Any, Literal

Role = Literal["system", "user", "assistant"]
SAMPLE_SPREAD = 0.3


def json_bytes(value: Any) -> bytes:
    """``value`` as compact UTF-8 JSON, byte for byte as the groq and openai SDKs encode a body."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


@dataclass(frozen=True, slots=True)
class Message:
    """One chat message as the models receive it."""

    role: Role
    content: str
    _json: bytes | None = field(default=None, init=False, repr=False, compare=False)

    def as_dict(self) -> dict[str, str]:
        return {"role": self.role, "content": self.content}

    @property
    def json(self) -> bytes:
        """The message as JSON (as the SDKs encode it), made on first use only: every request of a
        turn carries the same history messages, so each is encoded once per turn, not per model."""
        if self._json is None:
            content = self.content
            # ASCII without DEL encodes alike either way, and 4x faster with encode_basestring_ascii.
            plain = content.isascii() and "\x7f" not in content
            text = encode_basestring_ascii(content) if plain else encode_basestring(content)
            object.__setattr__(self, "_json", b'{"role":"%s","content":%s}' % (self.role.encode(), text.encode()))
        return self._json  # type: ignore[return-value]


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """A model and the settings that override the request's defaults for it.

    ``model`` is the provider's id (``openai/gpt-oss-120b``); ``None`` settings fall back to the
    request's ``temperature``, ``max_tokens`` and ``system``.
    """

    model: str
    temperature: float | None = None
    max_tokens: int | None = None
    system: str | None = None
    reasoning_effort: str | None = None
    """``low``, ``medium`` or ``high``, for models that take it (see :mod:`moa_cli.model_limits`)."""


@dataclass(frozen=True, slots=True)
class MoaRequest:
    """One Mixture-of-Agents question: who answers, who aggregates, and the history so far.

    ``layers`` follows Wang et al. 2024: with N > 1 each reference model in layer k+1 sees the
    answers of layer k as auxiliary context. ``ref_timeout`` cancels a reference that is not done
    that many seconds after its layer started; aggregation goes on with the rest. With
    ``straggler_factor`` F > 0, once a majority of a layer has finished, the rest get at most F
    times the majority's time before they are dropped; 0 waits for all. ``samples`` > 1 is
    Self-MoA (Li et al. 2025): each reference answers that many times, with distinct seeds and
    temperatures spread around its own.
    """

    question: str
    references: tuple[ModelSpec, ...]
    aggregator: ModelSpec
    history: tuple[Message, ...] = ()
    layers: int = 1
    system: str | None = None
    temperature: float = 0.7
    max_tokens: int = 2048
    ref_timeout: float | None = None
    straggler_factor: float = 0.0
    samples: int = 1
    reasoning_effort: str | None = None
    """The default for every model that takes it; a :class:`ModelSpec`'s own wins."""

    def sample_temperature(self, temperature: float, sample: int) -> float:
        """``temperature`` spread over +/- SAMPLE_SPREAD across the samples, kept within 0..2."""
        if self.samples == 1:
            return temperature
        offset = SAMPLE_SPREAD * (2 * sample / (self.samples - 1) - 1)
        return round(min(2.0, max(0.0, temperature + offset)), 3)

    def settings_for(self, spec: ModelSpec) -> tuple[float, int, str | None]:
        """The temperature, max tokens and system prompt that apply to ``spec``."""
        temperature = self.temperature if spec.temperature is None else spec.temperature
        max_tokens = self.max_tokens if spec.max_tokens is None else spec.max_tokens
        system = self.system if spec.system is None else spec.system
        return temperature, max_tokens, system
