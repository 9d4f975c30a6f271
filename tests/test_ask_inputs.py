"""What goes into `moa ask`: files (-f), roles (--role), and how a session is picked and titled."""

from __future__ import annotations

from pathlib import Path

from conftest import run_moa
from groq_server import GroqServer

from moa_cli.store import Store

REFS = ["-m", "ref/a", "-m", "ref/b", "-a", "agg/x"]


def last_user_message(server: GroqServer) -> str:
    return server.requests_for("ref/a")[-1].messages[-1]["content"]


def write_config(tmp_path: Path, env: dict[str, str], text: str) -> None:
    config = tmp_path / "moa.toml"
    config.write_text(text)
    env["MOA_CONFIG"] = str(config)


def test_files_go_before_the_question_each_labelled_with_its_path(
    groq_server: GroqServer, moa_env: dict[str, str], tmp_path: Path
) -> None:
    (tmp_path / "a.py").write_text("print('a')\n")
    (tmp_path / "b.py").write_text("print('b')\n")
    (tmp_path / "notes.md").write_text("# Notes\n")
    proc = run_moa(["ask", *REFS, "-f", str(tmp_path / "notes.md"), "-f", str(tmp_path / "*.py"), "Explain"], moa_env)
    assert proc.returncode == 0, proc.stderr
    assert last_user_message(groq_server) == (
        f'<file path="{tmp_path}/notes.md">\n# Notes\n</file>\n\n'
        f'<file path="{tmp_path}/a.py">\nprint(\'a\')\n</file>\n\n'
        f'<file path="{tmp_path}/b.py">\nprint(\'b\')\n</file>\n\n'
        "Explain"
    )


def test_a_file_and_piped_stdin_both_come_before_the_question(
    groq_server: GroqServer, moa_env: dict[str, str], tmp_path: Path
) -> None:
    (tmp_path / "a.txt").write_text("file text")
    proc = run_moa(["ask", *REFS, "-f", str(tmp_path / "a.txt"), "Compare"], moa_env, stdin=b"piped text\n")
    assert proc.returncode == 0, proc.stderr
    assert last_user_message(groq_server) == f'<file path="{tmp_path}/a.txt">\nfile text\n</file>\n\npiped text\n\nCompare'


