"""An in-memory provider for engine unit tests: scripted answers, delays and failures per model."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from moa_cli.errors import ProviderError
from moa_cli.events import Usage
from moa_cli.providers.base import ChatCall, Chunk, Delta


@dataclass
class Script:
    """How one model answers: ``text`` split on spaces, ``delay`` before each piece, or an error."""

    text: str = ""
    delay: float = 0.0
    fail: ProviderError | None = None
    fail_after: int | None = None


@dataclass
class MemoryProvider:
    scripts: dict[str, Script] = field(default_factory=dict)
    calls: list[ChatCall] = field(default_factory=list)
    open_streams: int = 0
    closed_streams: int = 0

    async def stream(self, call: ChatCall) -> AsyncIterator[Chunk]:
        self.calls.append(call)
        script = self.scripts.get(call.model) or Script(text=f"{call.model} answer")
        self.open_streams += 1
        try:
            if script.fail is not None and script.fail_after is None:
                raise script.fail
            pieces = script.text.split(" ")
            for n, piece in enumerate(pieces):
                if script.fail is not None and n == script.fail_after:
                    raise script.fail
                await asyncio.sleep(script.delay)
                yield Delta("text", piece if n == len(pieces) - 1 else piece + " ")
            yield Usage(prompt_tokens=10, completion_tokens=len(pieces))
        finally:
            self.open_streams -= 1
            self.closed_streams += 1

    async def aclose(self) -> None:
        pass


def failure(model: str, kind: str = "server") -> ProviderError:
    return ProviderError(f"{model}: boom ({kind})", kind=kind, model=model)
