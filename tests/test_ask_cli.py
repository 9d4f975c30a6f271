"""`moa ask` as a user runs it: a real process, piped stdin/stdout, the real groq SDK, a local server."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import procs
from conftest import run_moa
from groq_server import Behavior, GroqServer

REFS = ["-m", "ref/a", "-m", "ref/b", "-m", "ref/c", "-a", "agg/x"]


def test_ask_pipes_only_the_answer_to_stdout(groq_server: GroqServer, moa_env: dict[str, str]) -> None:
    groq_server.set("agg/x", Behavior(text="The **final** answer."))
    proc = run_moa(["ask", *REFS, "What is MoA?"], moa_env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == b"The **final** answer.\n"
    assert b"ref/a done" in proc.stderr and b"aggregating with agg/x" in proc.stderr


def test_ask_sends_all_references_then_the_aggregator_with_their_answers(
    groq_server: GroqServer, moa_env: dict[str, str]
) -> None:
    proc = run_moa(["ask", *REFS, "Why is the sky blue?"], moa_env)
    assert proc.returncode == 0, proc.stderr
    models = [r.model for r in groq_server.requests]
    assert sorted(models[:3]) == ["ref/a", "ref/b", "ref/c"] and models[3] == "agg/x"
    aggregator = groq_server.requests[3]
    answers = aggregator.messages[-1]["content"]
    for ref in ("ref/a", "ref/b", "ref/c"):
        assert f"{ref} answers: Why is the sky blue?" in answers
    # The references' request, word for word, then the answers: one prefix a prompt cache serves.
    assert aggregator.messages[:-1] == groq_server.requests[0].messages
    assert all(r.body["stream"] is True for r in groq_server.requests)


def test_ask_reads_piped_stdin_before_the_question(groq_server: GroqServer, moa_env: dict[str, str]) -> None:
    proc = run_moa(["ask", *REFS, "Write a commit message"], moa_env, stdin=b"diff --git a b\n+line\n")
    assert proc.returncode == 0, proc.stderr
    assert groq_server.requests[0].messages[-1]["content"] == "diff --git a b\n+line\n\nWrite a commit message"


def test_ask_takes_the_question_from_stdin_alone(groq_server: GroqServer, moa_env: dict[str, str]) -> None:
    proc = run_moa(["ask", *REFS], moa_env, stdin=b"only stdin\n")
    assert proc.returncode == 0, proc.stderr
    assert groq_server.requests[0].messages[-1]["content"] == "only stdin"


def test_ask_without_any_input_is_a_usage_error_with_a_hint(
    groq_server: GroqServer, moa_env: dict[str, str]
) -> None:
    proc = run_moa(["ask"], moa_env, stdin=b"   \n")
    assert proc.returncode == 2
    assert proc.stderr.decode().count("\n") == 1
    assert "no question given" in proc.stderr.decode() and "moa ask" in proc.stderr.decode()
    assert groq_server.requests == []


def test_ask_without_api_key_says_how_to_set_it(groq_server: GroqServer, moa_env: dict[str, str]) -> None:
    del moa_env["GROQ_API_KEY"]
    proc = run_moa(["ask", "hi"], moa_env)
    assert proc.returncode == 2
    assert proc.stderr.decode() == (
        "moa: error: GROQ_API_KEY is not set; create a key at https://console.groq.com/keys "
        "and run: export GROQ_API_KEY=gsk_...\n"
    )


def test_ask_uses_the_live_groq_models_by_default(groq_server: GroqServer, moa_env: dict[str, str]) -> None:
    proc = run_moa(["ask", "hi"], moa_env)
    assert proc.returncode == 0, proc.stderr
    models = [r.model for r in groq_server.requests]
    assert sorted(models[:3]) == ["openai/gpt-oss-120b", "openai/gpt-oss-20b", "qwen/qwen3.8-27b"]
    assert models[3] == "openai/gpt-oss-120b"


def test_ask_keeps_answer_when_one_reference_fails(groq_server: GroqServer, moa_env: dict[str, str]) -> None:
    groq_server.set("ref/b", Behavior(status=404))
    groq_server.set("agg/x", Behavior(text="Aggregated."))
    proc = run_moa(["ask", *REFS, "q"], moa_env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == b"Aggregated.\n"
    stderr = proc.stderr.decode()
    assert "warning: model 'ref/b' is not available on Groq" in stderr
    answers = groq_server.requests_for("agg/x")[0].messages[-1]["content"]
    assert "ref/a answers" in answers and "ref/b" not in answers


def test_ask_names_a_decommissioned_model(groq_server: GroqServer, moa_env: dict[str, str]) -> None:
    groq_server.set("llama3-70b-8192", Behavior(status=400, error_code="model_decommissioned"))
    proc = run_moa(["ask", "-m", "llama3-70b-8192", "-a", "agg/x", "q"], moa_env)
    assert proc.returncode == 1
    stderr = proc.stderr.decode()
    assert "moa: error: model 'llama3-70b-8192' is not available on Groq" in stderr
    assert "decommissioned" in stderr
    assert "Traceback" not in stderr


def test_ask_with_a_bad_key_fails_in_one_line(groq_server: GroqServer, moa_env: dict[str, str]) -> None:
    moa_env["GROQ_API_KEY"] = "bad-key"
    proc = run_moa(["ask", *REFS, "q"], moa_env, stdin=None)
    assert proc.returncode == 1
    errors = [line for line in proc.stderr.decode().splitlines() if "error:" in line]
    assert errors == ["moa: error: Groq rejected the API key (401: Invalid API Key); check GROQ_API_KEY"]
    assert proc.stdout == b""


def test_all_references_failing_exits_1_naming_each(groq_server: GroqServer, moa_env: dict[str, str]) -> None:
    groq_server.set("ref/a", Behavior(status=413))
    groq_server.set("ref/b", Behavior(status=404))
    proc = run_moa(["ask", "-m", "ref/a", "-m", "ref/b", "-a", "agg/x", "q"], moa_env)
    assert proc.returncode == 1
    stderr = proc.stderr.decode()
    assert "all 2 reference models failed" in stderr
    assert "request too large for ref/a's limit" in stderr and "'ref/b' is not available" in stderr
    assert groq_server.requests_for("agg/x") == []


def test_aggregator_failure_keeps_reference_answers_in_json(
    groq_server: GroqServer, moa_env: dict[str, str]
) -> None:
    groq_server.set("agg/x", Behavior(status=500))
    proc = run_moa(["ask", "--json", *REFS, "q"], moa_env)
    assert proc.returncode == 1
    data = json.loads(proc.stdout)
    assert data["status"] == "failed"
    assert [r["answer"] for r in data["references"]] == [f"ref/{x} answers: q" for x in "abc"]
    assert data["aggregator"]["status"] == "failed"
    assert "Groq server error 500" in proc.stderr.decode()


def test_aggregator_failure_shows_reference_answers_on_stderr(
    groq_server: GroqServer, moa_env: dict[str, str]
) -> None:
    groq_server.set("agg/x", Behavior(status=400, error_message="bad thing"))
    proc = run_moa(["ask", *REFS, "q"], moa_env)
    assert proc.returncode == 1
    assert proc.stdout == b""
    stderr = proc.stderr.decode()
    assert "moa: the aggregator failed; best reference answer: ref/" in stderr
    assert stderr.rstrip().endswith("moa: error: agg/x: request refused (400: bad thing)")


def test_json_output_has_every_answer_usage_and_timing(groq_server: GroqServer, moa_env: dict[str, str]) -> None:
    groq_server.set("ref/a", Behavior(text="A says hi", reasoning="thinking hard"))
    proc = run_moa(["ask", "--json", "-q", *REFS, "q"], moa_env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == b""
    data = json.loads(proc.stdout)
    assert data["question"] == "q" and data["status"] == "complete"
    assert data["answer"] == "agg/x answers: q"
    first = data["references"][0]
    assert (first["model"], first["answer"], first["reasoning"]) == ("ref/a", "A says hi", "thinking hard")
    assert first["usage"]["completion_tokens"] == 5
    assert first["timing"]["elapsed"] > 0
    assert data["usage"]["total_tokens"] == sum(
        a["usage"]["total_tokens"] for a in [*data["references"], data["aggregator"]]
    )


def test_json_usage_is_null_when_a_model_that_answered_reported_none(
    groq_server: GroqServer, moa_env: dict[str, str]
) -> None:
    """As llama-cpp-python's server streams: a sum without its tokens would say fewer were used."""
    groq_server.set("ref/a", Behavior(no_usage=True))
    data = json.loads(run_moa(["ask", "--json", "-q", *REFS, "q"], moa_env).stdout)
    assert data["references"][0]["usage"] is None and data["references"][1]["usage"] is not None
    assert data["usage"] is None


