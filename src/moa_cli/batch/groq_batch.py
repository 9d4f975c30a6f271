"""``--via groq-batch``: the same rows through Groq's Batch API, one job per layer, then one for the aggregator.

For runs beyond what per-minute limits allow, at a lower price and a slower pace (Groq's window is
up to a day). Each turn of every row goes through ``layers`` reference jobs and one aggregator job;
each job's input is built from the previous job's output, exactly as the engine builds its calls.
The job ids are kept in a sidecar file beside the output (``OUT.groq-batch.json``), written as each
job is created, so an interrupted run picks up the jobs already at Groq instead of paying twice.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from moa_cli.app.providers import key_lookup, key_store, provider_configs
from moa_cli.app.requests import build_request
from moa_cli.batch.output import OutputFile
from moa_cli.batch.progress import BatchProgress
from moa_cli.batch.record import row_record
from moa_cli.batch.rows import Row
from moa_cli.engine import all_failed_message
from moa_cli.errors import MoaError, UsageError
from moa_cli.events import Agent, AgentResult, MoaResult
from moa_cli.prompts import build_messages
from moa_cli.providers.registry import GROQ, split_model
from moa_cli.providers.router import missing_key_message
from moa_cli.providers.sdk import usage_of
from moa_cli.request import Message, MoaRequest
from moa_cli.settings import Settings, record

ENDPOINT = "/v1/chat/completions"
FINISHED = ("completed", "failed", "expired", "cancelled")


class Options(Protocol):
    completion_window: str
    poll_interval: float
    quiet: bool


@dataclass(slots=True)
class RowState:
    """One row on its way through the jobs: its history so far and each turn's result."""

    row: Row
    history: list[Message]
    results: list[MoaResult] = field(default_factory=list)
    request: MoaRequest | None = None
    error: str | None = None

    @property
    def failed(self) -> bool:
        return self.error is not None or any(r.status == "failed" for r in self.results)


class Sidecar:
    """``OUT.groq-batch.json``: which rows and settings the jobs were made for, and each job's id."""

    def __init__(self, out: Path, settings: Settings) -> None:
        self.path = out.with_name(out.name + ".groq-batch.json")
        self.settings = hashlib.sha256(json.dumps(record(settings), sort_keys=True, default=str).encode()).hexdigest()[:16]
        self.data: dict[str, Any] = {}

    def rows(self, rows: Sequence[Row], todo: Sequence[Row]) -> list[Row]:
        """The rows of the run: the interrupted run's (checked against the input), else ``todo``."""
        try:
            self.data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            self.data = {"settings": self.settings, "rows": {r.id: r.digest for r in todo}, "jobs": {}}
            self._save()
            return list(todo)
        except (OSError, ValueError) as exc:
            raise UsageError(f"{self.path}: cannot read: {exc}; delete it to start the Groq batch afresh") from None
        by_id = {row.id: row for row in rows}
        kept = self.data.get("rows", {})
        if self.data.get("settings") != self.settings or any(by_id.get(i) is None or by_id[i].digest != d for i, d in kept.items()):
            raise UsageError(
                f"{self.path} holds Groq batch jobs for other rows or settings; "
                "run with those again, or delete it to start afresh"
            )
        return [by_id[i] for i in kept]

    def job(self, stage: str) -> str | None:
        return self.data["jobs"].get(stage)

    def add_job(self, stage: str, batch_id: str) -> None:
        self.data["jobs"][stage] = batch_id
        self._save()

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)

    def _save(self) -> None:
        temporary = self.path.with_name(self.path.name + ".tmp")
        try:
            temporary.write_text(json.dumps(self.data, indent=1), encoding="utf-8")
            os.replace(temporary, self.path)
        except OSError as exc:
            raise UsageError(f"cannot write {self.path}: {exc.strerror or exc}") from None


