"""moa's connections run on asyncio's own transports (``providers.network_backend``), over TLS too.

Every other test that talks to a server goes through this backend as well (the fault suite: drops,
hangs, read timeouts, servers closing kept connections); these cover what only it does: TLS, a
request too big for the socket's buffers, and that both SDKs' clients, proxies included, use it.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import trustme
from conftest import isolated_env, run_moa
from groq_server import Behavior, GroqServer

from moa_cli.providers.base import ChatCall, Delta
from moa_cli.providers.groq import GroqProvider
from moa_cli.providers.network_backend import READ_AHEAD, AsyncioBackend
from moa_cli.providers.openai_compat import OpenAICompatProvider
from moa_cli.providers.registry import BUILTIN_PROVIDERS, ProviderConfig
from moa_cli.providers.sdk import SdkProvider
from moa_cli.request import Message

WORDS = " ".join(f"w{i}" for i in range(1500))
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


def test_answers_stream_over_tls_and_the_aggregator_rides_on_a_references_connection(
    tls_server: GroqServer, ca: trustme.CA, tmp_path: Path
) -> None:
    tls_server.set("*", Behavior(text=WORDS, tokens_per_second=3000))
    env = isolated_env(tmp_path, tls_server)
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    env["SSL_CERT_FILE"] = str(tmp_path / "ca.pem")  # httpx trusts it, as a user's corporate CA
    proc = run_moa(["ask", "-m", "ref/a", "-m", "ref/b", "-a", "agg/x", "q"], env)
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


@pytest.fixture(params=["groq", "openai"])
def provider(request: pytest.FixtureRequest, tls_server: GroqServer, ca: trustme.CA) -> Iterator[SdkProvider]:
    """Each SDK's provider, talking TLS to ``tls_server``, trusting ``ca``."""
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
        pieces = [c.text async for c in provider.stream(ChatCall("m", (Message("user", question),), 0.7, 50))
                  if isinstance(c, Delta)]
    finally:
        await provider.aclose()
    assert "".join(pieces) == "fine"
    assert tls_server.requests[0].messages == [{"role": "user", "content": question}]


@pytest.mark.parametrize("sdk_name", ["groq", "openai"])
def test_every_pool_of_both_sdks_clients_opens_its_connections_here(
    sdk_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A newer httpx that built its pools another way would fall back to anyio's: this says so."""
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")  # a proxy's pool of its own
    from moa_cli.providers.sdk import http_client

    sdk = pytest.importorskip(sdk_name)
    client = http_client(sdk)
    transports = [client._transport, *(t for t in client._mounts.values() if t is not None)]
    assert len(transports) == 2
    assert all(isinstance(t._pool._network_backend, AsyncioBackend) for t in transports)
