"""`moa batch`: a data set through the mixture, one line per row, resumable, on the local server."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import procs
import pytest
from conftest import run_moa
from groq_server import Behavior, GroqServer
from test_reliability import read_to_end, spawn_pty

from moa_cli.batch.groq_batch import interrupts_kept

MODELS = ["-m", "ref/a", "-m", "ref/b", "-a", "agg/m", "--max-tokens", "64"]


def mt_bench(path: Path, questions: int = 80) -> Path:
    """MT-Bench's shape: a question_id, a category and two user turns."""
    lines = [
        {"question_id": 81 + n, "category": "writing", "turns": [f"First question {n}?", f"Follow-up {n}?"]}
        for n in range(questions)
    ]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    return path


def records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def wait_for_lines(path: Path, count: int, deadline: float = 30.0) -> None:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if path.exists() and path.read_text(encoding="utf-8").count("\n") >= count:
            return
        time.sleep(0.01)
    raise TimeoutError(f"{path} did not reach {count} lines")


def _before_question(messages: list[dict[str, str]]) -> list[dict[str, str]]:
    """The two messages before the last user message (the aggregator's answers come after it)."""
    last = max(i for i, m in enumerate(messages) if m["role"] == "user")
    return messages[last - 2 : last]


def test_mt_bench_interrupted_half_way_resumes_to_one_row_per_question(
    groq_server: GroqServer, moa_env: dict[str, str], tmp_path: Path
) -> None:
    groq_server.set("*", Behavior(first_token_delay=0.01))  # a row takes 40 ms at least: time to stop half way
    source, out = mt_bench(tmp_path / "mt.jsonl"), tmp_path / "answers.jsonl"
    args = ["batch", str(source), "-o", str(out), "--concurrency", "8", *MODELS]
    first = procs.popen(args, moa_env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    wait_for_lines(out, 40)
    first.send_signal(signal.SIGINT)
    _, err = first.communicate(timeout=30)
    assert first.returncode == 130, err
    assert b"run the same command again" in err and b"Traceback" not in err
    kept = records(out)
    assert 40 <= len(kept) < 80

    second = run_moa(["batch", str(source), "-o", str(out), "--concurrency", "8", *MODELS], moa_env)
    assert second.returncode == 0, second.stderr
    assert f"{len(kept)} rows done, {80 - len(kept)} to run".encode() in second.stderr
    done = records(out)
    assert sorted(r["id"] for r in done) == sorted(str(81 + n) for n in range(80))
    assert done[: len(kept)] == kept  # what the first run finished is kept as it was
    assert {r["status"] for r in done} == {"ok"}
    for record in done:
        first_turn, second_turn = record["turns"]
        assert record["answer"] == second_turn["answer"] == f"agg/m answers: {second_turn['question']}"
        history = [{"role": "user", "content": first_turn["question"]},
                   {"role": "assistant", "content": first_turn["answer"]}]
        asked = [r for r in groq_server.requests if r.last_user_message == second_turn["question"]]
        assert len(asked) >= 3 and all(_before_question(r.messages) == history for r in asked)
    finished_first = {r["turns"][1]["question"] for r in kept}
    for question in finished_first:  # a row finished before Ctrl-C is not asked again
        assert len([r for r in groq_server.requests if r.last_user_message == question]) == 3


def test_each_turn_records_every_reference_answer_usage_and_timing(
    groq_server: GroqServer, moa_env: dict[str, str], tmp_path: Path
) -> None:
    source, out = tmp_path / "q.jsonl", tmp_path / "out.jsonl"
    source.write_text('{"id": "x1", "prompt": "Why is the sky blue?"}\n', encoding="utf-8")
    result = run_moa(["batch", str(source), "-o", str(out), *MODELS], moa_env)
    assert result.returncode == 0, result.stderr
    (record,) = records(out)
    assert record["id"] == "x1" and record["status"] == "ok" and record["cost"] is None  # ref/a has no known price
    (turn,) = record["turns"]
    assert [r["answer"] for r in turn["references"]] == [
        "ref/a answers: Why is the sky blue?", "ref/b answers: Why is the sky blue?"
    ]
    assert turn["usage"]["total_tokens"] > 0 and turn["elapsed"] > 0 and turn["cost"] is None
    assert all(r["timing"]["elapsed"] is not None for r in turn["references"])


def test_a_row_asked_of_priced_models_records_each_turns_cost_and_the_rows(
    groq_server: GroqServer, moa_env: dict[str, str], tmp_path: Path
) -> None:
    source, out = tmp_path / "q.jsonl", tmp_path / "out.jsonl"
    source.write_text('{"id": "p1", "turns": ["One?", "Two?"]}\n', encoding="utf-8")
    priced = ["-m", "openai/gpt-oss-20b", "-a", "openai/gpt-oss-120b", "--max-tokens", "64"]
    assert run_moa(["batch", str(source), "-o", str(out), *priced], moa_env).returncode == 0
    (record,) = records(out)
    costs = [turn["cost"] for turn in record["turns"]]
    assert all(cost > 0 for cost in costs)
    assert record["cost"] == round(sum(costs), 6)


def test_a_failed_row_is_recorded_and_runs_again_on_resume(
    groq_server: GroqServer, moa_env: dict[str, str], tmp_path: Path
) -> None:
    groq_server.set("agg/m", Behavior(status=400, fail_times=1))  # the first aggregation fails, once
    source, out = tmp_path / "q.txt", tmp_path / "out.jsonl"
    source.write_text("One?\nTwo?\n", encoding="utf-8")
    args = ["batch", str(source), "-o", str(out), "--concurrency", "1", *MODELS]
    first = run_moa(args, moa_env)
    assert first.returncode == 1, first.stderr
    assert b"1 failed" in first.stderr
    statuses = {r["id"]: (r["status"], r["error"]) for r in records(out)}
    assert statuses["1"][0] == "failed" and "Bad request" in statuses["1"][1]
    assert statuses["2"] == ("ok", None)

    second = run_moa(args, moa_env)
    assert second.returncode == 0, second.stderr
    assert sorted((r["id"], r["status"]) for r in records(out)) == [("1", "ok"), ("2", "ok")]


def test_csv_rows_are_read_with_the_field_named(groq_server: GroqServer, moa_env: dict[str, str], tmp_path: Path) -> None:
    source, out = tmp_path / "q.csv", tmp_path / "out.jsonl"
    source.write_text('custom_id,text\na,"Hello, world?"\nb,Bye?\n', encoding="utf-8")
    result = run_moa(["batch", str(source), "-o", str(out), "--field", "text", *MODELS], moa_env)
    assert result.returncode == 0, result.stderr
    assert {r["id"]: r["turns"][0]["question"] for r in records(out)} == {"a": "Hello, world?", "b": "Bye?"}


def test_a_messages_row_is_asked_with_its_conversation_as_history(
    groq_server: GroqServer, moa_env: dict[str, str], tmp_path: Path
) -> None:
    source, out = tmp_path / "q.jsonl", tmp_path / "out.jsonl"
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Hello!"}, {"role": "user", "content": "Name a colour."}]
    source.write_text(json.dumps({"messages": messages}) + "\n", encoding="utf-8")
    assert run_moa(["batch", str(source), "-o", str(out), *MODELS], moa_env).returncode == 0
    (reference, *_) = groq_server.requests_for("ref/a")
    assert reference.messages == messages


def test_a_row_without_a_question_is_one_error_line_naming_it(
    groq_server: GroqServer, moa_env: dict[str, str], tmp_path: Path
) -> None:
    source = tmp_path / "q.jsonl"
    source.write_text('{"prompt": "ok?"}\n{"text": "where?"}\n', encoding="utf-8")
    result = run_moa(["batch", str(source), "-o", str(tmp_path / "out.jsonl"), *MODELS], moa_env)
    assert result.returncode == 2
    assert result.stderr.decode().splitlines() == [
        f"moa: error: {source}:2: no question found (looked for prompt, question, instruction, turns, "
        "messages; it has: text); name the field with --field"
    ]
    assert groq_server.requests == []


def test_progress_on_a_pipe_is_only_the_summary(groq_server: GroqServer, moa_env: dict[str, str], tmp_path: Path) -> None:
    source, out = tmp_path / "q.txt", tmp_path / "out.jsonl"
    source.write_text("One?\nTwo?\nThree?\n", encoding="utf-8")
    result = run_moa(["batch", str(source), "-o", str(out), *MODELS], moa_env)
    lines = result.stderr.decode().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"moa: wrote {out}: 3 of 3 rows in ")
    assert "rows/min" in lines[0] and "tokens" in lines[0]


