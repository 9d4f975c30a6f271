"""The fake Groq server, proven through the real groq SDK (sync and async)."""

from __future__ import annotations

import asyncio
import json
import os
import selectors
import subprocess
import sys
import threading
import time
from pathlib import Path

import groq
import httpx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from groq_server import CHAT_PATH, Behavior, GroqServer, tokenize  # noqa: E402

USER = [{"role": "user", "content": "What is MoA?"}]
TRICKY_TEXT = (
    "  Héllo, wörld — ünïcode ✓ 日本語 🚀\n\n"
    "\x1b[1;31mANSI red\x1b[0m and [bold]Rich markup[/bold] [link=x]y[/link]\n"
    "tabs\tand   spaces, \"quotes\" \\backslash\\ \r\n"
    "trailing   "
)


@pytest.fixture
def server():
    with GroqServer() as srv:
        yield srv


@pytest.fixture
def client(server):
    with groq.Groq(api_key="test-key", base_url=server.base_url, max_retries=0, timeout=5.0) as c:
        yield c


@pytest.fixture
async def aclient(server):
    async with groq.AsyncGroq(api_key="test-key", base_url=server.base_url, max_retries=0, timeout=5.0) as c:
        yield c


def stream_chunks(client: groq.Groq, model: str, **kwargs):
    return list(client.chat.completions.create(model=model, messages=USER, stream=True, **kwargs))


def content_of(chunks) -> str:
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


def reasoning_of(chunks) -> str:
    return "".join(c.choices[0].delta.reasoning or "" for c in chunks if c.choices)


# --------------------------------------------------------------------------- tokenising


@pytest.mark.parametrize("text", ["", " ", "one", TRICKY_TEXT, "a\n\n\nb", "\x1b[0m"])
def test_tokens_rejoin_to_the_exact_text(text):
    assert "".join(tokenize(text)) == text


# --------------------------------------------------------------------------- streaming


def test_streamed_text_rejoins_exactly(server, client):
    server.set("m", Behavior(text=TRICKY_TEXT))
    chunks = stream_chunks(client, "m")
    assert content_of(chunks) == TRICKY_TEXT
    assert len(chunks) == len(tokenize(TRICKY_TEXT)) + 2  # role chunk + tokens + final chunk


async def test_async_client_streams_the_same_text(server, aclient):
    server.set("m", Behavior(text=TRICKY_TEXT))
    stream = await aclient.chat.completions.create(model="m", messages=USER, stream=True)
    chunks = [chunk async for chunk in stream]
    assert content_of(chunks) == TRICKY_TEXT


def test_stream_chunks_follow_groq_shape(server, client):
    server.set("m", Behavior(text="a b c"))
    chunks = stream_chunks(client, "m")
    first, final = chunks[0], chunks[-1]
    assert first.choices[0].delta.role == "assistant"
    assert first.choices[0].delta.content == ""
    assert first.x_groq is not None and first.x_groq.id.startswith("req_")
    assert final.choices[0].finish_reason == "stop"
    assert final.x_groq.id == first.x_groq.id
    assert {(c.id, c.created, c.model, c.object) for c in chunks} == {
        (first.id, first.created, "m", "chat.completion.chunk")
    }
    assert all(c.choices[0].finish_reason is None for c in chunks[:-1])


def test_reasoning_arrives_as_delta_reasoning_before_content(server, client):
    server.set("gpt-oss", Behavior(text="The answer.", reasoning="Let me think about it."))
    chunks = stream_chunks(client, "gpt-oss")
    assert reasoning_of(chunks) == "Let me think about it."
    assert content_of(chunks) == "The answer."
    deltas = [c.choices[0].delta for c in chunks]
    kinds = ["r" if d.reasoning else "c" for d in deltas if d.reasoning or d.content]
    assert kinds == ["r"] * 5 + ["c"] * 2


def test_usage_arrives_in_the_final_chunks_x_groq(server, client):
    server.set("m", Behavior(text="one two three", reasoning="hmm ok", prompt_tokens=42))
    chunks = stream_chunks(client, "m")
    usage = chunks[-1].x_groq.usage
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (42, 5, 47)
    assert usage.total_time >= usage.completion_time >= 0
    assert all(c.x_groq is None or c.x_groq.usage is None for c in chunks[:-1])


def test_prompt_tokens_default_to_word_count_of_all_messages(server, client):
    messages = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "one two three"}]
    chunks = list(client.chat.completions.create(model="m", messages=messages, stream=True))
    assert chunks[-1].x_groq.usage.prompt_tokens == 5