def test_reasoning_is_not_part_of_the_piped_answer(groq_server: GroqServer, moa_env: dict[str, str]) -> None:
    groq_server.set("agg/x", Behavior(text="Answer only.", reasoning="secret chain of thought"))
    proc = run_moa(["ask", *REFS, "q"], moa_env)
    assert proc.stdout == b"Answer only.\n"


def test_short_retry_after_is_waited_and_retried(groq_server: GroqServer, moa_env: dict[str, str]) -> None:
    groq_server.set("ref/a", Behavior(status=429, fail_times=1, headers={"retry-after": "1"}))
    start = time.monotonic()
    proc = run_moa(["ask", *REFS, "q"], moa_env)
    assert proc.returncode == 0, proc.stderr
    assert time.monotonic() - start >= 1.0
    assert len(groq_server.requests_for("ref/a")) == 2
    assert "retrying in 1s" in proc.stderr.decode()


def test_daily_limit_is_reported_at_once_not_retried(groq_server: GroqServer, moa_env: dict[str, str]) -> None:
    groq_server.set("ref/a", Behavior(status=429, headers={"retry-after": "432"}))
    proc = run_moa(["ask", "-m", "ref/a", "-a", "agg/x", "q"], moa_env, timeout=10)
    assert proc.returncode == 1
    assert len(groq_server.requests_for("ref/a")) == 1
    stderr = proc.stderr.decode()
    assert "rate limit reached for ref/a" in stderr and "Groq asks to wait 7m12s" in stderr


