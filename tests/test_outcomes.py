"""Issue 11: outcomes that say what happened, through the real CLI and the local Groq-speaking server.

An answer with no text is a failure; a body that is not a stream, or chunks without choices,
fail with what came instead; a cut answer is a warning kept in ``--json`` and in the store; a
model id or a key moa cannot use is exit 2 before any request; a base URL with the SDK's own
path is understood.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from conftest import run_moa
from groq_server import Behavior, GroqServer
from test_reliability import agents_of, only_turn

from moa_cli.store import Store

REFS = ["-m", "ref/a", "-m", "ref/b", "-a", "agg/x"]


def ask(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    proc = run_moa(["ask", *args], env)
    return proc.returncode, proc.stdout.decode(), proc.stderr.decode()


def test_a_reference_that_returns_no_text_has_failed(groq_server: GroqServer, moa_env: dict[str, str]) -> None:
    groq_server.set("ref/a", Behavior(text=""))
    code, out, err = ask(moa_env, *REFS, "q")
    assert code == 0, err
    assert "warning: ref/a: returned no text" in err
    assert "1/2 references" in err
    answers = groq_server.requests_for("agg/x")[0].messages[-1]["content"]  # the answers come last
    assert "ref/b answers: q" in answers and "ref/a" not in answers
    assert agents_of(only_turn(moa_env))["ref/a"] == ("failed", "")


def test_an_aggregator_that_returns_no_text_is_exit_1_and_keeps_the_references(
    groq_server: GroqServer, moa_env: dict[str, str]
) -> None:
    groq_server.set("agg/x", Behavior(text=""))
    code, out, err = ask(moa_env, *REFS, "q")
    assert code == 1
    assert out == ""
    assert re.search(r"all answers: moa sessions show --refs\nref/[ab] answers: q\n", err), err  # the best kept
    assert err.rstrip().splitlines()[-1] == "moa: error: agg/x: returned no text"
    turn = only_turn(moa_env)
    assert (turn.status, turn.error) == ("failed", "agg/x: returned no text")
    assert agents_of(turn)["ref/b"] == ("done", "ref/b answers: q")


def test_a_200_that_is_not_json_fails_saying_what_came(groq_server: GroqServer, moa_env: dict[str, str]) -> None:
    groq_server.set("ref/a", Behavior(raw_body="{not json", headers={"Content-Type": "application/json"}))
    code, _, err = ask(moa_env, *REFS, "q")
    assert code == 0, err
    assert "warning: ref/a: Groq answered with '{not json', not an event stream" in err


def test_an_html_page_instead_of_a_stream_fails_every_reference_clearly(
    groq_server: GroqServer, moa_env: dict[str, str]
) -> None:
    groq_server.set("*", Behavior(raw_body="<html>\n<body>Proxy login required</body>\n</html>\n"))
    code, out, err = ask(moa_env, *REFS, "q")
    assert (code, out) == (1, "")
    assert "Groq answered with '<html> <body>Proxy login required</body> </html>', not an event stream" in err
    assert err.rstrip().splitlines()[-1].startswith("moa: error: ")


def test_chunks_without_choices_fail_the_answer(groq_server: GroqServer, moa_env: dict[str, str]) -> None:
    groq_server.set("ref/a", Behavior(text="hidden words", empty_choices=True))
    code, _, err = ask(moa_env, *REFS, "q")
    assert code == 0, err
    assert "warning: ref/a: Groq sent 4 chunks and none had choices: no answer" in err
    assert agents_of(only_turn(moa_env))["ref/a"][0] == "failed"


def test_an_answer_cut_at_the_token_limit_is_a_warning_kept_in_json_and_the_store(
    groq_server: GroqServer, moa_env: dict[str, str]
) -> None:
    groq_server.set("ref/a", Behavior(text="one two three four five six"))
    code, out, err = ask(moa_env, "--json", "--max-tokens", "3", "-m", "ref/a", "-a", "agg/x", "q")
    assert code == 0, err
    warning = "ref/a: the answer was cut at the 3-token limit (finish_reason length)"
    assert f"warning: {warning}" in err
    (ref,) = json.loads(out)["references"]
    assert (ref["status"], ref["answer"], ref["finish_reason"], ref["warning"]) == (
        "done", "one two three ", "length", warning,
    )
    (row,) = [a for a in only_turn(moa_env).agents if a.model == "ref/a"]
    assert (row.status, row.finish_reason, row.warning) == ("done", "length", warning)


def test_every_cut_answer_of_a_self_moa_is_warned_of_naming_its_sample_or_the_aggregator(
    groq_server: GroqServer, moa_env: dict[str, str]
) -> None:
    """The same model three times: each warning is said, none taken for another's repeat."""
    groq_server.set("ref/a", Behavior(text="one two three four five six"))
    code, _, err = ask(moa_env, "--samples", "2", "--max-tokens", "3", "-m", "ref/a", "-a", "ref/a", "q")
    assert code == 0, err
    cut = "the answer was cut at the 3-token limit (finish_reason length)"
    warnings = sorted(line for line in err.splitlines() if "warning:" in line)
    assert warnings == [
        f"moa: warning: aggregator ref/a: {cut}",
        f"moa: warning: ref/a #2: {cut}",
        f"moa: warning: ref/a: {cut}",
    ]


