"""Runs ``moa ask``: read the question, resolve settings, stream one answer, store the turn."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from moa_cli.app.conversation import Conversation, pick_session
from moa_cli.app.providers import key_store, make_provider, provider_configs
from moa_cli.app.requests import build_request
from moa_cli.app.turn import Interrupted, run_cancellable
from moa_cli.cli.inputs import piped_stdin, read_question
from moa_cli.cli.output import error, say, warn
from moa_cli.cli.runtime import start_collecting
from moa_cli.config import Role, load_config
from moa_cli.context import estimate_tokens
from moa_cli.errors import ExitCode, StoreError, UsageError
from moa_cli.events import MoaResult
from moa_cli.settings import Settings
from moa_cli.store import Store
from moa_cli.ui.base import Renderer


@dataclass(frozen=True, slots=True)
class AskOptions:
    """``moa ask``'s command line, as parsed."""

    question: str | None = None
    files: tuple[str, ...] = ()
    role: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    preset: str | None = None
    continue_last: bool = False
    session: str | None = None
    json_output: bool = False
    show_reasoning: bool = False
    quiet: bool = False
    dry_run: bool = False
    no_stdin: bool = False

    @property
    def picks_session(self) -> bool:
        return self.continue_last or self.session is not None

    def check(self) -> None:
        """Refuse options that contradict each other."""
        if self.continue_last and self.session is not None:
            raise UsageError("--continue and --session contradict each other: -c continues the last session, "
                             "--session names one; give one of them")


def renderer_factory(options: AskOptions, layers: int) -> Callable[[], Renderer]:
    """A function building the front end that fits stdout: JSON, Rich panels, or plain text."""
    out, err = sys.stdout, sys.stderr

    def make() -> Renderer:
        if options.json_output:
            from moa_cli.ui.json_output import JsonRenderer

            return JsonRenderer(out, err, quiet=options.quiet)
        if out.isatty():
            from rich.console import Console

            from moa_cli.ui.live import LiveRenderer

            return LiveRenderer(Console(file=out), layers=layers, show_reasoning=options.show_reasoning)
        from moa_cli.ui.plain import PlainRenderer

        return PlainRenderer(out, err, quiet=options.quiet, show_reasoning=options.show_reasoning)

    return make


def run_ask(options: AskOptions) -> int:
    """Run ``moa ask``; returns the exit code. A :class:`MoaError` is the caller's to report."""
    from moa_cli.ui import stderr

    options.check()
    config = load_config()
    role = config.role(options.role) if options.role else None
    settings = config.resolve(options.preset, role=role, **options.settings)
    question, title, warnings = _question(options, role, settings)
    if options.dry_run:
        return _dry_run(options, settings, question)
    provider = make_provider(settings)
    if stderr.stdout_was_closed:
        warnings.append("stdout is closed: the answer goes to the session store only (moa sessions show)")
    store = _open_store(options)
    try:
        session = (
            pick_session(store, continue_last=options.continue_last, name=options.session, warn=_warner(options))
            if store
            else None
        )
        conversation = Conversation(settings, provider, store, session, warn=_warner(options))
        turn = conversation.prepare(question, title=title)
        if turn.dropped:
            warnings.append(f"left out {_oldest(turn.dropped)} of this session to fit the context window")
        for warning in warnings:
            warn(warning)
        start_collecting()
        result = run_cancellable(_ask(turn.drive, renderer_factory(options, settings.layers), provider))
    except Interrupted as stop:
        say("interrupted")
        return stop.exit_code
    except BrokenPipeError:
        _silence_stdout()
        return ExitCode.OK
    finally:
        if store is not None:
            store.close()
    if result.status != "complete":
        error(result.error or "the run did not complete")
        return ExitCode.FAILED
    return ExitCode.OK


def _question(options: AskOptions, role: Role | None, settings: Settings) -> tuple[str, str | None, list[str]]:
    """The question as sent (files, then stdin, then the argument, through the role's template),
    the session's title when the argument is not the whole of it, and warnings about the input."""
    from moa_cli.app.files import check_fits, read_files, with_files
    from moa_cli.app.requests import room_for_question

    files = read_files(options.files)
    try:
        question, warnings = read_question(options.question, None if options.no_stdin else piped_stdin())
    except UsageError:
        if files:
            raise UsageError('-f needs a question too: moa ask -f FILE "what to do with it"') from None
        raise
    argument = (options.question or "").strip()
    if role is not None:
        question = role.apply(question)
    if files:
        check_fits(files, room_for_question(settings) - estimate_tokens(question))
        question = with_files(files, question)
    return question, (argument if argument and argument != question else None), warnings


async def _ask(drive: Callable[..., Any], build: Callable[[], Renderer], provider: Any) -> MoaResult:
    try:
        return await drive([build])
    finally:
        await provider.aclose()


def _oldest(count: int) -> str:
    return "the oldest turn" if count == 1 else f"the {count} oldest turns"


def _open_store(options: AskOptions) -> Store | None:
    """The session store; without one, ``ask`` still answers (with a warning) unless a session was asked for."""
    try:
        return Store.open()
    except StoreError as exc:
        if options.picks_session:
            raise
        _warner(options)(f"history will not be saved: {exc}")
        return None


def _warner(options: AskOptions) -> Callable[[str], None]:
    return (lambda message: None) if options.quiet else warn


def _dry_run(options: AskOptions, settings: Settings, question: str) -> int:
    """Print every request the run would send, and send none."""
    from moa_cli.plan import build_plan, plan_text

    history = []
    if options.picks_session:
        with Store.open(write=False) as store:
            session = store.find_session(options.session) if options.session else store.last_session()
            history = store.history(session.id) if session else []
    request, _ = build_request(settings, question, history)
    plan = build_plan(request, provider_configs(settings), key_store(), os.environ)
    sys.stdout.write(json.dumps(plan, indent=2, ensure_ascii=False) + "\n" if options.json_output else plan_text(plan))
    return ExitCode.OK


def _silence_stdout() -> None:
    """After the reader of our pipe went away (``| head``), stop Python complaining at exit."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
