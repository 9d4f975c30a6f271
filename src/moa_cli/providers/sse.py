"""A small server-sent-events reader over raw bytes.

The SDKs build a pydantic object for every streamed chunk, which costs about 25 times the JSON
parse itself; at a few thousand chunks a second that is most of moa's CPU. Reading the stream as
bytes and parsing each ``data:`` line with ``json.loads`` keeps the SDK for everything else
(auth, URLs, status errors) and drops that cost.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

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


_OTHER_FIELDS = (b":", b"id:", b"retry:")
"""A comment, and the fields of the protocol that chat streams do not use."""


def _field(line: bytes, prefix_length: int) -> bytes:
    """The value after ``name:`` (``prefix_length`` bytes), without the one optional space."""
    value = line[prefix_length:]
    return value[1:] if value.startswith(b" ") else value
