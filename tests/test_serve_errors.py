"""`moa serve` answers what it cannot do with OpenAI error objects and the status the SDK expects."""

from __future__ import annotations

import socket

import httpx
import openai
import pytest
from conftest import run_moa
from groq_server import Behavior, GroqServer
from serve_process import ServeProcess
from test_serve import (  # noqa: F401 - fixtures: one `moa serve` for the module
    AGGREGATOR,
    REFERENCES,
    ask,
    client,
    groq_server,
    server,
    shared_groq_server,
    write_config,
)


def error_of(response: httpx.Response) -> dict[str, object]:
    body = response.json()
    assert set(body["error"]) == {"message", "type", "code", "param"}
    return body["error"]


def test_serve_refuses_a_body_that_is_not_json_with_400(server: ServeProcess) -> None:
    response = httpx.post(server.url + "/chat/completions", content=b"{not json")
    assert response.status_code == 400
    assert error_of(response)["code"] == "invalid_json"


@pytest.mark.parametrize(
    ("messages", "param"),
    [
        ([], "messages"),
        ([{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}], "messages"),
        ([{"role": "tool", "content": "42"}], "messages[0].role"),
        ([{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}], "messages[0].content"),
    ],
)
def test_serve_refuses_messages_it_cannot_answer_with_400(
    client: openai.OpenAI, messages: list[dict[str, object]], param: str
) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="moa", messages=messages)  # type: ignore[arg-type]
    assert caught.value.status_code == 400
    assert caught.value.param == param


def test_serve_refuses_a_temperature_out_of_range_with_400(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        ask(client, temperature=3)
    assert caught.value.param == "temperature"


def test_serve_refuses_an_unknown_model_with_404(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    assert caught.value.code == "model_not_found"
    assert "moa, moa/duo" in caught.value.message


def test_serve_answers_502_when_every_reference_failed(client: openai.OpenAI, groq_server: GroqServer) -> None:
    for model in REFERENCES:
        groq_server.set(model, Behavior(status=500))
    with pytest.raises(openai.InternalServerError) as caught:
        ask(client)
    assert caught.value.status_code == 502
    assert caught.value.code == "all_references_failed"
    assert not groq_server.requests_for(AGGREGATOR)


def test_serve_answers_502_before_streaming_when_the_aggregator_failed_at_once(
    client: openai.OpenAI, groq_server: GroqServer
) -> None:
    groq_server.set(AGGREGATOR, Behavior(status=400))
    with pytest.raises(openai.InternalServerError) as caught:
        ask(client, stream=True)
    assert (caught.value.status_code, caught.value.code) == (502, "aggregator_failed")


def test_serve_answers_429_when_rate_limits_stopped_every_reference(
    client: openai.OpenAI, groq_server: GroqServer
) -> None:
    for model in REFERENCES:  # a wait longer than moa's retries allow: a daily limit
        groq_server.set(model, Behavior(status=429, headers={"retry-after": "3600"}))
    with pytest.raises(openai.RateLimitError) as caught:
        ask(client)
    assert caught.value.code == "rate_limit_exceeded"
    assert caught.value.response.headers["retry-after"] == "3600"  # the upstream wait, for the client's retries


def test_serve_never_passes_an_upstream_key_on_in_an_error(client: openai.OpenAI, groq_server: GroqServer) -> None:
    for model in REFERENCES:  # a server that quotes the key it was sent
        groq_server.set(model, Behavior(status=400, error_message="bad request from key test-key"))
    with pytest.raises(openai.InternalServerError) as caught:
        ask(client)
    assert "test-key" not in caught.value.response.text
    assert "[redacted]" in caught.value.response.text


def test_serve_ends_a_stream_that_fails_midway_with_an_error_event(
    client: openai.OpenAI, groq_server: GroqServer
) -> None:
    groq_server.set(AGGREGATOR, Behavior(text="one two three four five", stream_error_after_tokens=2))
    received: list[str] = []
    with pytest.raises(openai.APIError) as caught:
        for chunk in ask(client, stream=True):
            if chunk.choices and chunk.choices[0].delta.content:
                received.append(chunk.choices[0].delta.content)
    assert "".join(received) == "one two "
    assert caught.value.code == "aggregator_failed"


def test_serve_refuses_a_body_over_the_size_limit_with_413(server: ServeProcess) -> None:
    response = httpx.post(server.url + "/chat/completions", content=b"x" * (8 * 1024 * 1024 + 1))
    assert response.status_code == 413
    assert error_of(response)["code"] == "request_too_large"


def test_serve_refuses_more_than_a_thousand_messages_with_400(client: openai.OpenAI) -> None:
    messages = [{"role": "user", "content": "hi"}] * 1001
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="moa", messages=messages)  # type: ignore[arg-type]
    assert "at most 1000 messages" in caught.value.message


def test_serve_answers_an_unknown_path_with_404(server: ServeProcess) -> None:
    response = httpx.get(server.url + "/embeddings")
    assert response.status_code == 404
    assert error_of(response)["code"] == "unknown_url"


def test_serve_off_loopback_without_a_token_refuses_to_start(moa_env: dict[str, str]) -> None:
    proc = run_moa(["serve", "--host", "0.0.0.0", "--port", "0"], moa_env)
    assert proc.returncode == 2
    lines = proc.stderr.decode().splitlines()
    assert len(lines) == 1 and lines[0].startswith("moa: error: refusing to serve on 0.0.0.0 without a token")


def test_serve_with_a_token_answers_only_requests_that_carry_it(
    moa_env: dict[str, str], groq_server: GroqServer
) -> None:
    write_config(moa_env)
    with ServeProcess({**moa_env, "MOA_SERVE_TOKEN": "s3cret"}, "--host", "0.0.0.0") as server:
        url = server.url.replace("0.0.0.0", "127.0.0.1")
        wrong = openai.OpenAI(base_url=url, api_key="guess", max_retries=0)
        with pytest.raises(openai.AuthenticationError) as caught:
            ask(wrong)
        assert caught.value.status_code == 401
        with pytest.raises(openai.AuthenticationError):
            wrong.models.list()
        assert not groq_server.requests
        right = openai.OpenAI(base_url=url, api_key="s3cret", max_retries=0)
        assert ask(right).choices[0].message.content == f"{AGGREGATOR} answers: Why is the sky blue?"


def test_serve_on_a_port_in_use_says_so_in_one_line(moa_env: dict[str, str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = run_moa(["serve", "--port", str(port)], moa_env)
    assert proc.returncode == 1
    assert proc.stderr.decode().splitlines() == [f"moa: error: cannot listen on 127.0.0.1:{port}: Address already in use"]


def test_serve_without_a_key_for_its_models_refuses_to_start(moa_env: dict[str, str]) -> None:
    env = {name: value for name, value in moa_env.items() if name != "GROQ_API_KEY"}
    proc = run_moa(["serve", "--port", "0"], env)
    assert proc.returncode == 2
    (line,) = proc.stderr.decode().splitlines()
    assert line.startswith("moa: error: GROQ_API_KEY is not set")
