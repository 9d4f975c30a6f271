"""The small interface every model provider implements, and the chunks it streams."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Literal, Protocol

from moa_cli.events import Usage
from moa_cli.request import Message


@dataclass(frozen=True, slots=True)
class ChatCall:
    """One streamed chat completion to make."""

    model: str
    messages: tuple[Message, ...]
    temperature: float
    max_tokens: int
    seed: int | None = None
    read_interval: float = 0.0
    """Read the stream at most this often (seconds), letting chunks gather in between: far
    fewer reads for the same text when nobody needs each token the instant it arrives."""


@dataclass(frozen=True, slots=True)
class Delta:
    """A piece of streamed text: the answer itself, or the model's separate reasoning."""

    kind: Literal["text", "reasoning"]
    text: str
    pieces: int = 1
    """How many streamed chunks (about one token each) this delta joins."""


@dataclass(frozen=True, slots=True)
class Retrying:
    """The provider will retry the call after ``wait`` seconds (nothing was streamed yet)."""

    wait: float
    reason: str


Chunk = Delta | Usage | Retrying


class Provider(Protocol):
    """Streams chat completions. Raises :class:`moa_cli.errors.ProviderError` on failure."""

    def stream(self, call: ChatCall) -> AsyncIterator[Chunk]:
        """Stream the answer to ``call``; closing the iterator closes the HTTP stream."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...
