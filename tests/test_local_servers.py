"""Issue 11: local inference servers that serve a few requests at once, through the real CLI.

The OpenAI-flavoured local server stands in for llama.cpp, Ollama or LM Studio: with
``max_concurrency`` moa sends no more than that many requests at once and says the others are
queued; a server that cuts a running stream off when the next request arrives (llama-cpp-python's
default) costs no reference: moa falls back to one request at a time and asks again.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pexpect
import procs
import pytest
from conftest import run_moa
from groq_server import Behavior, GroqServer, RecordedRequest

SLOW = Behavior(text="a local answer in six words", tokens_per_second=40)


@pytest.fixture
def local_server() -> Iterator[GroqServer]:
    with GroqServer(flavor="openai") as server:
        yield server


def local_env(
    env: dict[str, str], tmp_path: Path, server: GroqServer, provider: str, extra: str = ""
) -> dict[str, str]:
    config = tmp_path / "moa.toml"
    config.write_text(f'[providers.{provider}]\nbase_url = "{server.base_url}/v1"\n{extra}')
    return {**env, "MOA_CONFIG": str(config)}


def overlapping(requests: list[RecordedRequest]) -> int:
    """The most requests the server was answering at one moment."""
    edges = sorted(
        [(r.received_at, 1) for r in requests] + [(r.last_byte_sent_at or r.received_at, -1) for r in requests]
    )
    most = now = 0
    for _, step in edges:
        now += step
        most = max(most, now)
    return most


def test_max_concurrency_sends_one_request_at_a_time_and_every_reference_answers(
    local_server: GroqServer, moa_env: dict[str, str], tmp_path: Path
) -> None:
    local_server.set("m", SLOW)
    env = local_env(moa_env, tmp_path, local_server, "local", "max_concurrency = 1\n")
    proc = run_moa(["ask", "--json", "--samples", "3", "-m", "local:m", "-a", "local:m", "q"], env)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert [r["status"] for r in data["references"]] == ["done"] * 3
    assert data["answer"] == "a local answer in six words"
    assert len(local_server.requests) == 4
    assert overlapping(local_server.requests) == 1


def test_a_queued_reference_says_queued_in_its_panel(
    local_server: GroqServer, moa_env: dict[str, str], tmp_path: Path
) -> None:
    local_server.set("m", Behavior(text="slow " * 30, tokens_per_second=20))  # the third waits 3 s
    env = local_env(moa_env, tmp_path, local_server, "local", "max_concurrency = 1\n")
    child = procs.spawn(
        ["ask", "--samples", "3", "-m", "local:m", "-a", "local:m", "q"],
        {**env, "TERM": "xterm-256color"},
        dimensions=(40, 120),
        timeout=20,
    )
    child.expect("queued")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert b"3/3 references" in child.before


def test_a_server_that_cuts_streams_off_under_load_falls_back_to_one_at_a_time(
    local_server: GroqServer, moa_env: dict[str, str], tmp_path: Path
) -> None:
    local_server.set("m", Behavior(text="a local answer in six words", tokens_per_second=40, interrupt_on_next=True))
    env = local_env(moa_env, tmp_path, local_server, "local")
    proc = run_moa(["ask", "--json", "--samples", "3", "-m", "local:m", "-a", "local:m", "q"], env)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert [(r["status"], r["answer"]) for r in data["references"]] == [("done", "a local answer in six words")] * 3
    err = proc.stderr.decode()
    assert "cut the answer off while serving" in err and "asking again, one request at a time" in err
    assert "warning" not in err
    after_fallback = local_server.requests[3:]
    assert overlapping(after_fallback) == 1


def test_the_llamacpp_provider_needs_no_key_and_serves_one_request_at_a_time(
    local_server: GroqServer, moa_env: dict[str, str], tmp_path: Path
) -> None:
    local_server.set("smollm2", Behavior(text="small model words", tokens_per_second=60, interrupt_on_next=True))
    env = local_env({**moa_env, "GROQ_API_KEY": ""}, tmp_path, local_server, "llamacpp")
    proc = run_moa(["ask", "--samples", "3", "-m", "llamacpp:smollm2", "-a", "llamacpp:smollm2", "q"], env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.decode() == "small model words\n"
    assert "3/3 references" in proc.stderr.decode()
    assert "cut" not in proc.stderr.decode()
    assert len(local_server.requests) == 4 and overlapping(local_server.requests) == 1


def test_max_concurrency_must_be_a_whole_number(moa_env: dict[str, str], tmp_path: Path) -> None:
    config = tmp_path / "moa.toml"
    config.write_text('[providers.llamacpp]\nmax_concurrency = -1\n')
    proc = run_moa(["ask", "q"], {**moa_env, "MOA_CONFIG": str(config)})
    assert proc.returncode == 2
    problem = "'providers.llamacpp.max_concurrency' must be an integer >= 1, not -1"
    assert proc.stderr.decode() == f"moa: error: {config}:2: {problem}\n"