def test_a_binary_file_is_refused_in_one_line_before_any_request(
    groq_server: GroqServer, moa_env: dict[str, str], tmp_path: Path
) -> None:
    (tmp_path / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    proc = run_moa(["ask", *REFS, "-f", str(tmp_path / "image.png"), "What is it?"], moa_env)
    assert proc.returncode == 2
    assert proc.stderr.decode() == f"moa: error: {tmp_path}/image.png is a binary file; only text files can be attached\n"
    assert groq_server.requests == []


def test_a_missing_file_and_a_glob_matching_nothing_are_named(
    groq_server: GroqServer, moa_env: dict[str, str], tmp_path: Path
) -> None:
    missing = run_moa(["ask", "-f", str(tmp_path / "nope.txt"), "q"], moa_env)
    assert missing.stderr.decode() == f"moa: error: no such file: {tmp_path}/nope.txt\n"
    nothing = run_moa(["ask", "-f", str(tmp_path / "*.rs"), "q"], moa_env)
    assert nothing.returncode == 2
    assert nothing.stderr.decode() == f"moa: error: no file matches '{tmp_path}/*.rs'\n"


def test_files_too_large_for_the_context_are_refused_naming_the_largest(
    groq_server: GroqServer, moa_env: dict[str, str], tmp_path: Path
) -> None:
    (tmp_path / "big.txt").write_text("word " * 150_000)
    (tmp_path / "small.txt").write_text("tiny")
    proc = run_moa(["ask", *REFS, "-f", str(tmp_path / "small.txt"), "-f", str(tmp_path / "big.txt"), "q"], moa_env)
    assert proc.returncode == 2
    stderr = proc.stderr.decode()
    assert stderr.startswith("moa: error: the files are about 250,003 tokens (") and "big.txt: 250,001)" in stderr
    assert stderr.count("\n") == 1
    assert groq_server.requests == []


def test_a_role_sets_the_system_prompt_the_template_and_the_models(
    groq_server: GroqServer, moa_env: dict[str, str], tmp_path: Path
) -> None:
    write_config(
        tmp_path,
        moa_env,
        '[roles.reviewer]\nsystem = "You review code."\nprompt = "Review this: {input}"\n'
        'models = ["ref/a", "ref/b"]\naggregator = "agg/x"\n',
    )
    proc = run_moa(["ask", "--role", "reviewer", "x = {1}"], moa_env)
    assert proc.returncode == 0, proc.stderr
    assert sorted(r.model for r in groq_server.requests) == ["agg/x", "ref/a", "ref/b"]
    assert groq_server.requests_for("ref/a")[0].messages == [
        {"role": "system", "content": "You review code."},
        {"role": "user", "content": "Review this: x = {1}"},
    ]


def test_a_role_may_use_a_preset_and_flags_still_win(
    groq_server: GroqServer, moa_env: dict[str, str], tmp_path: Path
) -> None:
    write_config(
        tmp_path,
        moa_env,
        '[presets.duo]\nreferences = ["ref/a", "ref/b"]\naggregator = "agg/x"\ntemperature = 0.2\n'
        '[roles.terse]\nsystem = "Be terse."\npreset = "duo"\n',
    )
    proc = run_moa(["ask", "-r", "terse", "-t", "0.5", "q"], moa_env)
    assert proc.returncode == 0, proc.stderr
    assert sorted(r.model for r in groq_server.requests) == ["agg/x", "ref/a", "ref/b"]
    assert {r.body["temperature"] for r in groq_server.requests} == {0.5}
    assert groq_server.requests_for("ref/b")[0].messages[0] == {"role": "system", "content": "Be terse."}


def test_an_unknown_role_lists_the_roles_there_are(
    groq_server: GroqServer, moa_env: dict[str, str], tmp_path: Path
) -> None:
    write_config(tmp_path, moa_env, '[roles.a]\nsystem = "A"\n[roles.b]\nsystem = "B"\n')
    proc = run_moa(["ask", "--role", "c", "q"], moa_env)
    assert proc.returncode == 2
    assert proc.stderr.decode() == "moa: error: unknown role 'c'; roles: a, b\n"


def test_a_role_template_without_input_is_a_config_error_naming_the_key(
    groq_server: GroqServer, moa_env: dict[str, str], tmp_path: Path
) -> None:
    write_config(tmp_path, moa_env, '[roles.bad]\nprompt = "Summarise"\n')
    proc = run_moa(["ask", "q"], moa_env)
    assert proc.returncode == 2
    stderr = proc.stderr.decode()
    assert stderr.startswith(f"moa: error: {tmp_path}/moa.toml:2: ") and "roles.bad.prompt" in stderr
    assert "{input}" in stderr


def test_continue_with_no_session_yet_starts_one(groq_server: GroqServer, moa_env: dict[str, str]) -> None:
    proc = run_moa(["ask", *REFS, "-c", "First ever"], moa_env)
    assert proc.returncode == 0, proc.stderr
    with Store.open(env=moa_env) as store:
        (session,) = store.list_sessions()
        assert session.title == "First ever" and session.turns == 1


def test_continue_and_session_together_are_refused(groq_server: GroqServer, moa_env: dict[str, str]) -> None:
    proc = run_moa(["ask", *REFS, "--session", "work", "-c", "q"], moa_env)
    assert proc.returncode == 2
    assert "--continue and --session contradict each other" in proc.stderr.decode()
    assert groq_server.requests == []


def test_piped_input_session_is_titled_by_the_question(groq_server: GroqServer, moa_env: dict[str, str]) -> None:
    proc = run_moa(["ask", *REFS, "Write a commit message"], moa_env, stdin=b"diff --git a/x b/x\n+line\n")
    assert proc.returncode == 0, proc.stderr
    listing = run_moa(["sessions"], moa_env).stdout.decode()
    assert "Write a commit message" in listing and "diff --git" not in listing


def test_huge_max_tokens_names_the_answers_as_the_cause(groq_server: GroqServer, moa_env: dict[str, str]) -> None:
    proc = run_moa(["ask", *REFS, "--max-tokens", "99999999", "q"], moa_env)
    assert proc.returncode == 2
    assert proc.stderr.decode() == (
        "moa: error: the answers alone need 299,999,997 tokens (2 reference answers and the aggregator's, "
        "up to 99,999,999 tokens each), more than the models' context of 131,072 tokens; "
        "lower --max-tokens or use fewer references\n"
    )


def test_verbose_after_the_command_logs_requests(groq_server: GroqServer, moa_env: dict[str, str]) -> None:
    proc = run_moa(["ask", "-v", *REFS, "q"], moa_env)
    assert proc.returncode == 0, proc.stderr
    assert "POST" in proc.stderr.decode() and "test-key" not in proc.stderr.decode()