def test_include_usage_also_puts_usage_on_the_final_chunk(server, client):
    # groq 1.7's create() has no stream_options parameter; it must go through extra_body.
    chunks = stream_chunks(client, "m", extra_body={"stream_options": {"include_usage": True}})
    assert chunks[-1].usage == chunks[-1].x_groq.usage


def test_default_text_names_the_model_and_the_question(server, client):
    assert content_of(stream_chunks(client, "model-a")) == "model-a answers: What is MoA?"
    assert content_of(stream_chunks(client, "model-b")) == "model-b answers: What is MoA?"


def test_max_tokens_truncates_with_finish_reason_length(server, client):
    server.set("m", Behavior(text="one two three four five"))
    chunks = stream_chunks(client, "m", max_completion_tokens=2)
    assert content_of(chunks) == "one two "
    assert chunks[-1].choices[0].finish_reason == "length"


def test_requests_are_recorded_with_body_and_lowercased_headers(server, client):
    stream_chunks(client, "m", temperature=0.3, seed=7)
    (req,) = server.wait_for_requests(1)
    assert req.model == "m" and req.messages == USER and req.stream
    assert req.body["temperature"] == 0.3 and req.body["seed"] == 7
    assert req.headers["authorization"] == "Bearer test-key"
    assert req.status == 200
    assert req.received_at <= req.first_byte_sent_at <= req.first_token_sent_at <= req.last_byte_sent_at


# --------------------------------------------------------------------------- non-streaming


def test_non_streaming_completion_returns_message_and_usage(server, client):
    server.set("m", Behavior(text="Fine answer.", reasoning="thinking", prompt_tokens=3))
    resp = client.chat.completions.create(model="m", messages=USER)
    assert resp.object == "chat.completion"
    assert resp.choices[0].message.content == "Fine answer."
    assert resp.choices[0].message.reasoning == "thinking"
    assert resp.choices[0].finish_reason == "stop"
    assert (resp.usage.prompt_tokens, resp.usage.completion_tokens, resp.usage.total_tokens) == (3, 3, 6)
    assert resp.x_groq.id.startswith("req_")


async def test_non_streaming_takes_as_long_as_the_stream_would(server, aclient):
    server.set("m", Behavior(text="w " * 11, first_token_delay=0.05, tokens_per_second=100))
    start = time.perf_counter()
    resp = await aclient.chat.completions.create(model="m", messages=USER)
    assert time.perf_counter() - start >= 0.05 + 0.10 - 0.01
    assert resp.choices[0].message.content == "w " * 11


# --------------------------------------------------------------------------- timing


def test_tokens_per_second_paces_the_stream(server, client):
    server.set("m", Behavior(text="tok " * 20, tokens_per_second=100))
    start = time.perf_counter()
    chunks = stream_chunks(client, "m")
    elapsed = time.perf_counter() - start
    assert content_of(chunks) == "tok " * 20
    assert 0.15 <= elapsed < 1.5


def test_first_token_delay_sends_headers_first_then_waits(server, client):
    server.set("m", Behavior(text="hi", first_token_delay=1.0))  # far above a loaded machine's latency
    start = time.perf_counter()
    stream = client.chat.completions.create(model="m", messages=USER, stream=True)
    headers_at = time.perf_counter() - start
    first = next(iter(stream))
    first_at = time.perf_counter() - start
    list(stream)
    assert headers_at < 0.5
    assert first_at >= 0.99
    assert first.choices[0].delta.role == "assistant"


async def test_many_concurrent_streams_at_1000_tokens_per_second(server, aclient):
    models = [f"m{i}" for i in range(4)]
    for m in models:
        server.set(m, Behavior(text=f"{m} " * 200, tokens_per_second=1000))

    async def run(model: str) -> str:
        stream = await aclient.chat.completions.create(model=model, messages=USER, stream=True)
        return content_of([c async for c in stream])

    start = time.perf_counter()
    results = await asyncio.gather(*(run(m) for m in models * 3))
    elapsed = time.perf_counter() - start
    assert results == [f"{m} " * 200 for m in models * 3]
    assert elapsed >= 0.19  # each stream is paced: 200 tokens at 1,000 a second
    # Served at once, not one after another: every stream had begun before the first one ended
    # (a wall-clock bound here failed on a loaded 2-core machine while the streams overlapped).
    first_end = min(r.last_byte_sent_at for r in server.requests)
    assert all(r.first_token_sent_at < first_end for r in server.requests)


# --------------------------------------------------------------------------- errors


