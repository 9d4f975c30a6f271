"""The sockets under the SDK's HTTP client: httpcore's network backend on asyncio's own transports.

httpx (under the groq SDK) reads through httpcore's anyio backend, which pauses
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
import select
import ssl
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, NoReturn

import httpcore

from moa_cli.providers import pool_pass

READ_AHEAD = 256 * 1024
"""Bytes a connection may receive ahead of its reader before asyncio stops reading its socket."""
WRITE_SLICE = 64 * 1024
"""Bytes handed to the transport at once: over TLS, a whole body at once would be encrypted into
the socket's buffer without ever pausing the writer, and a write timeout could not fire."""

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

    async def changed(self, deadline: float | None, expired: type[Exception]) -> None:
        """Wait until data arrives, the connection ends or writing may go on; ``expired`` at ``deadline``
        (the loop's clock): one deadline for a whole read or write, however often it is woken."""
        loop = asyncio.get_running_loop()
        waiter = loop.create_future()
        self._waiters.append(waiter)
        timer = None if deadline is None else loop.call_at(deadline, _expire, waiter, expired)
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
        timeout = TimeoutError()
        error = expired(timeout)
        error.__cause__ = error.__context__ = timeout
        waiter.set_exception(error)


def _deadline(timeout: float | None) -> float | None:
    return None if timeout is None else asyncio.get_running_loop().time() + timeout


def _raise(error: type[Exception], cause: BaseException) -> NoReturn:
    """Raise ``error`` from ``cause`` inside ``cause``'s handler, as the anyio backend does: the
    cause stays in ``__context__`` too, which httpcore's ``raise ... from None`` keeps, and
    :mod:`moa_cli.providers.connection` reads."""
    try:
        raise cause
    except BaseException as exc:
        raise error(exc) from exc


def _socket_readable(transport: asyncio.BaseTransport) -> bool:
    """Whether the kernel holds data (or the peer's close) that the loop has not read yet."""
    sock = transport.get_extra_info("socket")
    if sock is None or sock.fileno() < 0:
        return True
    if not hasattr(select, "poll"):  # Windows
        return bool(select.select([sock.fileno()], [], [], 0)[0])
    poller = select.poll()
    poller.register(sock.fileno(), select.POLLIN)
    return bool(poller.poll(0))


def _handshake_error(exc: OSError) -> OSError:
    """The error of a TLS handshake, as the ssl module says it: asyncio says a server that hung up
    during the handshake with a bare ``ConnectionResetError``; ssl (and anyio) with ``SSLEOFError``."""
    if type(exc) is not ConnectionResetError or exc.args:
        return exc
    eof = ssl.SSLEOFError(ssl.SSL_ERROR_EOF, "EOF occurred in violation of protocol")
    eof.reason = "UNEXPECTED_EOF_WHILE_READING"  # type: ignore[misc]
    eof.__cause__ = exc
    return eof


class AsyncioStream:
    """One connection, as httpcore reads and writes it (``AsyncNetworkStream``).

    ``raw`` is the TCP transport under a TLS one: closing it closes the connection without TLS's
    goodbye, as the anyio backend does, instead of waiting for the server's.
    """

    def __init__(
        self,
        transport: asyncio.Transport,
        received: _Received,
        raw: asyncio.Transport | None = None,
    ) -> None:
        self._transport = transport
        self._received = received
        self._raw = raw or transport

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        received = self._received
        if not received.pieces and not received.ended:
            deadline = _deadline(timeout)
            while not received.pieces and not received.ended:
                await received.changed(deadline, httpcore.ReadTimeout)
        if received.pieces:
            return received.take(max_bytes)
        if received.lost is not None:
            _raise(httpcore.ReadError, received.lost)
        return b""

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        received, deadline = self._received, _deadline(timeout)
        data = memoryview(buffer)
        for start in range(0, len(data), WRITE_SLICE):
            if received.ended or self._transport.is_closing():
                _raise(httpcore.WriteError, received.lost or ConnectionResetError("the connection was closed"))
            self._transport.write(data[start : start + WRITE_SLICE])
            while received.writing_paused and not received.ended:
                await received.changed(deadline, httpcore.WriteTimeout)
        if received.lost is not None:
            _raise(httpcore.WriteError, received.lost)

    async def aclose(self) -> None:
        self._raw.close()
        self._raw.abort()  # what was never sent is dropped: the connection is closed now, not once drained

    async def start_tls(
        self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None
    ) -> AsyncioStream:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                transport = await loop.start_tls(
                    self._transport, self._received, ssl_context, server_hostname=server_hostname
                )
        except TimeoutError as exc:
            self._raw.close()
            _raise(httpcore.ConnectTimeout, exc)
        except OSError as exc:  # ssl.SSLError among them
            self._raw.close()
            _raise(httpcore.ConnectError, _handshake_error(exc))
        assert transport is not None  # start_tls returns None only for a server's transport
        self._received.transport = transport  # pause and resume reading above TLS from now on
        return AsyncioStream(transport, self._received, raw=self._raw)

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":  # the server closed the idle connection, or sent what nobody asked for
            return self._received.ended or bool(self._received.pieces) or _socket_readable(self._raw)
        name = _EXTRA_INFO.get(info)
        return None if name is None else self._transport.get_extra_info(name)


_EXTRA_INFO = {"ssl_object": "ssl_object", "client_addr": "sockname", "server_addr": "peername", "socket": "socket"}
"""httpcore's names for a connection's facts, and asyncio's."""


class AsyncioBackend:
    """Opens connections for httpcore's pools (``AsyncNetworkBackend``)."""

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
        return await self._connect(
            lambda received: loop.create_unix_connection(lambda: received, path), timeout, socket_options
        )

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
            _raise(httpcore.ConnectTimeout, exc)
        except OSError as exc:
            _raise(httpcore.ConnectError, exc)
        try:
            for option in socket_options or ():
                transport.get_extra_info("socket").setsockopt(*option)
        except OSError as exc:
            transport.abort()  # type: ignore[attr-defined]
            _raise(httpcore.ConnectError, exc)
        return AsyncioStream(transport, received)  # type: ignore[arg-type]


def install(client: Any) -> Any:
    """``client`` (an ``httpx.AsyncClient``, the groq SDK's) with its connections opened here, and
    its pools' assignment pass linear (:mod:`~moa_cli.providers.pool_pass`).

    Every pool the client built gets the backend, the proxies' from the environment too. A pool
    of another shape (a future httpx) keeps its own backend: slower, never wrong.
    """
    for transport in (client._transport, *client._mounts.values()):
        pool: Any = getattr(transport, "_pool", None)
        if hasattr(pool, "_network_backend") and type(pool).__module__.partition(".")[0] == "httpcore":
            pool._network_backend = AsyncioBackend()
            pool_pass.speed_up(pool)
    return client