def test_error_inside_a_stream_after_200_is_reported(groq_server: GroqServer, moa_env: dict[str, str]) -> None:
    groq_server.set("agg/x", Behavior(text="one two three four", stream_error_after_tokens=2))
    proc = run_moa(["ask", *REFS, "q"], moa_env)
    assert proc.returncode == 1
    assert proc.stdout == b"one two \n"
    assert "agg/x: Groq stopped the answer" in proc.stderr.decode()


def test_dropped_connection_mid_answer_keeps_the_partial_answer(
    groq_server: GroqServer, moa_env: dict[str, str]
) -> None:
    groq_server.set("agg/x", Behavior(text="alpha beta gamma delta", drop_after_tokens=2))
    proc = run_moa(["ask", "--json", *REFS, "q"], moa_env)
    assert proc.returncode == 1
    data = json.loads(proc.stdout)
    assert data["answer"] == "alpha beta "
    assert "connection dropped mid-answer" in data["error"]


def test_connection_refused_is_one_line(moa_env: dict[str, str]) -> None:
    moa_env["GROQ_BASE_URL"] = "http://127.0.0.1:9"
    proc = run_moa(["ask", "-m", "ref/a", "-a", "agg/x", "q"], moa_env)
    assert proc.returncode == 1
    assert proc.stderr.decode().splitlines()[-1] == "moa: error: ref/a: cannot connect to http://127.0.0.1:9"


def test_request_timeout_from_config_is_reported(
    groq_server: GroqServer, moa_env: dict[str, str], tmp_path: Path
) -> None:
    config = tmp_path / "moa.toml"
    config.write_text("timeout = 0.5\n")
    moa_env["MOA_CONFIG"] = str(config)
    groq_server.set("ref/a", Behavior(hang=True))
    proc = run_moa(["ask", "-m", "ref/a", "-a", "agg/x", "q"], moa_env)
    assert proc.returncode == 1
    assert proc.stderr.decode().splitlines()[-1] == "moa: error: ref/a: timed out waiting for Groq"


