"""Several providers in one mixture, Self-MoA samples, `moa models`, `moa keys`, and `--dry-run`.

A second local server speaks the OpenAI `/v1` protocol, reached through the groq SDK's client.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import run_moa
from groq_server import Behavior, GroqServer

from moa_cli import __version__


@pytest.fixture
def openai_server() -> Iterator[GroqServer]:
    with GroqServer(flavor="openai") as server:
        yield server


@pytest.fixture
def mixed_env(moa_env: dict[str, str], openai_server: GroqServer, tmp_path: Path) -> dict[str, str]:
    """moa's environment with a config declaring the OpenAI-compatible server as provider 'local'."""
    config = tmp_path / "moa.toml"
    config.write_text(
        f'[providers.local]\nbase_url = "{openai_server.base_url}/v1"\napi_key_env = "LOCAL_KEY"\n'
        'headers = { "X-Title" = "moa-cli" }\n'
    )
    return {**moa_env, "MOA_CONFIG": str(config), "LOCAL_KEY": "local-secret"}


def test_an_openai_compatible_model_is_asked_without_importing_the_openai_sdk(
    openai_server: GroqServer, mixed_env: dict[str, str]
) -> None:
    """``import openai`` takes a second (every type of OpenAI's API); the groq client does the same job."""
    openai_server.set("llama3.2:3b", Behavior(text="local view"))
    args = ["-X", "importtime", "-m", "moa_cli", "ask", "-m", "local:llama3.2:3b", "-a", "local:llama3.2:3b", "q"]
    proc = subprocess.run([sys.executable, *args], env=mixed_env, capture_output=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout == b"local view\n", proc.stderr[-2000:]
    imported = {line.rsplit("|", 1)[-1].strip() for line in proc.stderr.decode().splitlines() if "|" in line}
    assert "groq" in imported and not {m for m in imported if m.split(".")[0] in ("openai", "httpx2")}


def test_one_ask_mixes_a_groq_model_and_an_openai_compatible_one(
    groq_server: GroqServer, openai_server: GroqServer, mixed_env: dict[str, str]
) -> None:
    openai_server.set("llama3.2:3b", Behavior(text="local view"))
    proc = run_moa(["ask", "--json", "-m", "ref/a", "-m", "local:llama3.2:3b", "-a", "agg/x", "q"], mixed_env)
    assert proc.returncode == 0, proc.stderr
    (local,) = openai_server.requests
    assert local.model == "llama3.2:3b"
    assert local.headers["authorization"] == "Bearer local-secret"
    assert local.headers["x-title"] == "moa-cli"
    assert local.body["stream_options"] == {"include_usage": True}
    assert local.headers["user-agent"] == f"moa-cli/{__version__}"  # through the groq client, in moa's own name
    assert [r.model for r in groq_server.requests] == ["ref/a", "agg/x"]
    assert groq_server.requests[0].headers["user-agent"].startswith("AsyncGroq")
    system = groq_server.requests_for("agg/x")[0].messages[-1]["content"]
    assert "local view" in system and "ref/a answers: q" in system
    data = json.loads(proc.stdout)
    by_model = {r["model"]: r for r in data["references"]}
    assert by_model["local:llama3.2:3b"]["answer"] == "local view"
    assert by_model["local:llama3.2:3b"]["usage"]["completion_tokens"] == 2


def test_errors_from_another_provider_name_it(openai_server: GroqServer, mixed_env: dict[str, str]) -> None:
    openai_server.set("gone", Behavior(status=404))
    proc = run_moa(["ask", "-m", "local:gone", "-a", "agg/x", "q"], mixed_env)
    assert proc.returncode == 1
    assert "model 'gone' is not available on local" in proc.stderr.decode()


def test_a_provider_without_its_key_fails_before_any_request(
    groq_server: GroqServer, moa_env: dict[str, str]
) -> None:
    proc = run_moa(["ask", "-m", "openrouter:anthropic/claude-sonnet-4.5", "q"], moa_env)
    assert proc.returncode == 2
    assert proc.stderr.decode() == (
        "moa: error: OPENROUTER_API_KEY is not set (needed for openrouter: models); "
        "run: moa keys set openrouter, or export OPENROUTER_API_KEY=...\n"
    )
    assert groq_server.requests == []


def test_self_moa_samples_one_model_with_distinct_seeds(groq_server: GroqServer, moa_env: dict[str, str]) -> None:
    proc = run_moa(["ask", "--json", "-m", "ref/a", "--samples", "4", "-a", "agg/x", "-t", "0.7", "q"], moa_env)
    assert proc.returncode == 0, proc.stderr
    samples = groq_server.requests_for("ref/a")
    assert len(samples) == 4
    assert len({r.body["seed"] for r in samples}) == 4
    assert sorted(r.body["temperature"] for r in samples) == [0.4, 0.6, 0.8, 1.0]
    system = groq_server.requests_for("agg/x")[0].messages[-1]["content"]
    assert all(f"{i}. ref/a answers: q" in system for i in range(1, 5))
    assert [r["sample"] for r in json.loads(proc.stdout)["references"]] == [0, 1, 2, 3]


def test_keys_set_stores_a_key_privately_and_list_never_shows_it(
    openai_server: GroqServer, mixed_env: dict[str, str], tmp_path: Path
) -> None:
    del mixed_env["LOCAL_KEY"]
    mixed_env["MOA_HOME"] = str(tmp_path / "home-moa")
    stored = run_moa(["keys", "set", "local"], mixed_env, stdin=b"sk-stored-123\n")
    assert stored.returncode == 0, stored.stderr
    key_file = tmp_path / "home-moa" / "keys.json"
    assert key_file.stat().st_mode & 0o777 == 0o600
    listing = run_moa(["keys", "list"], mixed_env)
    assert b"sk-stored-123" not in listing.stdout + listing.stderr
    lines = dict(line.split(None, 1) for line in listing.stdout.decode().splitlines())
    assert lines["local"] == str(key_file)
    assert lines["ollama"] == "not needed"
    assert lines["openrouter"] == "missing"
    proc = run_moa(["ask", "-q", "-m", "local:m", "-a", "local:m", "q"], mixed_env)
    assert proc.returncode == 0, proc.stderr
    assert openai_server.requests[0].headers["authorization"] == "Bearer sk-stored-123"


def test_models_lists_each_provider_marks_used_ones_and_warns_about_missing(
    groq_server: GroqServer, openai_server: GroqServer, mixed_env: dict[str, str], tmp_path: Path
) -> None:
    for model in ("openai/gpt-oss-120b", "openai/gpt-oss-20b"):
        groq_server.set(model, Behavior())
    openai_server.set("llama3.2", Behavior())
    config = Path(mixed_env["MOA_CONFIG"])
    config.write_text(
        'references = ["openai/gpt-oss-20b", "llama3-70b-8192", "local:llama3.2"]\n'
        'aggregator = "openai/gpt-oss-120b"\n' + config.read_text()
    )
    proc = run_moa(["models", "--json"], mixed_env)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    providers = {p["name"]: p for p in data["providers"]}
    groq_models = {m["id"]: m["used_as"] for m in providers["groq"]["models"]}
    assert groq_models == {"openai/gpt-oss-120b": ["aggregator"], "openai/gpt-oss-20b": ["reference"]}
    assert providers["local"]["models"] == [{"id": "llama3.2", "used_as": ["reference"]}]
    assert data["not_served"] == [{"model": "llama3-70b-8192", "provider": "groq", "used_as": ["reference"]}]
    assert "llama3-70b-8192 (reference) is not served by groq" in proc.stderr.decode()
    text = run_moa(["models"], mixed_env).stdout.decode()
    assert "* openai/gpt-oss-20b" in text and "reference" in text


def test_dry_run_prints_every_request_and_sends_none(
    groq_server: GroqServer, moa_env: dict[str, str]
) -> None:
    moa_env["GROQ_API_KEY"] = "gsk_do_not_print"
    proc = run_moa(
        ["ask", "--dry-run", "--json", "-m", "ref/a", "-m", "ollama:llama3.2", "-a", "agg/x", "-s", "Be brief.", "q"],
        moa_env,
    )
    assert proc.returncode == 0, proc.stderr
    assert groq_server.requests == []
    assert b"gsk_do_not_print" not in proc.stdout
    plan = json.loads(proc.stdout)
    assert [p["key"] for p in plan["providers"]] == ["$GROQ_API_KEY (set, redacted)", "not needed"]
    first, second, aggregator = plan["requests"]
    assert first["messages"] == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "q"}]
    assert second["model"] == "ollama:llama3.2"
    assert "1. <answer of ref/a>" in aggregator["messages"][-1]["content"]
    assert "2. <answer of ollama:llama3.2>" in aggregator["messages"][-1]["content"]
    assert aggregator["input_tokens_estimate"] > first["input_tokens_estimate"]
    assert "synthesize these responses" in plan["aggregator_prompt_template"]


def test_dry_run_needs_no_key(groq_server: GroqServer, moa_env: dict[str, str]) -> None:
    del moa_env["GROQ_API_KEY"]
    proc = run_moa(["ask", "--dry-run", "q"], moa_env)
    assert proc.returncode == 0, proc.stderr
    assert f"provider groq: {groq_server.base_url} (key: missing)" in proc.stdout.decode()
    assert groq_server.requests == []


def test_a_dropped_stream_from_another_provider_is_a_connection_error(
    groq_server: GroqServer, openai_server: GroqServer, mixed_env: dict[str, str]
) -> None:
    openai_server.set("drop", Behavior(text="one two three", drop_after_tokens=1))
    proc = run_moa(["ask", "--json", "-m", "local:drop", "-m", "ref/a", "-a", "agg/x", "q"], mixed_env)
    assert proc.returncode == 0, proc.stderr
    dropped = json.loads(proc.stdout)["references"][0]
    assert dropped["error_kind"] == "connection"
    assert dropped["answer"] == "one "
    assert "the connection dropped mid-answer" in dropped["error"]
