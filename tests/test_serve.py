"""`moa serve` answers the official `openai` SDK like an OpenAI endpoint: whole, streamed, with usage."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import openai
import pytest
from conftest import isolated_env
from groq_server import Behavior, GroqServer
from serve_process import ServeProcess

from moa_cli.prompts import AGGREGATE_PROMPT

REFERENCES = ["ref/a", "ref/b", "ref/c"]
AGGREGATOR = "agg/x"
CONFIG = f"""
references = {REFERENCES!r}
aggregator = "{AGGREGATOR}"

[presets.duo]
references = ["ref/a", "ref/b"]
aggregator = "ref/a"
""".replace("'", '"')


def write_config(env: dict[str, str], text: str = CONFIG) -> None:
    path = Path(env["XDG_CONFIG_HOME"]) / "moa" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.fixture(scope="module")
def shared_groq_server() -> Iterator[GroqServer]:
    with GroqServer() as server:
        yield server


@pytest.fixture
def groq_server(shared_groq_server: GroqServer) -> GroqServer:
    """This module's one local Groq server, reset for each test: one `moa serve` serves them all."""
    shared_groq_server.reset()
    return shared_groq_server


@pytest.fixture(scope="module")
def server(shared_groq_server: GroqServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    """`moa serve` with CONFIG, started once per module (each start costs a second or more)."""
    env = isolated_env(tmp_path_factory.mktemp("serve"), shared_groq_server)
    write_config(env)
    with ServeProcess(env) as process:
        yield process


@pytest.fixture
def client(server: ServeProcess, groq_server: GroqServer) -> openai.OpenAI:
    """A client of this module's `moa serve`; its upstream server reset, as every test here expects."""
    return openai.OpenAI(base_url=server.url, api_key="unused", max_retries=0, timeout=20)


def ask(client: openai.OpenAI, question: str = "Why is the sky blue?", **kwargs: object):  # type: ignore[no-untyped-def]
    return client.chat.completions.create(model="moa", messages=[{"role": "user", "content": question}], **kwargs)


def test_serve_lists_the_mixture_and_each_preset_as_models(client: openai.OpenAI) -> None:
    models = {model.id: model for model in client.models.list()}
    assert list(models) == ["moa", "moa/duo"]
    assert models["moa"].moa == {"references": REFERENCES, "aggregator": AGGREGATOR, "layers": 1}  # type: ignore[attr-defined]
    assert client.models.retrieve("moa/duo").id == "moa/duo"


def test_serve_answers_with_the_aggregated_answer_of_three_references(
    client: openai.OpenAI, groq_server: GroqServer
) -> None:
    groq_server.set(AGGREGATOR, Behavior(text="Rayleigh scattering."))
    completion = ask(client)
    assert completion.object == "chat.completion" and completion.model == "moa"
    assert completion.choices[0].message.content == "Rayleigh scattering."
    assert completion.choices[0].finish_reason == "stop"
    received = groq_server.requests
    assert sorted(r.model for r in received) == sorted([*REFERENCES, AGGREGATOR])
    aggregator_prompt = next(r for r in received if r.model == AGGREGATOR).messages[-1]["content"]
    assert all(f"{model} answers: Why is the sky blue?" in aggregator_prompt for model in REFERENCES)


def test_serve_usage_is_the_sum_over_all_agents_with_each_agent_in_the_moa_field(
    client: openai.OpenAI, groq_server: GroqServer
) -> None:
    completion = ask(client)
    detail = completion.moa  # type: ignore[attr-defined]
    agents = [*detail["references"], detail["aggregator"]]
    assert [a["model"] for a in detail["references"]] == REFERENCES
    assert all(a["status"] == "done" and a["timing"]["elapsed"] is not None for a in agents)
    assert detail["references"][0]["answer"] == "ref/a answers: Why is the sky blue?"
    assert completion.usage is not None
    assert completion.usage.completion_tokens == sum(a["usage"]["completion_tokens"] for a in agents)
    assert completion.usage.prompt_tokens == sum(a["usage"]["prompt_tokens"] for a in agents)
    assert completion.usage.total_tokens == completion.usage.prompt_tokens + completion.usage.completion_tokens


def test_serve_usage_is_null_when_a_model_that_answered_reported_none(
    client: openai.OpenAI, groq_server: GroqServer
) -> None:
    groq_server.set(REFERENCES[0], Behavior(no_usage=True))  # as llama-cpp-python's server streams
    completion = ask(client)
    assert completion.choices[0].message.content and completion.usage is None  # not a sum missing one model
    last = list(ask(client, stream=True, stream_options={"include_usage": True}))[-1]
    assert last.choices == [] and last.usage is None
    assert last.moa["references"][0]["usage"] is None  # type: ignore[attr-defined]


def test_serve_streams_the_answer_in_chunks_as_the_aggregator_writes(
    client: openai.OpenAI, groq_server: GroqServer
) -> None:
    answer = "Light scatters off air molecules, and blue scatters most."
    groq_server.set(AGGREGATOR, Behavior(text=answer, tokens_per_second=200))
    chunks = list(ask(client, stream=True))
    assert all(c.object == "chat.completion.chunk" and c.id == chunks[0].id for c in chunks)
    assert chunks[0].choices[0].delta.role == "assistant"
    texts = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert "".join(texts) == answer and len(texts) > 3
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert chunks[-1].moa["aggregator"]["answer"] == answer  # type: ignore[attr-defined]


def test_serve_include_usage_ends_the_stream_with_a_usage_chunk_without_choices(client: openai.OpenAI) -> None:
    chunks = list(ask(client, stream=True, stream_options={"include_usage": True}))
    last = chunks[-1]
    assert last.choices == [] and last.usage is not None
    detail = last.moa  # type: ignore[attr-defined]
    agents = [*detail["references"], detail["aggregator"]]
    assert last.usage.completion_tokens == sum(a["usage"]["completion_tokens"] for a in agents) > 0
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert all(c.usage is None for c in chunks[:-1])


def test_serve_sends_system_prompt_and_history_to_every_model(client: openai.OpenAI, groq_server: GroqServer) -> None:
    messages = [
        {"role": "system", "content": "Answer in French."},
        {"role": "user", "content": "Hello"},
        {"role": "assistant", "content": "Bonjour"},
        {"role": "user", "content": [{"type": "text", "text": "And goodbye?"}]},
    ]
    client.chat.completions.create(model="moa", messages=messages)  # type: ignore[arg-type]
    for model in REFERENCES:
        (request,) = groq_server.requests_for(model)
        assert [(m["role"], m["content"]) for m in request.messages] == [
            ("system", "Answer in French."),
            ("user", "Hello"),
            ("assistant", "Bonjour"),
            ("user", "And goodbye?"),
        ]
    (aggregated,) = groq_server.requests_for(AGGREGATOR)
    assert aggregated.messages[:-1] == request.messages  # the references' request, then the answers
    assert aggregated.messages[-1]["content"].startswith(AGGREGATE_PROMPT)


def test_serve_passes_temperature_and_max_tokens_to_every_model(client: openai.OpenAI, groq_server: GroqServer) -> None:
    ask(client, temperature=0.2, max_completion_tokens=77)
    for request in groq_server.requests:
        assert request.body["temperature"] == 0.2
        assert request.body["max_completion_tokens"] == 77


def test_serve_answers_with_a_preset_chosen_as_the_model(client: openai.OpenAI, groq_server: GroqServer) -> None:
    completion = client.chat.completions.create(model="moa/duo", messages=[{"role": "user", "content": "hi"}])
    assert completion.model == "moa/duo"
    assert sorted(r.model for r in groq_server.requests) == ["ref/a", "ref/a", "ref/b"]


def test_serve_reports_a_length_cut_answer_as_finish_reason_length(
    client: openai.OpenAI, groq_server: GroqServer
) -> None:
    groq_server.set(AGGREGATOR, Behavior(text="one two three four five six"))
    completion = ask(client, max_tokens=3)
    assert completion.choices[0].message.content == "one two three "
    assert completion.choices[0].finish_reason == "length"


@pytest.mark.parametrize("said", ["length", "content_filter"])
def test_serve_passes_on_why_the_aggregators_server_stopped_when_it_reports_no_usage(
    said: str, client: openai.OpenAI, groq_server: GroqServer
) -> None:
    """llama.cpp's server streams no usage: its ``length`` is the only sign the answer was cut."""
    groq_server.set(AGGREGATOR, Behavior(text="one two", finish_reason=said, no_usage=True))
    assert ask(client).choices[0].finish_reason == said
    chunks = list(ask(client, stream=True))
    assert chunks[-1].choices[0].finish_reason == said
