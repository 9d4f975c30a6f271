"""The ASGI app in process: a heartbeat starts a stream while slow references answer."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest
from groq_server import Behavior, GroqServer
from test_serve import write_config

from moa_cli.serve import completions
from moa_cli.serve.app import MoaApp
from moa_cli.serve.mixture import Mixtures


@pytest.fixture
def make_app(moa_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Callable[[str], MoaApp]:
    """An app over 3 references and an aggregator, with ``extra`` config; heartbeats every 50 ms."""
    for name, value in moa_env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(completions, "HEARTBEAT", 0.05)

    def make(extra: str = "") -> MoaApp:
        write_config(moa_env, f'references = ["ref/a", "ref/b", "ref/c"]\naggregator = "agg/x"\n{extra}')
        return MoaApp(Mixtures())

    return make


async def post(app: MoaApp, body: dict[str, Any]) -> list[dict[str, Any]]:
    """Every ASGI message the app sends for one request with ``body`` (its only request)."""
    sent: list[dict[str, Any]] = []
    incoming = [{"type": "http.request", "body": json.dumps(body).encode(), "more_body": False}]

    async def receive() -> dict[str, Any]:
        if incoming:
            return incoming.pop()
        await asyncio.Event().wait()  # the client stays connected
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/v1/chat/completions", "headers": []}
    try:
        await app(scope, receive, send)
    finally:
        await app.mixtures.aclose()
    return sent


def events(sent: list[dict[str, Any]]) -> list[str]:
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body").decode()
    return [e for e in body.split("\n\n") if e]


STREAM = {"model": "moa", "stream": True, "messages": [{"role": "user", "content": "hi"}]}


async def test_serve_heartbeat_starts_the_stream_while_references_are_slow(
    make_app: Callable[[str], MoaApp], groq_server: GroqServer
) -> None:
    groq_server.set("*", Behavior(first_token_delay=0.2))
    sent = await post(make_app(""), STREAM)
    assert sent[0]["status"] == 200
    stream = events(sent)
    assert stream[0].startswith("data: ") and '"role": "assistant"' in stream[0]
    assert stream[1] == ": waiting for the reference models"
    text = "".join(
        json.loads(e[6:])["choices"][0]["delta"].get("content") or "" for e in stream if e.startswith("data: {")
    )
    assert text == "agg/x answers: hi" and stream[-1] == "data: [DONE]"


async def test_serve_failure_after_a_heartbeat_is_an_error_event_then_done(
    make_app: Callable[[str], MoaApp], groq_server: GroqServer
) -> None:
    groq_server.set("*", Behavior(hang=True))
    sent = await post(make_app("ref_timeout = 0.3\n"), STREAM)
    assert sent[0]["status"] == 200
    *_, error, done = events(sent)
    assert json.loads(error[6:])["error"]["code"] == "all_references_failed"
    assert done == "data: [DONE]"
    assert sent[-1]["more_body"] is False