class Jobs:
    """Groq's Batch API through the ``groq`` SDK: upload a stage's lines, create its job, wait, fetch."""

    def __init__(self, client: Any, sidecar: Sidecar, options: Options, progress: BatchProgress) -> None:
        self.client = client
        self.sidecar = sidecar
        self.options = options
        self.progress = progress

    def run(self, stage: str, lines: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        """Each line's result by ``custom_id``: ``{"response": {...}}`` or ``{"error": ...}``."""
        import groq

        try:
            batch_id = self.sidecar.job(stage) or self._create(stage, lines)
            batch = self._wait(stage, batch_id)
            results: dict[str, dict[str, Any]] = {}
            for file_id in (batch.error_file_id, batch.output_file_id):
                if file_id:
                    for line in self.client.files.content(file_id).text().splitlines():
                        if line.strip():
                            entry = json.loads(line)
                            results[entry.get("custom_id")] = entry
        except groq.APIError as exc:
            raise MoaError(f"Groq Batch API: {exc.message}") from None
        except groq.APIConnectionError as exc:
            raise MoaError(f"Groq Batch API: cannot connect: {exc}") from None
        if batch.status != "completed":
            self.progress.note(f"Groq batch {batch_id} ({stage}) ended {batch.status}; its unanswered requests fail")
        return results

    def _create(self, stage: str, lines: list[dict[str, Any]]) -> str:
        data = "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines).encode()
        upload = self.client.files.create(file=(f"moa-{stage}.jsonl", data), purpose="batch")
        with _signals_held():  # a job created is paid for: its id must reach the sidecar
            batch = self.client.batches.create(
                input_file_id=upload.id, endpoint=ENDPOINT, completion_window=self.options.completion_window
            )
            self.sidecar.add_job(stage, batch.id)
        return batch.id

    def _wait(self, stage: str, batch_id: str) -> Any:
        while True:
            batch = self.client.batches.retrieve(batch_id)
            counts = batch.request_counts
            done = f"{counts.completed + counts.failed}/{counts.total}" if counts else "?"
            self.progress.note(f"Groq batch {stage}: {batch.status}, {done} requests", live=True)
            if batch.status in FINISHED:
                return batch
            time.sleep(self.options.poll_interval)  # Groq's jobs take minutes to hours: ask now and then


@contextmanager
def _signals_held() -> Iterator[None]:
    """Hold Ctrl-C (and SIGTERM) until the block is done, then act on it."""
    received: list[int] = []
    held = (signal.SIGINT, signal.SIGTERM)
    previous = {signum: signal.signal(signum, lambda signum, _: received.append(signum)) for signum in held}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if received:
            signal.raise_signal(received[0])


@contextmanager
def interrupts_kept() -> Iterator[None]:
    """Ctrl-C stops the run as KeyboardInterrupt, even when it lands inside library code that turns
    what it catches into an error of its own (pydantic building a response model: SchemaError)."""
    received: list[int] = []

    def interrupt(signum: int, frame: object) -> None:
        received.append(signum)
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, interrupt)
    try:
        yield
    except Exception:
        if received:
            raise KeyboardInterrupt from None
        raise
    finally:
        signal.signal(signal.SIGINT, previous)


@interrupts_kept()
def run_groq_batch(
    rows: Sequence[Row], todo: Sequence[Row], settings: Settings, out: OutputFile, progress: BatchProgress, options: Options
) -> None:
    """Run ``todo`` (or the interrupted run's rows) through Groq's Batch API, writing each row when done."""
    import groq

    configs = provider_configs(settings)
    specs = [*settings.references, settings.aggregator]
    others = [spec.model for spec in specs if split_model(spec.model, configs)[0] != GROQ]
    if others:
        raise UsageError(f"--via groq-batch runs Groq's models only, not {', '.join(others)}")
    key = key_lookup(key_store())(configs[GROQ])
    if not key:
        raise UsageError(missing_key_message(configs[GROQ]))
    client = groq.Groq(api_key=key, base_url=configs[GROQ].base_url, max_retries=3)
    sidecar = Sidecar(out.path, settings)
    states = [RowState(row, list(row.history)) for row in sidecar.rows(rows, todo)]
    jobs = Jobs(client, sidecar, options, progress)
    pending = {row.id for row in todo}
    for turn in range(max(len(s.row.turns) for s in states)):
        asking = [s for s in states if len(s.row.turns) > turn and not s.failed]
        for state in asking:
            _prepare(state, settings, turn)
        prepared = [s for s in asking if not s.failed]
        answers: dict[str, list[str]] = {s.row.id: [] for s in prepared}
        for layer in range(1, settings.layers + 1):
            live = [(i, s) for i, s in enumerate(prepared) if s.results[-1].status == "running"]
            lines = [line for i, s in live for line in _reference_lines(s, i, layer, answers[s.row.id], configs)]
            results = jobs.run(f"turn{turn + 1}-layer{layer}", lines) if lines else {}
            for i, state in live:
                answers[state.row.id] = _take_layer(state, i, layer, results)
        live = [(i, s) for i, s in enumerate(prepared) if s.results[-1].status == "running"]
        lines = [_line(f"{i}-aggregator", s.request.aggregator, s, answers[s.row.id], configs) for i, s in live]  # type: ignore[union-attr]
        results = jobs.run(f"turn{turn + 1}-aggregator", lines) if lines else {}
        for i, state in live:
            _take_aggregator(state, i, results)
        for state in asking:
            if state.failed or len(state.row.turns) == turn + 1:
                _finish(state, out, progress, pending)
    sidecar.remove()


