"""The sockets under the SDKs' HTTP clients: httpcore's network backend on asyncio's own transports.

httpx (under groq) and httpx2 (under openai) read through httpcore's anyio backend, which pauses
the socket after every read and resumes it before the next: two ``epoll_ctl`` calls, a cancel
scope and often an extra loop turn per read, and each read takes one ``recv``'s worth. With 64
answers streaming at once that was most of moa's CPU, and the aggregator's request left 10-25 ms
after the last reference's end (``benchmarks/hop.py``). Here asyncio reads each socket as data
arrives, into a buffer that the next read takes whole: no system calls of our own, and one read
for all that arrived while the reader was busy.

A network backend is httpcore's extension point for this (``AsyncConnectionPool(network_backend=)``);
httpx does not pass one through, so :func:`install` sets it on the pools an httpx client built.
Errors are httpcore's own (``ConnectError``, ``ReadTimeout``, ...), raised from the OS's error as
the anyio backend raises them, so httpx, the SDKs and :mod:`moa_cli.providers.connection` see
what they saw before.
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Awaitable, Callable, Iterable
from types import ModuleType
from typing import Any

READ_AHEAD = 256 * 1024
"""Bytes a connection may receive ahead of its reader before asyncio stops reading its socket."""

SocketOption = tuple[int, int, Any]


class _Received(asyncio.Protocol):
    """What a connection has received and nobody has read yet, and whether (and why) it ended."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.pieces: list[bytes] = []
        self.size = 0
        self.ended = False
        """The peer closed its side, or the connection was lost."""
        self.lost: Exception | None = None
        """Why the connection was lost, when it was an error."""
        self.reading_paused = False
        self.writing_paused = False
        self._waiters: list[asyncio.Future[None]] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.pieces.append(data)
        self.size += len(data)
        if self.size > READ_AHEAD and not self.reading_paused and self.transport is not None:
            self.reading_paused = True
            self.transport.pause_reading()
        self._wake()

    def eof_received(self) -> None:
        self.ended = True  # returning None lets asyncio close the transport
        self._wake()

    def connection_lost(self, exc: Exception | None) -> None:
        self.ended = True
        self.lost = exc
        self._wake()

    def pause_writing(self) -> None:
        self.writing_paused = True

    def resume_writing(self) -> None:
        self.writing_paused = False
        self._wake()

    def take(self, max_bytes: int) -> bytes:
        """Up to ``max_bytes`` of what was received, oldest first."""
        data = self.pieces[0] if len(self.pieces) == 1 else b"".join(self.pieces)
        self.pieces = [data[max_bytes:]] if len(data) > max_bytes else []
        data = data[:max_bytes]
        self.size -= len(data)
        if self.reading_paused and self.size <= READ_AHEAD and self.transport is not None:
            self.reading_paused = False
            self.transport.resume_reading()
        return data

    async def changed(self, timeout: float | None, expired: type[Exception]) -> None:
        """Wait until data arrives, the connection ends or writing may go on; ``expired`` after ``timeout`` s."""
        loop = asyncio.get_running_loop()
        waiter = loop.create_future()
        self._waiters.append(waiter)
        timer = None if timeout is None else loop.call_later(timeout, _expire, waiter, expired)
        try:
            await waiter
        finally:
            if timer is not None:
                timer.cancel()
            if waiter in self._waiters:
                self._waiters.remove(waiter)

    def _wake(self) -> None:
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)


def _expire(waiter: asyncio.Future[None], expired: type[Exception]) -> None:
    if not waiter.done():
        waiter.set_exception(expired(TimeoutError()))


