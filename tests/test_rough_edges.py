"""The rough edges a newcomer hit, each as it was reproduced, now fixed: through the real CLI."""

from __future__ import annotations

from pathlib import Path

import pexpect
import procs
from conftest import run_moa
from groq_server import Behavior, GroqServer
from test_ask_terminal import read_all, visible
from test_chat_repl import PROMPT, REFS, leave, say, spawn_chat


def spawn_ask(args: list[str], env: dict[str, str], columns: int = 120) -> pexpect.spawn:
    env = {**env, "TERM": "xterm-256color", "COLUMNS": str(columns)}
    return procs.spawn(["ask", *args], env, dimensions=(40, columns), timeout=15)


def test_a_failing_references_line_is_printed_once(groq_server: GroqServer, moa_env: dict[str, str]) -> None:
    groq_server.set("ref/a", Behavior(status=400, error_message="bad request"))
    proc = run_moa(["ask", "-m", "ref/a", "-a", "agg/x", "q"], moa_env)
    assert proc.returncode == 1
    lines = proc.stderr.decode().splitlines()
    assert lines == ["moa: error: ref/a: request refused (400: bad request)"]


def test_a_failing_reference_is_still_warned_about_when_the_others_answer(
    groq_server: GroqServer, moa_env: dict[str, str]
) -> None:
    groq_server.set("ref/b", Behavior(status=400, error_message="bad request"))
    proc = run_moa(["ask", *REFS, "q"], moa_env)
    assert proc.returncode == 0
    assert proc.stderr.decode().count("moa: warning: ref/b: request refused") == 1


def test_the_terminal_summary_names_a_failed_model_once(groq_server: GroqServer, moa_env: dict[str, str]) -> None:
    groq_server.set("ref/b", Behavior(status=400, error_message="bad request"))
    shown = visible(read_all(spawn_ask([*REFS, "q"], moa_env)))
    (line,) = [line for line in shown.splitlines() if "✗ ref/b" in line]
    assert line.count("ref/b") == 1


def test_usage_errors_are_one_line_and_a_dash_question_hints_at_double_dash(moa_env: dict[str, str]) -> None:
    proc = run_moa(["ask", "-1"], moa_env)
    assert proc.returncode == 2
    assert proc.stderr.decode() == (
        "moa: error: no such option: -1; a question starting with '-' goes after --: "
        "moa ask -- \"-1 ...\" (see 'moa ask -h')\n"
    )
    assert run_moa(["ask", *REFS, "--", "-1 is odd?"], moa_env).returncode == 0


def test_a_bad_number_says_so_in_words(moa_env: dict[str, str]) -> None:
    proc = run_moa(["sessions", "-n", "abc"], moa_env)
    assert proc.returncode == 2
    assert proc.stderr.decode() == (
        "moa: error: invalid value for '-n' / '--limit': 'abc' is not a whole number (see 'moa sessions -h')\n"
    )
    temperature = run_moa(["ask", "-t", "warm", "q"], moa_env)
    assert "'warm' is not a number" in temperature.stderr.decode()
    assert "<int range>" not in run_moa(["sessions", "-h"], moa_env).stdout.decode()


def test_the_same_model_twice_is_refused_pointing_at_samples(moa_env: dict[str, str]) -> None:
    proc = run_moa(["ask", "-m", "ref/a", "-m", "ref/a", "q"], moa_env)
    assert proc.returncode == 2
    assert "repeats ref/a; for several answers from one model use samples (--samples N)" in proc.stderr.decode()


def test_moa_home_naming_a_file_says_it_is_not_a_directory(moa_env: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("")
    proc = run_moa(["sessions"], {**moa_env, "MOA_HOME": str(tmp_path / "afile")})
    assert proc.returncode == 1
    assert proc.stderr.decode().rstrip().endswith(f"{tmp_path}/afile is not a directory")


def test_ref_timeout_zero_on_the_command_line_lifts_a_presets_timeout(
    groq_server: GroqServer, moa_env: dict[str, str], tmp_path: Path
) -> None:
    (tmp_path / "moa.toml").write_text('[presets.quick]\nref_timeout = 0.2\n')
    moa_env["MOA_CONFIG"] = str(tmp_path / "moa.toml")
    groq_server.set("ref/b", Behavior(first_token_delay=0.6))
    proc = run_moa(["ask", *REFS, "--preset", "quick", "--ref-timeout", "0", "q"], moa_env)
    assert proc.returncode == 0, proc.stderr
    assert "ref/b answers: q" in groq_server.requests_for("agg/x")[0].messages[-1]["content"]  # the answers come last


def test_sixty_four_references_name_the_answers_room_as_the_cause(moa_env: dict[str, str]) -> None:
    models = [arg for i in range(64) for arg in ("-m", f"ref/m{i}")]
    proc = run_moa(["ask", *models, "q"], moa_env)
    assert proc.returncode == 2
    assert proc.stderr.decode().startswith("moa: error: the answers alone need 133,120 tokens (64 reference answers")


TABLE_WORD = "supercalifragilisticexpialidociousandmore"
TABLE_ANSWER = f"Intro.\n\n| name | value |\n|---|---|\n| key | {TABLE_WORD} |\n\nAfter.\n"


def test_a_table_with_a_long_word_wraps_it_instead_of_cutting_it(
    groq_server: GroqServer, moa_env: dict[str, str]
) -> None:
    groq_server.set("agg/x", Behavior(text=TABLE_ANSWER))
    shown = visible(read_all(spawn_ask([*REFS, "q"], moa_env, columns=40)))
    assert "key   supercalifragilisticexpialidocious\r\n      andmore" in shown
    assert "…" not in shown


def test_a_table_has_one_blank_line_before_it_in_sessions_show(
    groq_server: GroqServer, moa_env: dict[str, str]
) -> None:
    groq_server.set("agg/x", Behavior(text=TABLE_ANSWER))
    run_moa(["ask", *REFS, "q"], moa_env)
    child = procs.spawn(["sessions", "show"], {**moa_env, "COLUMNS": "40"}, dimensions=(40, 40))
    lines = [line.rstrip() for line in visible(read_all(child)).split("\r\n")]
    table = lines.index("name  value")
    assert lines[table - 2 : table] == ["Intro.", ""]
    assert lines[table + 2 : table + 4] == ["key   supercalifragilisticexpialidocious", "      andmore"]


def test_interrupting_before_any_answer_does_not_claim_a_partial_answer(
    groq_server: GroqServer, moa_env: dict[str, str]
) -> None:
    groq_server.set("ref/a", Behavior(hang=True))
    child = spawn_chat(REFS, moa_env)
    child.send("q\r")
    child.expect("ref/a")
    child.sendintr()
    child.expect_exact("interrupted; before any answer arrived; the question is kept")
    child.expect_exact(PROMPT)
    assert "(interrupted, no answer)" in say(child, "/history", until="1 turn")  # kept in the list
    leave(child)
