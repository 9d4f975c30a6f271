"""The server-sent-events reader: events split anywhere across reads, CRLF, named events."""

from __future__ import annotations

from collections.abc import AsyncIterator

from moa_cli.providers.sse import sse_batches


async def read(*chunks: bytes) -> list[tuple[str | None, bytes]]:
    async def source() -> AsyncIterator[bytes]:
        for chunk in chunks:
            yield chunk

    return [event async for batch in sse_batches(source()) for event in batch]


async def test_events_split_across_reads_are_joined() -> None:
    stream = b'data: {"a": 1}\n\ndata: {"b": 2}\n\ndata: [DONE]\n\n'
    pieces = [stream[i : i + 3] for i in range(0, len(stream), 3)]
    assert await read(*pieces) == [(None, b'{"a": 1}'), (None, b'{"b": 2}'), (None, b"[DONE]")]


async def test_named_events_crlf_and_multiline_data() -> None:
    stream = b"event: error\r\ndata: {\"error\":\r\ndata: 1}\r\n\r\n: a comment\n\ndata:x\n\n"
    assert await read(stream) == [("error", b'{"error":\n1}'), (None, b"x")]


async def test_events_completed_by_one_read_come_as_one_batch() -> None:
    async def source() -> AsyncIterator[bytes]:
        yield b"data: 1\n\ndata: 2\n\ndata: 3"
        yield b"\n\n"

    assert [batch async for batch in sse_batches(source())] == [[(None, b"1"), (None, b"2")], [(None, b"3")]]


async def test_an_event_without_its_blank_line_still_arrives_at_the_end() -> None:
    assert await read(b"data: last") == [(None, b"last")]