class AsyncioStream:
    """One connection, as httpcore reads and writes it (``AsyncNetworkStream``).

    ``raw`` is the TCP transport under a TLS one: closing it closes the connection without TLS's
    goodbye, as the anyio backend does, instead of waiting for the server's.
    """

    def __init__(self, transport: asyncio.Transport, received: _Received, errors: ModuleType, raw: asyncio.Transport | None = None) -> None:
        self._transport = transport
        self._received = received
        self._errors = errors
        self._raw = raw or transport

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        received = self._received
        while not received.pieces and not received.ended:
            await received.changed(timeout, self._errors.ReadTimeout)
        if received.pieces:
            return received.take(max_bytes)
        if received.lost is not None:
            raise self._errors.ReadError(received.lost) from received.lost
        return b""

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        received = self._received
        if received.ended or self._transport.is_closing():
            raise self._errors.WriteError(received.lost or ConnectionResetError("the connection was closed"))
        self._transport.write(buffer)
        while received.writing_paused and not received.ended:
            await received.changed(timeout, self._errors.WriteTimeout)
        if received.lost is not None:
            raise self._errors.WriteError(received.lost) from received.lost

    async def aclose(self) -> None:
        self._raw.close()

    async def start_tls(self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None) -> AsyncioStream:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                transport = await loop.start_tls(
                    self._transport, self._received, ssl_context, server_hostname=server_hostname
                )
        except TimeoutError as exc:
            self._raw.close()
            raise self._errors.ConnectTimeout(exc) from exc
        except OSError as exc:  # ssl.SSLError among them
            self._raw.close()
            raise self._errors.ConnectError(exc) from exc
        assert transport is not None  # start_tls returns None only for a server's transport
        self._received.transport = transport  # pause and resume reading above TLS from now on
        return AsyncioStream(transport, self._received, self._errors, raw=self._raw)

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":  # the server closed the idle connection, or sent what nobody asked for
            return self._received.ended or bool(self._received.pieces)
        name = _EXTRA_INFO.get(info)
        return None if name is None else self._transport.get_extra_info(name)


_EXTRA_INFO = {"ssl_object": "ssl_object", "client_addr": "sockname", "server_addr": "peername", "socket": "socket"}
"""httpcore's names for a connection's facts, and asyncio's."""


class AsyncioBackend:
    """Opens connections for one httpcore (``AsyncNetworkBackend``); ``errors`` is that httpcore's module."""

    def __init__(self, errors: ModuleType) -> None:
        self._errors = errors

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[SocketOption] | None = None,
    ) -> AsyncioStream:
        loop = asyncio.get_running_loop()
        local = None if local_address is None else (local_address, 0)
        return await self._connect(
            lambda received: loop.create_connection(
                lambda: received, host, port, local_addr=local, happy_eyeballs_delay=0.25
            ),
            timeout,
            socket_options,
        )

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[SocketOption] | None = None
    ) -> AsyncioStream:
        loop = asyncio.get_running_loop()
        return await self._connect(lambda received: loop.create_unix_connection(lambda: received, path), timeout, socket_options)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    async def _connect(
        self,
        open_connection: Callable[[_Received], Awaitable[tuple[asyncio.BaseTransport, Any]]],
        timeout: float | None,
        socket_options: Iterable[SocketOption] | None,
    ) -> AsyncioStream:
        received = _Received()
        try:
            async with asyncio.timeout(timeout):
                transport, _ = await open_connection(received)
        except TimeoutError as exc:
            raise self._errors.ConnectTimeout(exc) from exc
        except OSError as exc:
            raise self._errors.ConnectError(exc) from exc
        sock = transport.get_extra_info("socket")
        for option in socket_options or ():
            sock.setsockopt(*option)
        return AsyncioStream(transport, received, self._errors)  # type: ignore[arg-type]


def install(client: Any) -> Any:
    """``client`` (an ``httpx`` or ``httpx2`` ``AsyncClient``) with its connections opened here.

    Every pool the client built gets the backend, the proxies' from the environment too. A pool
    of another shape (a future httpx) keeps its own backend: slower, never wrong.
    """
    for transport in (client._transport, *client._mounts.values()):
        pool = getattr(transport, "_pool", None)
        if pool is not None and hasattr(pool, "_network_backend"):
            errors = importlib.import_module(type(pool).__module__.partition(".")[0])
            pool._network_backend = AsyncioBackend(errors)
    return client