def test_ref_timeout_leaves_out_a_hanging_reference(groq_server: GroqServer, moa_env: dict[str, str]) -> None:
    groq_server.set("ref/c", Behavior(hang=True))
    groq_server.set("agg/x", Behavior(text="done without c"))
    proc = run_moa(["ask", "--ref-timeout", "0.5", *REFS, "q"], moa_env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == b"done without c\n"
    assert "ref/c: no complete answer after 0.5s; left out" in proc.stderr.decode()


def test_bad_config_file_names_file_key_and_line(groq_server: GroqServer, moa_env: dict[str, str], tmp_path: Path) -> None:
    config = tmp_path / "moa.toml"
    config.write_text('aggregator = "agg/x"\nlayers = "two"\n')
    moa_env["MOA_CONFIG"] = str(config)
    proc = run_moa(["ask", "q"], moa_env)
    assert proc.returncode == 2
    assert proc.stderr.decode() == f"moa: error: {config}:2: 'layers' must be an integer from 1 to 8, not \"two\"\n"


def test_preset_from_config_chooses_models_and_flags_override_it(
    groq_server: GroqServer, moa_env: dict[str, str], tmp_path: Path
) -> None:
    config = tmp_path / "moa.toml"
    config.write_text('[presets.duo]\nreferences = ["ref/a", "ref/b"]\naggregator = "agg/x"\ntemperature = 0.2\n')
    moa_env["MOA_CONFIG"] = str(config)
    proc = run_moa(["ask", "--preset", "duo", "-t", "0.4", "q"], moa_env)
    assert proc.returncode == 0, proc.stderr
    assert sorted(r.model for r in groq_server.requests) == ["agg/x", "ref/a", "ref/b"]
    assert {r.body["temperature"] for r in groq_server.requests} == {0.4}


def test_unknown_preset_is_a_usage_error(groq_server: GroqServer, moa_env: dict[str, str]) -> None:
    proc = run_moa(["ask", "--preset", "nope", "q"], moa_env)
    assert proc.returncode == 2
    assert "unknown preset 'nope'" in proc.stderr.decode()


def test_non_utf8_stdin_is_decoded_with_replacement_and_told(
    groq_server: GroqServer, moa_env: dict[str, str]
) -> None:
    proc = run_moa(["ask", *REFS, "q"], moa_env, stdin=b"caf\xe9\n")
    assert proc.returncode == 0, proc.stderr
    assert "not valid UTF-8" in proc.stderr.decode()
    assert groq_server.requests[0].messages[-1]["content"] == "caf\ufffd\n\nq"


def test_quiet_silences_progress(groq_server: GroqServer, moa_env: dict[str, str]) -> None:
    proc = run_moa(["ask", "-q", *REFS, "q"], moa_env)
    assert proc.returncode == 0
    assert proc.stderr == b""


def test_piped_answer_passes_escape_sequences_through_unchanged(
    groq_server: GroqServer, moa_env: dict[str, str]
) -> None:
    groq_server.set("agg/x", Behavior(text="red \x1b[31mtext\x1b[0m [bold]x[/bold]\n"))
    proc = run_moa(["ask", *REFS, "q"], moa_env)
    assert proc.stdout == b"red \x1b[31mtext\x1b[0m [bold]x[/bold]\n"


def test_ctrl_c_stops_at_once_with_exit_130(groq_server: GroqServer, moa_env: dict[str, str]) -> None:
    groq_server.set("ref/a", Behavior(hang=True))
    proc = procs.popen(
        ["ask", *REFS, "q"],
        moa_env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    groq_server.wait_for_requests(3)
    start = time.monotonic()
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=10)
    assert time.monotonic() - start < 2
    assert proc.returncode == 130
    assert stderr.decode().splitlines()[-1] == "moa: interrupted"
    assert "Traceback" not in stderr.decode()


def test_version_and_help(moa_env: dict[str, str]) -> None:
    version = run_moa(["--version"], moa_env)
    assert version.returncode == 0 and version.stdout.startswith(b"moa ")
    help_text = run_moa(["ask", "--help"], moa_env)
    assert help_text.returncode == 0 and b"--ref-timeout" in help_text.stdout


def test_version_is_printed_without_loading_the_command_line_parser(moa_env: dict[str, str]) -> None:
    """``moa --version`` answers before typer is imported (0.1 s of its 0.15 s), and says the same."""
    from moa_cli import __version__

    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "moa_cli", "--version"], env=moa_env, capture_output=True, timeout=30
    )
    assert proc.returncode == 0 and proc.stdout == f"moa {__version__}\n".encode()
    imported = {line.rsplit("|", 1)[-1].strip() for line in proc.stderr.decode().splitlines()}
    assert "moa_cli" in imported and "typer" not in imported and "click" not in imported


def test_verbose_logs_each_request_with_the_key_redacted(groq_server: GroqServer, moa_env: dict[str, str]) -> None:
    moa_env["GROQ_API_KEY"] = "gsk_very_secret"
    proc = run_moa(["--verbose", "ask", "-q", *REFS, "q"], moa_env)
    assert proc.returncode == 0, proc.stderr
    stderr = proc.stderr.decode()
    assert stderr.count("/openai/v1/chat/completions headers=") == 4
    assert "'authorization': 'Bearer [redacted]'" in stderr
    assert "-> 200 in" in stderr
    assert "gsk_very_secret" not in stderr
    assert proc.stdout == b"agg/x answers: q\n"


def test_no_stdin_leaves_piped_input_alone(groq_server: GroqServer, moa_env: dict[str, str]) -> None:
    proc = run_moa(["ask", "--no-stdin", *REFS, "just this"], moa_env, stdin=b"the rest of a shell loop\n")
    assert proc.returncode == 0, proc.stderr
    assert groq_server.requests[0].messages[-1]["content"] == "just this"


def test_stdin_that_is_not_a_pipe_or_file_is_not_waited_on(
    groq_server: GroqServer, moa_env: dict[str, str]
) -> None:
    import socket

    left, right = socket.socketpair()  # what a scheduler may leave on stdin: open, never written
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "moa_cli", "ask", *REFS, "q"],
            stdin=left, capture_output=True, env=moa_env, timeout=20,
        )
    finally:
        left.close()
        right.close()
    assert proc.returncode == 0, proc.stderr
    assert groq_server.requests[0].messages[-1]["content"] == "q"
