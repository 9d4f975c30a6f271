"""Request bodies are moa's own, built once per turn, and say exactly what the SDKs' ``create`` would.

Each test sends the same call twice to a real local server: once through moa's provider (its own
body, posted through the SDK's client) and once through the SDK's ``chat.completions.create``
with the arguments moa used to give it; the server must receive the same request.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from typing import Any

import groq
import openai
import pytest
from groq_server import Behavior, GroqServer

from moa_cli import __version__
from moa_cli.errors import ProviderError
from moa_cli.providers.base import ChatCall, Delta
from moa_cli.providers.groq import GroqProvider
from moa_cli.providers.openai_compat import OpenAICompatProvider
from moa_cli.providers.registry import BUILTIN_PROVIDERS, ProviderConfig
from moa_cli.providers.sdk import SdkProvider
from moa_cli.request import Message

HISTORY = (
    Message("system", "Be brief."),
    Message("user", "Qu'est-ce qu'un « qubit » ? 量子 \u2028 \"quoted\" \\ back\tslash"),
    Message("assistant", "Un bit quantique 🙂\n\nWith </script> and \x00 nul."),
    Message("user", "And in one sentence?"),
)
SAME_HEADERS = ("authorization", "content-type", "accept", "x-title")


@pytest.fixture(params=["groq", "openai"])
def served(request: pytest.FixtureRequest) -> Iterator[tuple[SdkProvider, Any, GroqServer]]:
    """A provider of each kind, the SDK client it wraps, and its local server."""
    with GroqServer(flavor=request.param, default=Behavior(text="fine")) as server:
        if request.param == "groq":
            groq_config = replace(BUILTIN_PROVIDERS["groq"], base_url=server.base_url)
            provider: SdkProvider = GroqProvider(groq_config, api_key="test-key", timeout=10)
            sdk: Any = groq.AsyncGroq(api_key="test-key", base_url=server.base_url, max_retries=0)
        else:
            config = ProviderConfig("local", f"{server.base_url}/v1", "LOCAL_KEY", headers={"X-Title": "moa-cli"})
            provider = OpenAICompatProvider(config, api_key="local-secret", timeout=10)
            sdk = openai.AsyncOpenAI(api_key="local-secret", base_url=config.base_url, max_retries=0,
                                     default_headers={"X-Title": "moa-cli"})
        yield provider, sdk, server


async def _text(chunks: AsyncIterator[Any]) -> str:
    return "".join([c.text async for c in chunks if isinstance(c, Delta)])


async def _as_the_sdk_sent_it(provider: SdkProvider, sdk: Any, call: ChatCall) -> None:
    """``call`` through ``chat.completions.create``, with the arguments moa gave it before."""
    async with sdk.chat.completions.with_streaming_response.create(
        model=call.model,
        messages=[m.as_dict() for m in call.messages],
        temperature=call.temperature,
        stream=True,
        **provider._request_options(call),
    ) as response:
        async for _ in response.http_response.aiter_bytes():
            pass


@pytest.mark.parametrize(
    "call",
    [
        ChatCall("ref/a", HISTORY, 0.7, 2048),
        ChatCall("ref/b", HISTORY, 1.15, 300, seed=1234, reasoning_effort="low"),
    ],
    ids=["plain", "seed-and-effort"],
)
async def test_the_server_receives_what_the_sdks_create_would_have_sent(
    served: tuple[SdkProvider, Any, GroqServer], call: ChatCall
) -> None:
    provider, sdk, server = served
    try:
        assert await _text(provider.stream(call)) == "fine"
        await _as_the_sdk_sent_it(provider, sdk, call)
    finally:
        await provider.aclose()
        await sdk.close()
    ours, theirs = server.requests
    assert ours.body == theirs.body
    assert list(ours.body["messages"]) == [m.as_dict() for m in HISTORY]
    assert {h: ours.headers.get(h) for h in SAME_HEADERS} == {h: theirs.headers.get(h) for h in SAME_HEADERS}
    # Both go through the groq SDK's client: to another service moa says its own name, not "AsyncGroq".
    agent = theirs.headers["user-agent"] if isinstance(provider, GroqProvider) else f"moa-cli/{__version__}"
    assert ours.headers["user-agent"] == agent


async def test_one_turns_requests_share_the_encoded_history_and_differ_in_their_own_fields(
    served: tuple[SdkProvider, Any, GroqServer],
) -> None:
    provider, sdk, server = served
    await sdk.close()
    aggregator = (*HISTORY, Message("system", "Responses from models:\n\n1. fine"))
    calls = [ChatCall("ref/a", HISTORY, 0.7, 100), ChatCall("ref/b", HISTORY, 0.2, 50, seed=7),
             ChatCall("agg/x", aggregator, 0.7, 100)]
    try:
        for call in calls:
            assert await _text(provider.stream(call)) == "fine"
    finally:
        await provider.aclose()
    first, second, third = (r.body for r in server.requests)
    assert first["messages"] == second["messages"] == third["messages"][:-1]
    assert third["messages"][-1]["content"].endswith("1. fine")
    assert (first["model"], second["model"], third["model"]) == ("ref/a", "ref/b", "agg/x")
    assert (first["temperature"], second["temperature"], second["seed"]) == (0.7, 0.2, 7)
    assert "seed" not in first
    assert all(m._json is not None for m in HISTORY)  # encoded once, kept for every later request


async def test_an_error_status_still_raises_the_sdks_typed_error_and_is_told_as_before(
    served: tuple[SdkProvider, Any, GroqServer],
) -> None:
    provider, sdk, server = served
    await sdk.close()
    server.set("gone", Behavior(status=404))
    server.set("busy", Behavior(status=429, headers={"retry-after": "120"}))
    try:
        with pytest.raises(ProviderError) as missing:
            await _text(provider.stream(ChatCall("gone", HISTORY, 0.7, 100)))
        with pytest.raises(ProviderError) as limited:
            await _text(provider.stream(ChatCall("busy", HISTORY, 0.7, 100)))
    finally:
        await provider.aclose()
    assert missing.value.kind == "model_not_found" and missing.value.status == 404
    assert limited.value.kind == "rate_limited" and limited.value.retry_after == 120
