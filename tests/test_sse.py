"""The server-sent-events reader: events split anywhere across reads, CRLF, named events; and the
paced reader that hands on what arrived in one piece."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from moa_cli.providers.base import Pace
from moa_cli.providers.sse import gathered, sse_batches


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


class Network:
    """Chunks handed to the reader when the test says, as a socket would deliver them."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[bytes | Exception | None] = asyncio.Queue()

    async def chunks(self) -> AsyncIterator[bytes]:
        while (item := await self.queue.get()) is not None:
            if isinstance(item, Exception):
                raise item
            yield item

    def send(self, *items: bytes | Exception | None) -> None:
        for item in items:
            self.queue.put_nowait(item)


async def test_what_arrives_during_a_pause_is_handed_on_in_one_piece() -> None:
    network = Network()
    pieces = gathered(network.chunks(), Pace(30.0))
    network.send(b"a")
    assert await anext(pieces) == b"a"
    network.send(b"b", b"c", b"d", None)  # three HTTP chunks while it pauses, then the end
    assert await asyncio.wait_for(anext(pieces), 1.0) == b"bcd"  # the end cut the 30 s pause short
    with pytest.raises(StopAsyncIteration):
        await anext(pieces)


async def test_a_broken_stream_hands_on_what_arrived_before_its_error() -> None:
    network = Network()
    pieces = gathered(network.chunks(), Pace(30.0))
    network.send(b"a")
    assert await anext(pieces) == b"a"
    network.send(b"b", ConnectionResetError("gone"))
    assert await asyncio.wait_for(anext(pieces), 1.0) == b"b"
    with pytest.raises(ConnectionResetError):
        await anext(pieces)


async def test_closing_the_reader_stops_reading_the_network() -> None:
    network = Network()
    source = network.chunks()
    pieces = gathered(source, Pace(0.0))
    network.send(b"a")
    assert await anext(pieces) == b"a"
    await pieces.aclose()
    with pytest.raises(StopAsyncIteration):  # the reader task was stopped, and with it the network read
        await anext(source)


async def test_a_cancelled_read_stays_cancelled_and_stops_the_network_read() -> None:
    network = Network()
    source = network.chunks()
    reading = asyncio.ensure_future(anext(gathered(source, Pace(0.0))))
    for _ in range(3):
        await asyncio.sleep(0)  # let it reach its wait for the network
    reading.cancel()  # Ctrl-C
    with pytest.raises(asyncio.CancelledError):
        await reading
    with pytest.raises(StopAsyncIteration):
        await anext(source)


async def test_a_stream_held_from_closing_reads_nothing_after_done_until_let_go() -> None:
    network = Network()
    pace = Pace(0.0)
    pace.hold_close()
    pieces = gathered(network.chunks(), pace)
    network.send(b"data: x\n\ndata: [DONE]\n\n", None)  # then the body's end
    assert await anext(pieces) == b"data: x\n\ndata: [DONE]\n\n"
    reading = asyncio.ensure_future(anext(pieces))
    for _ in range(5):  # the reader's turns: it must stay where it is
        await asyncio.sleep(0)
    assert not reading.done() and network.queue.qsize() == 1
    pace.let_close()
    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(reading, 1.0)


async def test_done_cuts_a_pause_short_though_the_body_has_not_ended() -> None:
    network = Network()
    pace = Pace(30.0)
    pace.hold_close()  # as in the last layer: the body's end is read only after the aggregator's request
    pieces = gathered(network.chunks(), pace)
    network.send(b"data: a\n\n")
    assert await anext(pieces) == b"data: a\n\n"
    network.send(b"data: [DONE]\n\n")
    assert await asyncio.wait_for(anext(pieces), 1.0) == b"data: [DONE]\n\n"


async def test_done_that_arrived_while_a_piece_was_handed_on_is_not_paused_for() -> None:
    network = Network()
    pieces = gathered(network.chunks(), Pace(30.0))
    network.send(b"data: a\n\n")
    assert await anext(pieces) == b"data: a\n\n"
    network.send(b"data: [DONE]\n\n")  # arrives while nobody reads: no pause is in progress to cut
    for _ in range(5):
        await asyncio.sleep(0)
    assert await asyncio.wait_for(anext(pieces), 1.0) == b"data: [DONE]\n\n"
