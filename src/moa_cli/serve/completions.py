"""``POST /v1/chat/completions``: one Mixture-of-Agents turn, answered whole or streamed.

A streamed answer holds back its response headers until the aggregator's first words, so a run
in which every reference (or the aggregator) fails still gets a real status (502, 429) that the
SDKs raise as usual. While references take long, a heartbeat starts the stream anyway (proxies
and clients give up on silent connections); a failure after that is an error event, then
``[DONE]``. A client that hangs up stops the turn at once: its open upstream requests are closed.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, Final

from moa_cli.events import TextDelta
from moa_cli.serve.errors import run_failed
from moa_cli.serve.mixture import Turn
from moa_cli.serve.protocol import ChatRequest
from moa_cli.serve.writer import DONE, ChunkWriter, completion, error_event

HEARTBEAT: Final = 10.0
"""Seconds of silence after which a stream starts anyway, and then between SSE comments."""
SSE_HEADERS: Final = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),  # nginx: pass each event on at once
]
JSON_HEADERS: Final = [(b"content-type", b"application/json")]


async def send_json(
    send: Any, status: int, payload: dict[str, Any], headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    body = json.dumps(payload, ensure_ascii=False).encode()
    await send({"type": "http.response.start", "status": status, "headers": JSON_HEADERS + (headers or [])})
    await send({"type": "http.response.body", "body": body})


async def answer(chat: ChatRequest, turn: Turn, receive: Any, send: Any) -> None:
    """Answer ``chat`` with ``turn``; an error before any byte was sent is raised as :class:`ApiError`."""
    watcher = asyncio.create_task(_stop_on_hang_up(receive, turn))
    try:
        if chat.stream:
            await _Stream(chat, turn, send).run()
        else:
            async for _ in turn.events():
                pass
            if turn.result.status != "complete":
                raise run_failed(turn.result)
            await send_json(send, 200, completion(chat.model, turn.result, turn.finish_reason()))
    finally:
        watcher.cancel()


async def _stop_on_hang_up(receive: Any, turn: Turn) -> None:
    """Wait for the client to go away, then stop the turn (the request body has been read)."""
    while (await receive())["type"] != "http.disconnect":
        pass
    turn.stop()


class _Stream:
    """One streamed answer: headers on the first words (or the first heartbeat), then chunks."""

    def __init__(self, chat: ChatRequest, turn: Turn, send: Any) -> None:
        self.chat, self.turn, self.send = chat, turn, send
        self.writer = ChunkWriter(chat.model)
        self.started = False
        self.lock = asyncio.Lock()

    async def run(self) -> None:
        heartbeat: asyncio.Task[None] | None = asyncio.create_task(self._heartbeat())
        try:
            async for event in self.turn.events():
                if isinstance(event, TextDelta) and event.agent.role == "aggregator" and event.text:
                    if heartbeat is not None:
                        heartbeat.cancel()
                        heartbeat = None
                    await self._write(self.writer.content(event.text))
        finally:
            if heartbeat is not None:
                heartbeat.cancel()
        result = self.turn.result
        if result.status != "complete":
            error = run_failed(result)
            if not self.started:
                raise error
            await self._write(error_event(error) + DONE, last=True)
            return
        usage = self.chat.include_usage
        tail = self.writer.finish(self.turn.finish_reason(), None if usage else result)
        if usage:
            tail += self.writer.usage(result)
        await self._write(tail + DONE, last=True)

    async def _write(self, data: bytes, *, last: bool = False) -> None:
        async with self.lock:
            if not self.started:
                await self.send({"type": "http.response.start", "status": 200, "headers": SSE_HEADERS})
                self.started = True
                data = self.writer.role() + data
            await self.send({"type": "http.response.body", "body": data, "more_body": not last})

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT)
            await self._write(b": waiting for the reference models\n\n")
