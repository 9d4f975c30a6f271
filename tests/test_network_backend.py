"""moa's connections run on asyncio's own transports (``providers.network_backend``), over TLS too.

Every other test that talks to a server goes through this backend as well (the fault suite: drops,
hangs, read timeouts, servers closing kept connections); these cover what only it does: TLS, a
request too big for the socket's buffers, and that both SDKs' clients, proxies included, use it.
"""

from __future__ import annotations

import asyncio
import contextlib
import select
import socket
import socketserver
import ssl
import struct
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import replace
from pathlib import Path

import httpcore
import httpx
import pytest
import trustme
from conftest import isolated_env, run_moa
from groq_server import Behavior, GroqServer

from moa_cli.providers import network_backend
from moa_cli.providers.base import ChatCall, Delta
from moa_cli.providers import connection
from moa_cli.providers.connection import describe as describe_connection
from moa_cli.providers.groq import GroqProvider
from moa_cli.providers.network_backend import READ_AHEAD, AsyncioBackend
from moa_cli.providers.openai_compat import OpenAICompatProvider
from moa_cli.providers.registry import BUILTIN_PROVIDERS, ProviderConfig
from moa_cli.providers.sdk import SdkProvider
from moa_cli.request import Message

WORDS = " ".join(f"w{i}" for i in range(800))
"""An answer of many HTTP chunks: several arrive between two reads."""


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def tls_server(ca: trustme.CA) -> Iterator[GroqServer]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    with GroqServer(tls=context) as server:
        yield server


@pytest.fixture
def tls_env(tls_server: GroqServer, ca: trustme.CA, tmp_path: Path) -> dict[str, str]:
    """moa's environment for ``tls_server`` (long answers), trusting ``ca`` as a company's own CA."""
    tls_server.set("*", Behavior(text=WORDS, tokens_per_second=4000))
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    return {**isolated_env(tmp_path, tls_server), "SSL_CERT_FILE": str(tmp_path / "ca.pem")}  # httpx trusts it