def test_a_content_filter_on_the_aggregator_is_a_warning_naming_it(
    groq_server: GroqServer, moa_env: dict[str, str]
) -> None:
    groq_server.set("agg/x", Behavior(text="Partial answer", finish_reason="content_filter"))
    code, out, err = ask(moa_env, "--json", *REFS, "q")
    assert code == 0, err
    warning = "agg/x: the answer was stopped by a content filter (finish_reason content_filter)"
    assert f"warning: aggregator {warning}" in err
    data = json.loads(out)
    assert (data["answer"], data["aggregator"]["warning"]) == ("Partial answer", warning)


def test_a_stream_that_ends_without_a_finish_is_kept_and_marked_cut_off(
    groq_server: GroqServer, moa_env: dict[str, str]
) -> None:
    groq_server.set("agg/x", Behavior(text="half an answer", end_without_done=True))
    code, out, err = ask(moa_env, *REFS, "q")
    assert code == 0, err
    assert out == "half an answer\n"
    warning = "agg/x: the answer was cut off (the stream ended without a finish reason)"
    assert f"warning: aggregator {warning}" in err
    turn = only_turn(moa_env)
    (row,) = [a for a in turn.agents if a.model == "agg/x"]
    assert (turn.answer, row.finish_reason, row.warning) == ("half an answer", None, warning)


def test_unknown_providers_and_empty_model_ids_are_exit_2_listing_the_providers(
    groq_server: GroqServer, moa_env: dict[str, str]
) -> None:
    cases = {
        "nope:model": "unknown provider 'nope' in model 'nope:model'",
        "groq:": "model 'groq:' names no model after 'groq:'",
        ":x": "model ':x' names no provider before ':'",
    }
    for model, problem in cases.items():
        code, out, err = ask(moa_env, "-m", model, "-a", "agg/x", "q")
        assert (code, out) == (2, ""), err
        assert err.startswith(f"moa: error: {problem}; use PROVIDER:MODEL with one of: groq, openai,")
        assert "llamacpp" in err and "Traceback" not in err
    assert groq_server.requests == []


def test_a_key_with_a_trailing_newline_and_spaces_works(groq_server: GroqServer, moa_env: dict[str, str]) -> None:
    code, _, err = ask({**moa_env, "GROQ_API_KEY": "  test-key \n"}, *REFS, "q")
    assert code == 0, err
    assert {r.headers["authorization"] for r in groq_server.requests} == {"Bearer test-key"}


def test_a_key_with_non_ascii_or_control_characters_is_exit_2_naming_its_variable(
    groq_server: GroqServer, moa_env: dict[str, str]
) -> None:
    for key in ("gsk_clé", "gsk_a\x07b"):
        code, out, err = ask({**moa_env, "GROQ_API_KEY": key}, *REFS, "q")
        assert (code, out) == (2, "")
        assert err == (
            "moa: error: GROQ_API_KEY holds characters no API key has (non-ASCII or control characters); "
            "set it again\n"
        )
    assert groq_server.requests == []


def test_a_groq_base_url_ending_in_openai_v1_is_understood(
    groq_server: GroqServer, moa_env: dict[str, str]
) -> None:
    groq_server.set("ref/a", Behavior())
    env = {**moa_env, "GROQ_BASE_URL": groq_server.base_url + "/openai/v1/"}
    code, out, err = ask(env, *REFS, "q")
    assert code == 0, err
    assert out.startswith("agg/x answers:")
    proc = run_moa(["models"], env)
    assert proc.returncode == 0, proc.stderr
    assert "ref/a" in proc.stdout.decode()


def test_a_groq_base_url_ending_in_v1_is_explained(groq_server: GroqServer, moa_env: dict[str, str]) -> None:
    code, _, err = ask({**moa_env, "GROQ_BASE_URL": "http://127.0.0.1:9/v1"}, *REFS, "q")
    assert code == 2
    assert err.startswith(
        "moa: error: the Groq base URL http://127.0.0.1:9/v1 ends in /v1, but the groq SDK adds /openai/v1 itself"
    )
    assert "[providers.NAME]" in err


def test_models_on_a_server_without_a_model_list_says_so_not_model_models(
    groq_server: GroqServer, moa_env: dict[str, str], tmp_path: Path
) -> None:
    env = {**moa_env, "GROQ_BASE_URL": groq_server.base_url + "/nothing-here"}
    proc = run_moa(["models"], env)
    text = proc.stdout.decode() + proc.stderr.decode()
    assert "model 'models'" not in text
    assert f"Groq at {groq_server.base_url}/nothing-here did not list its models (404: Unknown request URL" in text


def test_old_databases_gain_the_finish_columns(moa_env: dict[str, str]) -> None:
    with Store.open(env=moa_env) as store:
        columns = {row[1] for row in store._db.execute("PRAGMA table_info(agent_outputs)")}
    assert {"finish_reason", "warning"} <= columns