def _prepare(state: RowState, settings: Settings, turn: int) -> None:
    """The turn's request (history fitted as the engine's); a question that cannot fit fails the row."""
    question = state.row.turns[turn]
    if state.row.system is not None:
        settings = replace(settings, system=state.row.system)
    try:
        state.request, _ = build_request(settings, question, state.history)
    except UsageError as exc:  # a question too long for the context window
        state.request, state.error = None, str(exc)
        return
    state.results.append(MoaResult(question=question, status="running"))


def _line(custom_id: str, spec: Any, state: RowState, answers: list[str], configs: Any, sample: int | None = None) -> dict[str, Any]:
    request = state.request
    assert request is not None
    temperature, max_tokens, system = request.settings_for(spec)
    body: dict[str, Any] = {
        "model": spec.model,
        "messages": [m.as_dict() for m in build_messages(request.question, request.history, system, answers)],
        "temperature": temperature,
        configs[GROQ].max_tokens_field: max_tokens,
    }
    if sample is not None and request.samples > 1:
        body["temperature"] = request.sample_temperature(temperature, sample)
        body["seed"] = int(hashlib.sha256(state.row.id.encode()).hexdigest()[:7], 16) + sample
    return {"custom_id": custom_id, "method": "POST", "url": ENDPOINT, "body": body}


def _reference_lines(state: RowState, index: int, layer: int, previous: list[str], configs: Any) -> list[dict[str, Any]]:
    request = state.request
    assert request is not None
    panel = [(spec, sample) for spec in request.references for sample in range(request.samples)]
    return [_line(f"{index}-{layer}-{n}", spec, state, previous, configs, sample) for n, (spec, sample) in enumerate(panel)]


def _agent_result(agent: Agent, entry: dict[str, Any] | None) -> AgentResult:
    """What one line of a job's output says about one agent's answer."""
    result = AgentResult(agent, status="failed")
    response = (entry or {}).get("response") or {}
    body = response.get("body") or {}
    if response.get("status_code") == 200 and body.get("choices"):
        message = body["choices"][0].get("message") or {}
        result.text_parts.append(message.get("content") or "")
        if message.get("reasoning"):
            result.reasoning_parts.append(message["reasoning"])
        result.usage = usage_of(body.get("usage") or {})
        result.status = "done"
    else:
        error = body.get("error") if isinstance(body.get("error"), dict) else (entry or {}).get("error") or {}
        detail = error.get("message") if isinstance(error, dict) else None
        result.error = f"{agent.model}: {detail or 'no answer in the Groq batch output'}"
        result.error_kind = "server"
    return result


def _take_layer(state: RowState, index: int, layer: int, results: dict[str, dict[str, Any]]) -> list[str]:
    request, turn = state.request, state.results[-1]
    assert request is not None
    panel = [(spec, sample) for spec in request.references for sample in range(request.samples)]
    layer_results = [
        _agent_result(Agent("reference", layer, n, spec.model, sample), results.get(f"{index}-{layer}-{n}"))
        for n, (spec, sample) in enumerate(panel)
    ]
    turn.references.extend(layer_results)
    answers = [r.text for r in layer_results if r.ok]
    if not answers:
        turn.status, turn.error = "failed", all_failed_message(layer_results)
    return answers


def _take_aggregator(state: RowState, index: int, results: dict[str, dict[str, Any]]) -> None:
    request, turn = state.request, state.results[-1]
    assert request is not None
    turn.aggregator = _agent_result(Agent("aggregator", request.layers + 1, 0, request.aggregator.model), results.get(f"{index}-aggregator"))
    if turn.aggregator.ok:
        turn.status = "complete"
        state.history += [Message("user", turn.question), Message("assistant", turn.answer)]
    else:
        turn.status, turn.error = "failed", turn.aggregator.error


def _finish(state: RowState, out: OutputFile, progress: BatchProgress, pending: set[str]) -> None:
    if state.row.id not in pending:  # written by the run that was interrupted
        return
    line = row_record(state.row, state.results, state.error)
    out.append(line)
    pending.discard(state.row.id)
    progress.row_done(line["status"] == "ok", line["usage"]["total_tokens"])
