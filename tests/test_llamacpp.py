"""A real model: moa against llama-cpp-python's server running SmolLM2-135M-Instruct, default settings.

That server cuts off its running stream whenever the next request arrives; moa's ``llamacpp``
provider sends one request at a time, so every reference answers. The server is started once per
test session, on the one pytest-xdist worker that runs this whole file (conftest's ``ONE_WORKER``:
the server answers one request at a time, and the model loads once). ``.ci/run`` installs it and
sets ``MOA_TEST_GGUF`` (see ``.ci/local-model.sh``); without that variable these tests are
skipped, and with it they fail if the model or ``llama_cpp`` is missing.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import run_moa
from test_chat_repl import leave, say, spawn_chat

GGUF = os.environ.get("MOA_TEST_GGUF", "")
ARGS = ["--samples", "3", "-m", "llamacpp:smollm2", "-a", "llamacpp:smollm2"]
READY_WITHIN = 180.0
"""Seconds the server may take to load the model on a busy 2-core machine."""

MAX_TOKENS = 8
"""Answers stay short: on 2 cores this model takes ~40 ms of CPU per token it writes, and each
answer is read again by the aggregator or the judge."""

pytestmark = pytest.mark.skipif(
    not GGUF, reason="no real model: set MOA_TEST_GGUF=$(bash .ci/local-model.sh .ci-model), as .ci/run does"
)


@pytest.fixture(scope="session")
def llama_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``python -m llama_cpp.server`` on a free port with its default settings; its ``/v1`` URL."""
    if not Path(GGUF).is_file():
        pytest.fail(f"MOA_TEST_GGUF={GGUF} is not a file")
    try:
        import llama_cpp.server  # noqa: F401
    except ImportError as exc:
        pytest.fail(f"MOA_TEST_GGUF is set but llama-cpp-python[server] is not installed: {exc}")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = tmp_path_factory.mktemp("llama") / "server.log"
    # The server's settings stay the defaults. Its OpenMP threads sleep rather than spin while they
    # wait for each other: on 2 cores shared with the rest of the suite, spinning made a 200-token
    # prompt take 10x longer (20 s instead of 2) and burnt the CPU the other tests needed.
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}
    with open(log, "wb") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "llama_cpp.server", "--model", GGUF, "--host", "127.0.0.1", "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    url = f"http://127.0.0.1:{port}/v1"
    try:
        wait_until_ready(server, url, log)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def wait_until_ready(server: subprocess.Popen[bytes], url: str, log: Path) -> None:
    """Poll ``/v1/models`` until it answers; fail with the server's log if it exits or takes too long."""
    deadline = time.monotonic() + READY_WITHIN
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"llama_cpp.server exited with {server.returncode}:\n{log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{url}/models", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)  # polling a port that is not open yet, within the deadline
    pytest.fail(f"llama_cpp.server not ready after {READY_WITHIN:.0f}s:\n{log.read_text()[-2000:]}")


@pytest.fixture
def llama_env(moa_env: dict[str, str], llama_url: str, tmp_path: Path) -> dict[str, str]:
    """moa pointed at the real server as ``llamacpp`` and as ``local``, a provider with no limit of
    its own; short answers, no Groq key."""
    config = tmp_path / "moa.toml"
    providers = "".join(f'[providers.{name}]\nbase_url = "{llama_url}"\n' for name in ("llamacpp", "local"))
    config.write_text(f"max_tokens = {MAX_TOKENS}\n{providers}")
    return {**moa_env, "MOA_CONFIG": str(config), "GROQ_API_KEY": ""}


