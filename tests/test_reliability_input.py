"""Issue #6: bad input is refused before any request (exit 2), or cleaned and told; nothing is stored.

Already covered elsewhere and not repeated: no input at all (``test_ask_cli``), invalid UTF-8 on
stdin alone, stdin larger than the context, a config value of the wrong type, and the config
checks in process (``test_config``).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import run_moa
from groq_server import GroqServer
from test_reliability import REFS, assert_database_consistent, db_path, only_turn, stored_turns, use_config


def assert_nothing_asked_or_stored(server: GroqServer, env: dict[str, str]) -> None:
    assert server.requests == []
    if db_path(env).exists():  # the store may have been opened; it must hold nothing
        assert stored_turns(env) == []


@pytest.mark.parametrize("question", ["", "   \t\n  "], ids=["empty", "whitespace"])
def test_an_empty_or_blank_question_is_refused(
    groq_server: GroqServer, moa_env: dict[str, str], question: str
) -> None:
    proc = run_moa(["ask", *REFS, question], moa_env)
    assert proc.returncode == 2
    assert proc.stdout == b""
    assert proc.stderr.decode().startswith("moa: error: no question given; try: moa ask")
    assert proc.stderr.count(b"\n") == 1
    assert_nothing_asked_or_stored(groq_server, moa_env)


def test_stdin_of_nul_bytes_only_is_no_question(groq_server: GroqServer, moa_env: dict[str, str]) -> None:
    proc = run_moa(["ask", *REFS], moa_env, stdin=b"\x00" * 64)
    assert proc.returncode == 2
    assert "no question given" in proc.stderr.decode()
    assert_nothing_asked_or_stored(groq_server, moa_env)


def test_binary_stdin_with_nul_bytes_is_cleaned_and_told(groq_server: GroqServer, moa_env: dict[str, str]) -> None:
    proc = run_moa(["ask", *REFS, "what is this?"], moa_env, stdin=b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe\n")
    assert proc.returncode == 0, proc.stderr
    stderr = proc.stderr.decode()
    assert "warning: stdin is not valid UTF-8; undecodable bytes were replaced with U+FFFD" in stderr
    assert "warning: stdin held NUL bytes (binary data?); they were removed" in stderr
    sent = groq_server.requests[0].messages[-1]["content"]
    assert sent == "\ufffdPNG\r\n\x1a\n\rIHDR\ufffd\ufffd\n\nwhat is this?"
    for request in groq_server.requests:
        assert "\x00" not in str(request.body)
    assert_database_consistent(moa_env)
    turn = only_turn(moa_env)
    assert (turn.question, turn.status) == (sent, "complete")


@pytest.mark.parametrize("via", ["argument", "stdin"])
def test_a_question_larger_than_the_context_is_refused_before_any_request(
    groq_server: GroqServer, moa_env: dict[str, str], tmp_path: Path, via: str
) -> None:
    use_config(moa_env, tmp_path, "context_window = 4000\nmax_tokens = 500\n")
    big = "word " * 5_000
    if via == "argument":
        proc = run_moa(["ask", *REFS, big], moa_env)
    else:
        proc = run_moa(["ask", *REFS], moa_env, stdin=big.encode())
    assert proc.returncode == 2
    stderr = proc.stderr.decode()
    assert stderr.startswith("moa: error: the question is about 8,334 tokens, more than fits the models' context")
    assert stderr.count("\n") == 1
    assert_nothing_asked_or_stored(groq_server, moa_env)


def test_a_question_starting_with_a_dash(groq_server: GroqServer, moa_env: dict[str, str]) -> None:
    refused = run_moa(["ask", *REFS, "-x marks the spot?"], moa_env)
    assert refused.returncode == 2
    assert "no such option: -x" in refused.stderr.decode()
    assert "Traceback" not in refused.stderr.decode()
    assert_nothing_asked_or_stored(groq_server, moa_env)

    answered = run_moa(["ask", *REFS, "--", "-x marks the spot?"], moa_env)
    assert answered.returncode == 0, answered.stderr
    assert answered.stdout == b"agg/x answers: -x marks the spot?\n"
    assert groq_server.requests[0].messages[-1]["content"] == "-x marks the spot?"
    assert only_turn(moa_env).question == "-x marks the spot?"


# A config file or preset cannot smuggle in a key, an address, or a non-text system prompt.
REFUSED_CONFIGS = {
    "system-table": ('system = { role = "system", content = "x" }\n', [], ":1: 'system' must be a string, not a table"),
    "preset-system-array": (
        '[presets.p]\nsystem = ["be evil", "really"]\n',
        ["--preset", "p"],
        ":2: 'presets.p.system' must be a string, not an array",
    ),
    "reference-system-table": (
        'references = [{ model = "ref/a", system = { x = 1 } }]\n',
        [],
        ":1: 'references[0].system' must be a string, not a table",
    ),
    "api-key-in-config": ('api_key = "gsk_injected"\n', [], ":1: unknown key 'api_key'"),
    "base-url-in-preset": ('[presets.p]\nbase_url = "http://evil.example"\n', ["--preset", "p"],
                           ":2: unknown key 'presets.p.base_url'"),
    "unknown-preset": ("[presets.fast]\nlayers = 1\n", ["--preset", "nope"], "unknown preset 'nope'; presets in "),
}


@pytest.mark.parametrize("name", REFUSED_CONFIGS)
def test_a_bad_or_injecting_config_is_refused_naming_file_and_line(
    groq_server: GroqServer, moa_env: dict[str, str], tmp_path: Path, name: str
) -> None:
    text, flags, expected = REFUSED_CONFIGS[name]
    config = use_config(moa_env, tmp_path, text)
    proc = run_moa(["ask", *flags, "-m", "ref/a", "-a", "agg/x", "q"], moa_env)
    assert proc.returncode == 2
    stderr = proc.stderr.decode()
    assert stderr.count("\n") == 1 and stderr.startswith("moa: error: ")
    assert expected in stderr
    if name != "unknown-preset":
        assert stderr.startswith(f"moa: error: {config}:")
    assert_nothing_asked_or_stored(groq_server, moa_env)
