"""`moa serve` under real use: hang-ups cancel upstream requests, many clients, SIGTERM, sessions."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator

import httpx
import openai
import pytest
from conftest import run_moa
from groq_server import Behavior, GroqServer
from serve_process import ServeProcess, wait_until
from test_serve import AGGREGATOR, REFERENCES, ask, write_config

from moa_cli.store import Store

LONG = " ".join(f"word{i}" for i in range(400))
"""An answer that takes 20 s at 20 tokens/s: still streaming whenever a test acts."""


@pytest.fixture
def server(moa_env: dict[str, str]) -> Iterator[ServeProcess]:
    write_config(moa_env)
    with ServeProcess(moa_env, "--grace", "0.5") as process:
        yield process


@pytest.fixture
def client(server: ServeProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.url, api_key="unused", max_retries=0, timeout=20)


def stored_turns(env: dict[str, str]) -> list[tuple[str, str]]:
    """(question, status) of every stored turn, oldest session first."""
    with Store.open(env=env) as store:
        sessions = reversed(store.list_sessions())
        return [(t.question, t.status) for s in sessions for t in store.turns(s.id)]


def test_serve_hang_up_mid_stream_closes_the_aggregator_request_at_once(
    client: openai.OpenAI, groq_server: GroqServer, moa_env: dict[str, str]
) -> None:
    groq_server.set(AGGREGATOR, Behavior(text=LONG, tokens_per_second=20))
    stream = ask(client, stream=True)
    first = next(c for c in stream if c.choices and c.choices[0].delta.content)
    assert first.choices[0].delta.content == "word0 "
    stream.close()
    hung_up = time.perf_counter()
    (aggregator,) = groq_server.requests_for(AGGREGATOR)
    wait_until(lambda: aggregator.hung_up_at is not None, what="the aggregator request to be closed")
    assert aggregator.hung_up_at - hung_up < 1.0  # type: ignore[operator]
    wait_until(lambda: stored_turns(moa_env) == [("Why is the sky blue?", "interrupted")], what="the stored turn")


def test_serve_hang_up_while_references_answer_closes_their_requests(
    server: ServeProcess, groq_server: GroqServer
) -> None:
    for model in REFERENCES:
        groq_server.set(model, Behavior(text=LONG, tokens_per_second=20))
    body = {"model": "moa", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    with pytest.raises(httpx.ReadTimeout):  # the stream's headers wait for the aggregator's first words
        httpx.post(server.url + "/chat/completions", json=body, timeout=httpx.Timeout(20, read=0.5))
    gave_up = time.perf_counter()
    references = groq_server.wait_for_requests(3)
    wait_until(lambda: all(r.hung_up_at is not None for r in references), what="every reference closed")
    assert max(r.hung_up_at for r in references) - gave_up < 1.0  # type: ignore[operator, type-var]
    assert not groq_server.requests_for(AGGREGATOR)


def test_serve_streams_to_eight_clients_at_once(server: ServeProcess, groq_server: GroqServer) -> None:
    groq_server.set("*", Behavior(tokens_per_second=100))
    for model in REFERENCES:  # 0.3 s each: far longer than starting eight turns takes on a busy machine
        groq_server.set(model, Behavior(text="word " * 30, tokens_per_second=100))
    client = openai.AsyncOpenAI(base_url=server.url, api_key="unused", max_retries=0, timeout=30)

    async def one(i: int) -> str:
        messages = [{"role": "user", "content": f"question {i}"}]
        stream = await client.chat.completions.create(model="moa", messages=messages, stream=True)  # type: ignore[arg-type]
        return "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])

    async def everyone() -> list[str]:
        async with client:
            return await asyncio.gather(*(one(i) for i in range(8)))

    assert asyncio.run(everyone()) == [f"{AGGREGATOR} answers: question {i}" for i in range(8)]
    references = [r for r in groq_server.requests if r.model != AGGREGATOR]
    first_done = min(r.last_byte_sent_at for r in groq_server.requests_for(AGGREGATOR))  # type: ignore[type-var]
    assert len(references) == 24 and all(r.received_at < first_done for r in references)  # served together


def test_serve_sigterm_lets_a_stream_in_progress_finish_and_exits_0(
    moa_env: dict[str, str], groq_server: GroqServer
) -> None:
    write_config(moa_env)
    answer = " ".join(f"w{i}" for i in range(20))
    groq_server.set(AGGREGATOR, Behavior(text=answer, tokens_per_second=20))
    with ServeProcess(moa_env, "--grace", "10") as server:
        client = openai.OpenAI(base_url=server.url, api_key="unused", max_retries=0)
        stream = ask(client, stream=True)
        texts = [next(c for c in stream if c.choices and c.choices[0].delta.content).choices[0].delta.content]
        server.proc.send_signal(15)
        texts += [c.choices[0].delta.content or "" for c in stream if c.choices]
        assert "".join(texts) == answer  # type: ignore[arg-type]
        assert server.proc.wait(20) == 0
        assert "moa: stopping: 1 answer(s) in progress get 10s to finish" in server.rest_of_stderr()


def test_serve_sigterm_ends_a_stream_still_running_after_the_grace_time(
    server: ServeProcess, client: openai.OpenAI, groq_server: GroqServer, moa_env: dict[str, str]
) -> None:
    groq_server.set(AGGREGATOR, Behavior(text=LONG, tokens_per_second=20))
    stream = ask(client, stream=True)
    next(c for c in stream if c.choices and c.choices[0].delta.content)
    server.proc.send_signal(15)
    with pytest.raises(openai.APIError) as caught:
        for _ in stream:
            pass
    assert caught.value.code == "server_shutting_down"
    assert server.proc.wait(20) == 0
    (aggregator,) = groq_server.requests_for(AGGREGATOR)
    wait_until(lambda: aggregator.hung_up_at is not None, what="the aggregator request to be closed")
    assert stored_turns(moa_env) == [("Why is the sky blue?", "interrupted")]


def test_serve_stores_each_turn_and_a_continued_conversation_in_one_session(
    client: openai.OpenAI, groq_server: GroqServer, moa_env: dict[str, str], server: ServeProcess
) -> None:
    first = ask(client, "What is MoA?").choices[0].message.content
    ask(client, "Unrelated question")
    history = [{"role": "user", "content": "What is MoA?"}, {"role": "assistant", "content": first}]
    client.chat.completions.create(model="moa", messages=[*history, {"role": "user", "content": "Shorter?"}])  # type: ignore[arg-type]
    sessions = json.loads(run_moa(["sessions", "--json"], moa_env).stdout)
    assert sorted((s["title"], s["turns"]) for s in sessions) == [("Unrelated question", 1), ("What is MoA?", 2)]


def test_serve_continues_a_stored_conversation_after_a_restart(
    moa_env: dict[str, str], groq_server: GroqServer
) -> None:
    write_config(moa_env)
    with ServeProcess(moa_env) as server:
        answer = ask(openai.OpenAI(base_url=server.url, api_key="-")).choices[0].message.content
        assert server.terminate() == 0
    with ServeProcess(moa_env) as server:
        messages = [
            {"role": "user", "content": "Why is the sky blue?"},
            {"role": "assistant", "content": answer},
            {"role": "user", "content": "And sunsets?"},
        ]
        openai.OpenAI(base_url=server.url, api_key="-").chat.completions.create(model="moa", messages=messages)  # type: ignore[arg-type]
    assert stored_turns(moa_env) == [("Why is the sky blue?", "complete"), ("And sunsets?", "complete")]