def test_answers_stream_over_tls_and_the_aggregator_rides_on_a_references_connection(
    tls_server: GroqServer, tls_env: dict[str, str]
) -> None:
    proc = run_moa(["ask", "-m", "ref/a", "-m", "ref/b", "-a", "agg/x", "q"], tls_env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.decode().split() == WORDS.split()
    (a, b, aggregator) = sorted(tls_server.requests, key=lambda r: r.received_at)
    assert aggregator.model == "agg/x" and aggregator.connection in (a.connection, b.connection)


def test_a_certificate_nobody_trusts_is_said_in_one_line(tls_server: GroqServer, tmp_path: Path) -> None:
    proc = run_moa(["ask", "-m", "ref/a", "-a", "agg/x", "q"], isolated_env(tmp_path, tls_server))
    stderr = proc.stderr.decode()
    assert proc.returncode == 1 and "Traceback" not in stderr and "retrying" not in stderr, stderr
    assert stderr.splitlines()[-1] == (
        f"moa: error: ref/a: the TLS certificate of {tls_server.base_url} is not trusted "
        "(unable to get local issuer certificate)"
    )
    assert tls_server.requests == []


class _Tunnel(socketserver.BaseRequestHandler):
    """An HTTP proxy's CONNECT, as a company's proxy serves it: a tunnel to the target, bytes as they come."""

    server: _Proxy

    def handle(self) -> None:
        head = b""
        while b"\r\n\r\n" not in head and (data := self.request.recv(4096)):
            head += data
        method, target, _ = head.split(b"\r\n", 1)[0].decode().split(" ")
        self.server.seen.append(f"{method} {target}")
        host, port = target.rsplit(":", 1)
        with socket.create_connection((host, int(port))) as upstream:
            self.request.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            back = threading.Thread(target=_pump, args=(upstream, self.request), daemon=True)
            back.start()
            _pump(self.request, upstream)
            back.join(5)


class _Proxy(socketserver.ThreadingTCPServer):
    daemon_threads = True
    seen: list[str]


def _pump(source: socket.socket, target: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while data := source.recv(65536):
            target.sendall(data)
        target.shutdown(socket.SHUT_WR)


def test_answers_stream_through_a_companys_proxy_over_tls(tls_server: GroqServer, tls_env: dict[str, str]) -> None:
    """httpx tunnels through ``HTTPS_PROXY`` with CONNECT, then speaks TLS inside the tunnel."""
    with _Proxy(("127.0.0.1", 0), _Tunnel) as proxy:
        proxy.seen = []
        threading.Thread(target=proxy.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        tls_env["HTTPS_PROXY"] = f"http://127.0.0.1:{proxy.server_address[1]}"
        for name in ("NO_PROXY", "no_proxy"):
            tls_env.pop(name, None)
        proc = run_moa(["ask", "-m", "ref/a", "-a", "agg/x", "q"], tls_env)
        proxy.shutdown()
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.decode().split() == WORDS.split()
    assert set(proxy.seen) == {f"CONNECT 127.0.0.1:{tls_server.port}"}
    assert len(tls_server.requests) == 2


@pytest.fixture(params=["groq", "openai"])
def provider(request: pytest.FixtureRequest, tls_server: GroqServer, ca: trustme.CA) -> Iterator[SdkProvider]:
    """Each kind of provider (Groq, OpenAI-compatible), talking TLS to ``tls_server``, trusting ``ca``."""
    with ca.cert_pem.tempfile() as ca_file, pytest.MonkeyPatch.context() as env:
        env.setenv("SSL_CERT_FILE", ca_file)
        if request.param == "groq":
            config = replace(BUILTIN_PROVIDERS["groq"], base_url=tls_server.base_url)
            yield GroqProvider(config, api_key="test-key", timeout=10)
        else:
            config = ProviderConfig("local", f"{tls_server.base_url}/openai/v1", None)
            yield OpenAICompatProvider(config, api_key=None, timeout=10)


async def test_a_request_bigger_than_the_socket_buffers_goes_out_whole(
    provider: SdkProvider, tls_server: GroqServer
) -> None:
    tls_server.set("*", Behavior(text="fine"))
    question = "word " * (4 * READ_AHEAD)  # 5 MB: writing pauses for the server to read
    try:
        pieces = [
            c.text
            async for c in provider.stream(ChatCall("m", (Message("user", question),), 0.7, 50))
            if isinstance(c, Delta)
        ]
    finally:
        await provider.aclose()
    assert "".join(pieces) == "fine"
    assert tls_server.requests[0].messages == [{"role": "user", "content": question}]


def test_every_pool_of_the_sdks_client_opens_its_connections_here(monkeypatch: pytest.MonkeyPatch) -> None:
    """A newer httpx that built its pools another way would fall back to anyio's: this says so."""
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")  # a proxy's pool of its own
    import groq

    from moa_cli.providers.sdk import http_client

    client = http_client(groq)
    transports = [client._transport, *(t for t in client._mounts.values() if t is not None)]
    assert len(transports) == 2
    assert all(isinstance(t._pool._network_backend, AsyncioBackend) for t in transports)


# -- what the review of the backend found, each against the anyio backend's behaviour ------------


async def _serve(handle: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]) -> asyncio.Server:
    return await asyncio.start_server(handle, "127.0.0.1", 0)


def _port(server: asyncio.Server) -> int:
    return server.sockets[0].getsockname()[1]


async def test_a_reset_mid_read_keeps_its_cause_through_httpx() -> None:
    """httpcore re-raises a read error ``from None``: the OS's error must stay in ``__context__``."""

    async def reset_after_the_request(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()  # an RST, not a FIN

    server = await _serve(reset_after_the_request)
    async with server, network_backend.install(httpx.AsyncClient(timeout=5)) as client:
        with pytest.raises(httpx.ReadError) as info:
            await client.get(f"http://127.0.0.1:{_port(server)}/")
    assert ConnectionResetError in [type(cause) for cause in connection._chain(info.value)]


async def test_a_server_that_hangs_up_in_the_tls_handshake_is_said_as_ssl_says_it(tmp_path: Path) -> None:
    """asyncio says a bare ``ConnectionResetError``; ssl and the anyio backend ``SSLEOFError``,
    which moa reports at once instead of retrying a server that will not speak TLS."""

    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    server = await _serve(hang_up)
    where = f"https://127.0.0.1:{_port(server)}"
    async with server, network_backend.install(httpx.AsyncClient(timeout=5)) as client:
        with pytest.raises(httpx.ConnectError) as info:
            await client.get(where + "/")
    assert describe_connection(info.value, where) == (
        f"the TLS handshake with {where} failed (UNEXPECTED_EOF_WHILE_READING)",
        "address",
    )


async def test_a_write_times_out_though_the_server_keeps_sending_while_it_does_not_read() -> None:
    """One deadline per write: data arriving meanwhile wakes the writer but does not restart it."""
    writers: list[asyncio.StreamWriter] = []

    async def trickle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        with contextlib.suppress(ConnectionError):
            for _ in range(50):
                writer.write(b".")
                await writer.drain()
                await asyncio.sleep(0.05)

    server = await _serve(trickle)
    async with server:
        stream = await AsyncioBackend().connect_tcp("127.0.0.1", _port(server))
        started = time.monotonic()
        with pytest.raises(httpcore.WriteTimeout):
            await stream.write(b"x" * 50_000_000, timeout=0.3)
        assert time.monotonic() - started < 1.5  # not the 2.5 s the trickle lasts
        await stream.aclose()
        for writer in writers:
            writer.transport.abort()


@pytest.mark.parametrize("poll", [True, False], ids=["poll", "select (Windows)"])
async def test_an_idle_connection_the_server_closed_while_the_loop_was_busy_is_not_reused(
    poll: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """httpcore asks ``is_readable`` before reusing a connection; the kernel knows of the close
    before the loop has read it (64 streams keep the loop busy)."""
    if not poll:
        monkeypatch.delattr(select, "poll")
    response = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi"
    listener = socket.create_server(("127.0.0.1", 0))

    def serve_once_and_close() -> None:
        with contextlib.suppress(OSError):
            while True:
                connection, _ = listener.accept()
                with connection:
                    connection.recv(65536)
                    connection.sendall(response)
                    time.sleep(0.05)

    threading.Thread(target=serve_once_and_close, daemon=True).start()
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/"
    try:
        async with httpcore.AsyncConnectionPool(network_backend=AsyncioBackend()) as pool:
            assert (await pool.request("GET", url)).status == 200
            time.sleep(0.2)  # the loop busy; the server closes the kept connection meanwhile
            assert (await pool.request("GET", url, extensions={"timeout": {"read": 2}})).status == 200
    finally:
        listener.close()
