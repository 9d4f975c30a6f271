"""The small interface every model provider implements, and the chunks it streams."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Literal, Protocol

from moa_cli.events import Usage
from moa_cli.request import Message


class Pace:
    """How long a stream that has caught up with its server waits before reading again.

    The engine calls :meth:`release` for the last reference still running, the one the
    aggregator waits for: its pause ends at once and it is read at full speed from then on.
    """

    __slots__ = ("interval", "_waiter", "_closable")

    def __init__(self, interval: float = 0.0) -> None:
        self.interval = interval
        self._waiter: asyncio.Future[None] | None = None
        self._closable: asyncio.Future[None] | None = None

    async def pause(self) -> None:
        """Wait ``interval`` seconds, or until :meth:`release`."""
        loop = asyncio.get_running_loop()
        waiter = self._waiter = loop.create_future()
        timer = loop.call_later(self.interval, _wake, waiter)
        try:
            await waiter
        finally:
            timer.cancel()
            self._waiter = None

    def release(self) -> None:
        """No more pauses, starting with the one in progress."""
        self.interval = 0.0
        self.wake()

    def wake(self) -> None:
        """End the pause in progress, if any; the next pauses are as long as before."""
        if self._waiter is not None:
            _wake(self._waiter)

    def hold_close(self) -> None:
        """A stream that has sent ``[DONE]`` reads no further (the body's end, which closes its
        response: work that grows with the open connections) until :meth:`let_close`."""
        if self._closable is None:
            self._closable = asyncio.get_running_loop().create_future()

    def let_close(self) -> None:
        """The stream may read to its end and close."""
        if self._closable is not None:
            _wake(self._closable)

    async def closable(self) -> None:
        """Return once the stream may close (at once unless :meth:`hold_close` was called)."""
        if self._closable is not None and not self._closable.done():
            await self._closable


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


@dataclass(frozen=True, slots=True)
class ChatCall:
    """One streamed chat completion to make."""

    model: str
    messages: tuple[Message, ...]
    temperature: float
    max_tokens: int
    seed: int | None = None
    pace: Pace | None = None
    """Let chunks gather between reads (see :class:`Pace`): far fewer wake-ups for the same text
    when nobody needs each token the instant it arrives. None reads every chunk at once."""
    on_headers: Callable[[Mapping[str, str], float], None] | None = None
    """Called with every response's headers (errors too) and how many seconds the provider's
    requests limit spans: how moa learns rate limits (see :mod:`moa_cli.limits`)."""
    reasoning_effort: str | None = None
    """``low``, ``medium`` or ``high``; set only for models that take it."""


@dataclass(frozen=True, slots=True)
class Delta:
    """A piece of streamed text: the answer itself, or the model's separate reasoning."""

    kind: Literal["text", "reasoning"]
    text: str
    pieces: int = 1
    """How many streamed chunks (about one token each) this delta joins."""


@dataclass(frozen=True, slots=True)
class Retrying:
    """The provider will retry the call after ``wait`` seconds.

    Nothing was streamed yet, unless ``restart``: then what streamed is void and the answer
    starts again (a local server cut it off to serve another request).
    """

    wait: float
    reason: str
    restart: bool = False


@dataclass(frozen=True, slots=True)
class Queued:
    """The call waits for one of its provider's ``max_concurrency`` slots (``waiting``), or has
    just been given one and is sent (``waiting=False``)."""

    waiting: bool


@dataclass(frozen=True, slots=True)
class Sent:
    """The request is out: the server has answered with its headers, the body is to come."""


@dataclass(frozen=True, slots=True)
class Finish:
    """The stream ended cleanly; ``reason`` is the server's ``finish_reason`` (``stop``,
    ``length``, ``content_filter``...), None when it never gave one: the answer was cut off."""

    reason: str | None


Chunk = Delta | Usage | Retrying | Queued | Sent | Finish


class ChatStreamer(Protocol):
    """What the engine needs: stream a call, release connections. Raises
    :class:`moa_cli.errors.ProviderError` on failure. The router over many providers is one."""

    def stream(self, call: ChatCall) -> AsyncIterator[Chunk]:
        """Stream the answer to ``call``; closing the iterator closes the HTTP stream."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...


class Provider(ChatStreamer, Protocol):
    """One model service. ``label`` names it in messages ("Groq"); ``where`` is its address."""

    label: str
    where: str

    async def list_models(self) -> list[str]:
        """The ids of the models the service serves now."""
        ...