def test_progress_on_a_terminal_is_one_line_of_rows_rate_eta_and_tokens(
    groq_server: GroqServer, moa_env: dict[str, str], tmp_path: Path
) -> None:
    source, out = tmp_path / "q.txt", tmp_path / "out.jsonl"
    source.write_text("".join(f"Question {n}?\n" for n in range(6)), encoding="utf-8")
    child = spawn_pty(["batch", str(source), "-o", str(out), "--concurrency", "1", *MODELS], moa_env)
    child.expect(rb"moa: batch 1/6 rows \S+ [\d,]+ rows/min \S+ [\d.]+s left \S+ [\d,]+ tokens")
    output = read_to_end(child)
    assert child.exitstatus == 0, output
    assert b"moa: wrote " in output and b"6 of 6 rows" in output


def test_batch_rows_are_not_stored_as_sessions_unless_asked(
    groq_server: GroqServer, moa_env: dict[str, str], tmp_path: Path
) -> None:
    source = tmp_path / "q.txt"
    source.write_text("One?\nTwo?\n", encoding="utf-8")
    run_moa(["batch", str(source), "-o", str(tmp_path / "a.jsonl"), *MODELS], moa_env)
    assert json.loads(run_moa(["sessions", "--json"], moa_env).stdout) == []
    run_moa(["batch", str(source), "-o", str(tmp_path / "b.jsonl"), "--store", *MODELS], moa_env)
    assert len(json.loads(run_moa(["sessions", "--json"], moa_env).stdout)) == 2


