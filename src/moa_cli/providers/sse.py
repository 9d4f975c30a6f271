"""A small server-sent-events reader over raw bytes.

The SDKs build a pydantic object for every streamed chunk, which costs about 25 times the JSON
parse itself; at a few thousand chunks a second that is most of moa's CPU. Reading the stream as
bytes and parsing each ``data:`` line with ``json.loads`` keeps the SDK for everything else
(auth, URLs, status errors) and drops that cost.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from moa_cli.providers.base import Pace

Event = tuple[str | None, bytes]
"""``(event, data)``: ``event`` is None when the server named none."""


async def sse_batches(chunks: AsyncIterator[bytes], stray: list[bytes] | None = None) -> AsyncIterator[list[Event]]:
    """The events completed by each read of the stream, as one list per read.

    Whoever reads them can merge what arrived together: under load a read holds several. The
    first lines that are not server-sent events at all (an HTML page, a JSON body) go to ``stray``.
    """
    buffer = b""
    event: str | None = None
    data: list[bytes] = []
    async with contextlib.aclosing(chunks):  # type: ignore[type-var]  # ends a reader task behind it too
        async for chunk in chunks:
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            batch: list[Event] = []
            for line in lines:
                line = line.rstrip(b"\r")
                if not line:
                    if data:
                        batch.append((event, b"\n".join(data)))
                    event, data = None, []
                elif line.startswith(b"data:"):
                    data.append(_field(line, 5))
                elif line.startswith(b"event:"):
                    event = _field(line, 6).decode("utf-8", "replace")
                elif stray is not None and len(stray) < 3 and not line.startswith(_OTHER_FIELDS):
                    stray.append(line)
            if batch:
                yield batch
    if buffer.startswith(b"data:"):
        data.append(_field(buffer.rstrip(b"\r"), 5))
    elif stray is not None and buffer.strip() and not buffer.startswith(_OTHER_FIELDS):
        stray.append(buffer)
    if data:
        yield [(event, b"\n".join(data))]


async def gathered(chunks: AsyncIterator[bytes], pace: Pace) -> AsyncIterator[bytes]:
    """``chunks`` as they arrive, handed on joined: all that arrived during a pause in one piece.

    A reader task takes each chunk the moment the network delivers it, so the end of the stream
    is seen at once; the one reading from here pauses ``pace.interval`` after each piece, so that
    parsing and everything downstream run once per pause, not once per HTTP chunk (64 streams
    keep up). The stream's end cuts a pause short: the aggregator never waits for one.
    """
    loop = asyncio.get_running_loop()
    arrived: list[bytes] = []
    failed: list[Exception] = []
    waiting: list[asyncio.Future[None]] = []
    whole = False
    """``[DONE]`` has arrived: the rest is read without pauses."""

    def wake() -> None:
        if waiting and not waiting[0].done():
            waiting[0].set_result(None)

    async def read() -> None:
        nonlocal whole
        try:
            async for chunk in chunks:
                arrived.append(chunk)
                wake()
                if chunk[-16:].rstrip().endswith(b"[DONE]"):
                    whole = True
                    pace.wake()  # no pause, in progress or next, before the end is heard
                    await pace.closable()
        except Exception as error:  # handed on with what arrived before it
            failed.append(error)
        finally:
            wake()
            pace.wake()

    reader = loop.create_task(read())
    try:
        while True:
            if not arrived and not reader.done():
                waiting[:] = [loop.create_future()]
                await waiting[0]
            if arrived:
                piece = b"".join(arrived)
                arrived.clear()
                yield piece
            if reader.done() and not arrived:
                if failed:
                    raise failed[0]
                return
            if pace.interval and not reader.done() and not whole:
                await pace.pause()
    finally:
        reader.cancel()
        await asyncio.wait([reader])  # its own cancellation is not ours: a Ctrl-C meanwhile still stops us


_OTHER_FIELDS = (b":", b"id:", b"retry:")
"""A comment, and the fields of the protocol that chat streams do not use."""


def _field(line: bytes, prefix_length: int) -> bytes:
    """The value after ``name:`` (``prefix_length`` bytes), without the one optional space."""
    value = line[prefix_length:]
    return value[1:] if value.startswith(b" ") else value