def test_unknown_model_raises_not_found_with_groq_message(server, client):
    server.set("gone", Behavior(status=404))
    with pytest.raises(groq.NotFoundError) as info:
        client.chat.completions.create(model="gone", messages=USER)
    # groq's APIStatusError.body is the whole JSON body (the SDK does not unwrap "error").
    assert info.value.body == {
        "error": {
            "message": "The model `gone` does not exist or you do not have access to it.",
            "type": "invalid_request_error",
            "code": "model_not_found",
        }
    }
    assert info.value.message.startswith("Error code: 404 - ")
    assert "does not exist or you do not have access to it" in str(info.value)


def test_bad_key_raises_authentication_error(server):
    with groq.Groq(api_key="bad-key", base_url=server.base_url, max_retries=0) as bad:
        with pytest.raises(groq.AuthenticationError) as info:
            bad.chat.completions.create(model="m", messages=USER, stream=True)
    assert info.value.status_code == 401
    assert info.value.body == {
        "error": {"message": "Invalid API Key", "type": "invalid_request_error", "code": "invalid_api_key"}
    }
    assert server.requests == []


def test_missing_authorization_header_is_rejected(server):
    resp = httpx.post(server.base_url + CHAT_PATH, json={"model": "m", "messages": USER})
    assert resp.status_code == 401
    assert resp.json()["error"]["code"] == "invalid_api_key"


def test_rate_limit_raises_rate_limit_error_with_retry_after_header(server, client):
    server.set("m", Behavior(status=429, headers={"retry-after": "1"}))
    with pytest.raises(groq.RateLimitError) as info:
        client.chat.completions.create(model="m", messages=USER, stream=True)
    assert info.value.response.headers["retry-after"] == "1"
    error = info.value.body["error"]
    assert error["type"] == "requests"
    assert error["code"] == "rate_limit_exceeded"
    assert error["message"].startswith("Rate limit reached for model `m` in organization `org_test`")


def test_request_too_large_is_a_413_tokens_error(server, client):
    server.set("m", Behavior(status=413))
    with pytest.raises(groq.APIStatusError) as info:
        client.chat.completions.create(model="m", messages=USER)
    assert info.value.status_code == 413
    assert info.value.body["error"]["type"] == "tokens"
    assert "tokens per minute (TPM)" in info.value.body["error"]["message"]


def test_decommissioned_model_raises_bad_request_with_deprecation_hint(server, client):
    server.set("old", Behavior(status=400, error_code="model_decommissioned"))
    with pytest.raises(groq.BadRequestError) as info:
        client.chat.completions.create(model="old", messages=USER)
    assert info.value.body["error"]["code"] == "model_decommissioned"
    assert info.value.body["error"]["message"].startswith("The model `old` has been decommissioned")


def test_error_message_and_code_can_be_overridden(server, client):
    server.set("m", Behavior(status=503, error_message="over capacity", error_code="service_unavailable"))
    with pytest.raises(groq.InternalServerError) as info:
        client.chat.completions.create(model="m", messages=USER)
    assert info.value.status_code == 503
    assert info.value.body == {
        "error": {"message": "over capacity", "type": "internal_server_error", "code": "service_unavailable"}
    }


def test_sdk_retries_a_transient_500_then_succeeds(server):
    # retry-after-ms keeps the SDK's back-off short (its default is ~0.5 s).
    server.set("m", Behavior(text="ok now", status=500, fail_times=1, headers={"retry-after-ms": "10"}))
    with groq.Groq(api_key="k", base_url=server.base_url, max_retries=2) as retrying:
        chunks = list(retrying.chat.completions.create(model="m", messages=USER, stream=True))
    assert content_of(chunks) == "ok now"
    assert [r.status for r in server.wait_for_requests(2)] == [500, 200]


def test_stream_error_event_raises_api_error_mid_stream(server, client):
    server.set("m", Behavior(text="a b c d e", stream_error_after_tokens=2))
    received = []
    with pytest.raises(groq.APIError) as info:
        for chunk in client.chat.completions.create(model="m", messages=USER, stream=True):
            received.append(chunk)
    assert content_of(received) == "a b "
    # Mid-stream, the SDK raises a plain APIError whose body IS the unwrapped "error" object.
    assert info.value.message == "Internal Server Error"
    assert info.value.body == {"message": "Internal Server Error", "type": "internal_server_error"}
    assert not isinstance(info.value, groq.APIStatusError)


async def test_dropped_connection_raises_mid_stream(server, aclient):
    server.set("m", Behavior(text="a b c d e", drop_after_tokens=3))
    received = []
    stream = await aclient.chat.completions.create(model="m", messages=USER, stream=True)
    # The SDK does not wrap errors raised while iterating: httpx's own error surfaces.
    with pytest.raises(httpx.RemoteProtocolError):
        async for chunk in stream:
            received.append(chunk)
    assert content_of(received) == "a b c "