def test_every_sample_of_a_real_model_answers_and_json_holds_the_three_answers_and_the_aggregate(
    llama_env: dict[str, str],
) -> None:
    proc = run_moa(["ask", "--json", *ARGS, "Name a fruit."], llama_env, timeout=180)
    err = proc.stderr.decode()
    assert proc.returncode == 0, err
    assert "cut the answer off" not in err and "retrying" not in err  # one request at a time: none was cut
    data = json.loads(proc.stdout)
    assert [r["status"] for r in data["references"]] == ["done"] * 3
    assert all(r["answer"].strip() for r in data["references"])
    assert data["status"] == "complete" and data["answer"].strip()
    assert data["aggregator"]["finish_reason"] in ("stop", "length")


def test_a_provider_with_no_limit_falls_back_to_one_request_at_a_time_on_the_real_server(
    llama_env: dict[str, str],
) -> None:
    args = ["ask", "--samples", "3", "-m", "local:smollm2", "-a", "local:smollm2", "Name a colour."]
    proc = run_moa(args, llama_env, timeout=180)
    err = proc.stderr.decode()
    assert proc.returncode == 0, err
    assert proc.stdout.decode().strip()
    assert "3/3 references" in err
    assert "asking again, one request at a time" in err


def test_a_two_turn_chat_with_a_real_model(llama_env: dict[str, str]) -> None:
    child = spawn_chat(ARGS, {**llama_env, "NO_COLOR": "1"})
    child.timeout = 180
    for question in ("Hello!", "Name a colour."):  # the second turn sends the first's history
        assert "3/3 references" in say(child, question)
    leave(child)


SHAPES = [
    {"question_id": 81, "turns": ["Name an animal.", "Name another one."]},
    {"id": "colour", "prompt": "Name a colour."},
]
"""An MT-Bench-style two-turn row, then a single question. Each row costs a model call per
reference and turn, and batch's other field names are tested against the test server."""


def small_data_set(path: Path, shapes: list[dict[str, object]] = SHAPES) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in shapes), encoding="utf-8")
    return path


def test_a_batch_of_two_rows_through_a_real_model_writes_one_answered_line_per_row(
    llama_env: dict[str, str], tmp_path: Path
) -> None:
    out = tmp_path / "out.jsonl"
    args = ["batch", str(small_data_set(tmp_path / "rows.jsonl")), "-o", str(out)]
    proc = run_moa([*args, "-m", "llamacpp:smollm2", "-a", "llamacpp:smollm2", "--max-tokens", str(MAX_TOKENS)], llama_env, timeout=300)
    assert proc.returncode == 0, proc.stderr.decode()
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert sorted(str(r["id"]) for r in rows) == ["81", "colour"]
    assert all(r["status"] == "ok" and r["answer"].strip() for r in rows)
    two_turns = next(r for r in rows if str(r["id"]) == "81")
    assert [t["question"] for t in two_turns["turns"]] == ["Name an animal.", "Name another one."]
    assert all(t["answer"].strip() for t in two_turns["turns"])


def test_an_eval_judged_by_a_real_model_runs_to_its_report_with_both_systems(
    llama_env: dict[str, str], tmp_path: Path
) -> None:
    """A 135M judge rarely ends with [[A]], [[B]] or [[C]]: such verdicts count as ties, so only
    that the run completes and reports both systems is asserted, not a win rate. The judge writes
    no more than the configured answers (``MAX_TOKENS``). One single-turn row: the batch test above
    takes the two-turn row through the real model, and each row here costs six model calls."""
    report = tmp_path / "eval.md"
    args = ["eval", str(small_data_set(tmp_path / "rows.jsonl", SHAPES[1:2])), "--system", "solo=single:llamacpp:smollm2",
            "--system", "self=self:llamacpp:smollm2*2", "--baseline", "solo", "--judge", "llamacpp:smollm2",
            "--json", "--report", str(report)]
    proc = run_moa(args, llama_env, timeout=600)
    assert proc.returncode == 0, proc.stderr.decode()
    systems = json.loads(proc.stdout)["systems"]
    assert set(systems) == {"solo", "self"}
    assert systems["self"]["rows"] == systems["solo"]["rows"] == 1
    text = report.read_text(encoding="utf-8")
    assert "solo" in text and "self" in text