# --- --via groq-batch ----------------------------------------------------------------------------


def test_groq_batch_runs_a_job_per_layer_then_one_for_the_aggregator(
    groq_server: GroqServer, moa_env: dict[str, str], tmp_path: Path
) -> None:
    source, out = mt_bench(tmp_path / "mt.jsonl", questions=5), tmp_path / "out.jsonl"
    args = ["batch", str(source), "-o", str(out), "--via", "groq-batch", "--poll-interval", "0.01", "--layers", "2"]
    result = run_moa([*args, *MODELS], moa_env)
    assert result.returncode == 0, result.stderr
    done = records(out)
    assert [r["answer"] for r in done] == [f"agg/m answers: Follow-up {n}?" for n in range(5)]
    jobs = list(groq_server.batch_api.inputs.values())
    assert len(jobs) == 6  # two turns, each: layer 1, layer 2, the aggregator
    assert all(line["method"] == "POST" and line["url"] == "/v1/chat/completions" for job in jobs for line in job)
    assert [{line["body"]["model"] for line in job} for job in jobs[:3]] == [{"ref/a", "ref/b"}, {"ref/a", "ref/b"}, {"agg/m"}]
    second_turn = jobs[3][0]["body"]["messages"]
    assert second_turn[-3:] == [
        {"role": "user", "content": "First question 0?"},
        {"role": "assistant", "content": "agg/m answers: First question 0?"},
        {"role": "user", "content": "Follow-up 0?"},
    ]
    assert not (tmp_path / "out.jsonl.groq-batch.json").exists()  # the jobs' ids are kept only while needed


def test_an_interrupted_groq_batch_run_picks_up_the_jobs_it_started(
    groq_server: GroqServer, moa_env: dict[str, str], tmp_path: Path
) -> None:
    groq_server.batch_api.hold()  # jobs stay in progress until released
    source, out = tmp_path / "q.txt", tmp_path / "out.jsonl"
    source.write_text("One?\nTwo?\n", encoding="utf-8")
    args = ["batch", str(source), "-o", str(out), "--via", "groq-batch", "--poll-interval", "0.01", *MODELS]
    first = procs.popen(args, moa_env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    sidecar_path = tmp_path / "out.jsonl.groq-batch.json"
    end = time.monotonic() + 30
    while '"turn1-layer1"' not in (sidecar_path.read_text(encoding="utf-8") if sidecar_path.exists() else ""):
        assert time.monotonic() < end, "the first job was never created"
        time.sleep(0.01)
    (started,) = groq_server.batch_api.batches
    first.send_signal(signal.SIGINT)
    _, err = first.communicate(timeout=30)
    assert first.returncode == 130, err
    assert b"Traceback" not in err
    sidecar = json.loads(sidecar_path.read_text(encoding="utf-8"))
    assert sidecar["jobs"] == {"turn1-layer1": started}

    groq_server.batch_api.release()
    second = run_moa(args, moa_env)
    assert second.returncode == 0, second.stderr
    assert len(groq_server.batch_api.batches) == 2  # the references' job was not started twice
    assert [r["answer"] for r in records(out)] == ["agg/m answers: One?", "agg/m answers: Two?"]


def test_ctrl_c_inside_a_library_that_wraps_it_in_its_own_error_still_stops_a_groq_batch_run() -> None:
    """Seen once in CI: a Ctrl-C while pydantic built a response model came out as SchemaError."""
    before = signal.getsignal(signal.SIGINT)

    @interrupts_kept()
    def poll() -> None:
        try:
            signal.raise_signal(signal.SIGINT)
        except BaseException:  # as pydantic-core does while it builds a schema
            raise ValueError("Error building `literal` serializer") from None

    with pytest.raises(KeyboardInterrupt):
        poll()
    assert signal.getsignal(signal.SIGINT) is before