def test_hanging_model_times_out_the_client(server):
    server.set("m", Behavior(hang=True))
    with groq.Groq(api_key="k", base_url=server.base_url, max_retries=0, timeout=0.5) as impatient:
        start = time.perf_counter()
        with pytest.raises(groq.APITimeoutError):
            impatient.chat.completions.create(model="m", messages=USER, stream=True)
    assert 0.45 <= time.perf_counter() - start < 2.0
    assert len(server.wait_for_requests(1)) == 1


def test_stop_returns_promptly_while_handlers_hang():
    srv = GroqServer({"h": Behavior(hang=True), "slow": Behavior(text="x " * 100, tokens_per_second=10)}).start()
    errors: list[BaseException] = []

    def call(model: str) -> None:
        try:
            with groq.Groq(api_key="k", base_url=srv.base_url, max_retries=0, timeout=10) as c:
                list(c.chat.completions.create(model=model, messages=USER, stream=True))
        except BaseException as exc:  # noqa: BLE001 - we expect connection errors
            errors.append(exc)

    threads = [threading.Thread(target=call, args=(m,), daemon=True) for m in ("h", "h", "slow")]
    for t in threads:
        t.start()
    srv.wait_for_requests(3)
    start = time.perf_counter()
    srv.stop()
    assert time.perf_counter() - start < 1.0
    for t in threads:
        t.join(2.0)
    assert len(errors) == 3


def test_fail_times_counts_per_model_and_resets_on_set(server, client):
    flaky = Behavior(text="fine", status=500, fail_times=1)
    server.set("a", flaky)
    server.set("b", flaky)
    for model in ("a", "b"):
        with pytest.raises(groq.InternalServerError):
            client.chat.completions.create(model=model, messages=USER)
        assert client.chat.completions.create(model=model, messages=USER).choices[0].message.content == "fine"
    server.set("a", flaky)
    with pytest.raises(groq.InternalServerError):
        client.chat.completions.create(model="a", messages=USER)


# --------------------------------------------------------------------------- misc endpoints & helpers


def test_models_endpoint_lists_configured_models(server, client):
    server.set("llama-3.3-70b-versatile", Behavior())
    server.set("openai/gpt-oss-120b", Behavior())
    models = client.models.list()
    assert [m.id for m in models.data] == ["llama-3.3-70b-versatile", "openai/gpt-oss-120b"]
    assert all(m.active and m.context_window == 131072 and m.object == "model" for m in models.data)


def test_wait_for_requests_raises_after_its_deadline(server):
    start = time.perf_counter()
    with pytest.raises(TimeoutError):
        server.wait_for_requests(1, timeout=0.1)
    assert time.perf_counter() - start < 0.5


def test_keep_alive_reuses_one_connection(server):
    with httpx.Client(base_url=server.base_url, headers={"Authorization": "Bearer k"}) as http:
        for _ in range(3):
            resp = http.post(CHAT_PATH, json={"model": "m", "messages": USER, "stream": True})
            assert resp.text.endswith("data: [DONE]\n\n")
    assert len(server._threads) == 1  # one handler thread == one TCP connection


# --------------------------------------------------------------------------- standalone


def _read_line(proc: subprocess.Popen, timeout: float) -> str:
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    if not sel.select(timeout):
        raise TimeoutError("no output from the standalone server")
    return proc.stdout.readline()


def test_standalone_profile_mode_prints_ready_and_serves(tmp_path):
    profile = tmp_path / "profile.json"
    profile.write_text(json.dumps({"*": {"tokens_per_second": 2000}, "fast": {"text": "from profile"}}))
    script = Path(__file__).resolve().parent / "groq_server.py"
    proc = subprocess.Popen(
        [sys.executable, str(script), "--port", "0", "--profile", str(profile)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        line = _read_line(proc, timeout=5.0)
        assert line.startswith("READY http://127.0.0.1:")
        base_url = line.split()[1]
        with groq.Groq(api_key="k", base_url=base_url, max_retries=0, timeout=5) as c:
            chunks = list(c.chat.completions.create(model="fast", messages=USER, stream=True))
            assert content_of(chunks) == "from profile"
            other = c.chat.completions.create(model="other", messages=USER)
            assert other.choices[0].message.content == "other answers: What is MoA?"
            assert [m.id for m in c.models.list().data] == ["fast"]
    finally:
        proc.terminate()
        assert proc.wait(timeout=5) == 0
        proc.stdout.close()
