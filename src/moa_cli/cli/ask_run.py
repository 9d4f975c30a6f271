"""Runs ``moa ask``: read the question, resolve settings, stream one answer, store the turn."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING

from moa_cli.cli.inputs import piped_stdin, read_question
from moa_cli.cli.options import ModelFlags
from moa_cli.cli.turns import (
    EXIT_FAILED,
    EXIT_OK,
    Interrupted,
    build_request,
    drive,
    error,
    key_store,
    make_provider,
    pick_session,
    resolve_settings,
    run_cancellable,
    start_collecting,
)
from moa_cli.config import Settings
from moa_cli.engine import MoaRun
from moa_cli.errors import MoaError, StoreError
from moa_cli.events import MoaResult
from moa_cli.providers.base import Provider
from moa_cli.request import Message, MoaRequest
from moa_cli.ui.base import Renderer
from moa_cli.ui.sanitize import strip_controls

if TYPE_CHECKING:
    from moa_cli.store import SessionInfo, Store


@dataclass(frozen=True, slots=True)
class AskOptions:
    """``moa ask``'s command line, as parsed."""

    question: str | None = None
    flags: ModelFlags = field(default_factory=ModelFlags)
    continue_last: bool = False
    session: str | None = None
    json_output: bool = False
    show_reasoning: bool = False
    quiet: bool = False
    dry_run: bool = False
    no_stdin: bool = False


def renderer_factory(options: AskOptions, request: MoaRequest, run: MoaRun) -> Callable[[], Renderer]:
    """A function building the front end that fits stdout: JSON, Rich panels, or plain text."""
    out, err = sys.stdout, sys.stderr

    def make() -> Renderer:
        if options.json_output:
            from moa_cli.ui.json_output import JsonRenderer

            return JsonRenderer(out, err, quiet=options.quiet)
        if out.isatty():
            from rich.console import Console

            from moa_cli.ui.live import LiveRenderer

            return LiveRenderer(
                Console(file=out), run.result, layers=request.layers, show_reasoning=options.show_reasoning
            )
        from moa_cli.ui.plain import PlainRenderer

        return PlainRenderer(out, err, quiet=options.quiet, show_reasoning=options.show_reasoning)

    return make


def _open_store(options: AskOptions) -> Store | None:
    """The session store; without one, ``ask`` still answers (with a warning) unless a session was asked for."""
    from moa_cli.store import Store

    try:
        return Store.open()
    except StoreError as exc:
        if options.continue_last or options.session:
            raise
        _warn(options, f"history will not be saved: {exc}")
        return None


def _warn(options: AskOptions, message: str) -> None:
    if not options.quiet:
        sys.stderr.write(f"moa: warning: {strip_controls(message)}\n")


class _Recording:
    """Where this turn is stored: a session picked now (``-c``, ``--session``), or a new one made
    by :meth:`recorder` in a worker thread while the requests leave."""

    def __init__(self, options: AskOptions, settings: Settings) -> None:
        self.options = options
        self.settings = settings
        self.store: Store | None = None
        self.session: SessionInfo | None = None
        if options.continue_last or options.session:
            self.store = _open_store(options)  # raises, rather than None, when a session was asked for
            assert self.store is not None
            self.session = pick_session(self.store, continue_last=options.continue_last, name=options.session)

    def history(self) -> list[Message]:
        return self.store.history(self.session.id) if self.store and self.session else []

    def recorder(self, run: MoaRun) -> Renderer:
        """A recorder for ``run``, opening the store and making a session if none was picked."""
        from moa_cli.recorder import NoRecorder, TurnRecorder

        if self.store is None:
            self.store = _open_store(self.options)
        if self.store is not None and self.session is None:
            try:
                self.session = self.store.create_session()
            except StoreError as exc:
                _warn(self.options, f"this turn was not saved: {exc}")
        if self.store is None or self.session is None:
            return NoRecorder()
        return TurnRecorder(self.store, self.session.id, run.result, self.settings)

    def close(self) -> None:
        if self.store is not None:
            self.store.close()


def run_ask(options: AskOptions) -> int:
    """Run ``moa ask``; returns the exit code. Every failure is one line on stderr."""
    recording: _Recording | None = None
    try:
        question, warnings = read_question(options.question, None if options.no_stdin else piped_stdin())
        settings = resolve_settings(options.flags)
        if options.dry_run:
            return _dry_run(options, settings, question)
        provider = make_provider(settings)
        recording = _Recording(options, settings)
        request, dropped = build_request(settings, question, recording.history())
        if dropped:
            warnings.append(f"left out the {dropped} oldest turns of this session to fit the context window")
        for warning in warnings:
            sys.stderr.write(f"moa: warning: {warning}\n")
        run = MoaRun(request, provider)
        record = partial(recording.recorder, run)
        builders: list[Callable[[], Renderer]] = [record, renderer_factory(options, request, run)]
        start_collecting()
        result = run_cancellable(_ask(run, builders, provider))
    except MoaError as exc:
        error(exc)
        return exc.exit_code
    except Interrupted as stop:
        sys.stderr.write("moa: interrupted\n")
        return stop.exit_code
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_OK
    finally:
        if recording is not None:
            recording.close()
    if result.status != "complete":
        error(result.error or "the run did not complete")
        return EXIT_FAILED
    return EXIT_OK


async def _ask(run: MoaRun, builders: list[Callable[[], Renderer]], provider: Provider) -> MoaResult:
    try:
        return await drive(run, builders)
    finally:
        await provider.aclose()


def _dry_run(options: AskOptions, settings: Settings, question: str) -> int:
    """Print every request the run would send, and send none."""
    from moa_cli.plan import build_plan, plan_text
    from moa_cli.store import Store

    history: list[Message] = []
    if options.continue_last or options.session:
        with Store.open() as store:
            session = store.find_session(options.session) if options.session else store.last_session()
            history = store.history(session.id) if session else []
    request, _ = build_request(settings, question, history)
    plan = build_plan(request, settings.providers, key_store(), os.environ)
    sys.stdout.write(json.dumps(plan, indent=2, ensure_ascii=False) + "\n" if options.json_output else plan_text(plan))
    return EXIT_OK


def _silence_stdout() -> None:
    """After the reader of our pipe went away (``| head``), stop Python complaining at exit."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
