"""Runs one Mixture-of-Agents request for a command: input, settings, provider, front end, exit code."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

from moa_cli.cli.inputs import read_question
from moa_cli.config import Settings, load_config
from moa_cli.engine import MoaRun
from moa_cli.errors import MoaError
from moa_cli.events import Event, MoaResult
from moa_cli.providers.base import Provider
from moa_cli.request import MoaRequest
from moa_cli.ui.base import Renderer

EXIT_OK, EXIT_FAILED, EXIT_INTERRUPTED = 0, 1, 130


@dataclass(frozen=True, slots=True)
class AskOptions:
    """``moa ask``'s command line, as parsed."""

    question: str | None = None
    models: tuple[str, ...] | None = None
    aggregator: str | None = None
    layers: int | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    system: str | None = None
    preset: str | None = None
    ref_timeout: float | None = None
    json_output: bool = False
    show_reasoning: bool = False
    quiet: bool = False


def error(message: str, stream: TextIO | None = None) -> None:
    """Print ``moa: error: message`` on one line of stderr."""
    stream = stream or sys.stderr
    stream.write(f"moa: error: {' '.join(str(message).split())}\n")
    stream.flush()


def resolve_settings(options: AskOptions) -> Settings:
    """Defaults < config file < preset < flags."""
    return load_config().resolve(
        options.preset,
        references=options.models,
        aggregator=options.aggregator,
        layers=options.layers,
        temperature=options.temperature,
        max_tokens=options.max_tokens,
        system=options.system,
        ref_timeout=options.ref_timeout,
    )


def build_request(settings: Settings, question: str, history: tuple = ()) -> MoaRequest:
    """The engine's request for ``question`` under ``settings``."""
    return MoaRequest(
        question=question,
        references=settings.references,
        aggregator=settings.aggregator,
        history=history,
        layers=settings.layers,
        system=settings.system,
        temperature=settings.temperature,
        max_tokens=settings.max_tokens,
        ref_timeout=settings.ref_timeout,
        straggler_factor=settings.straggler_factor,
    )


def make_provider(settings: Settings) -> Provider:
    """The Groq provider, keyed from ``GROQ_API_KEY`` and pointed at ``GROQ_BASE_URL`` if set."""
    from moa_cli.providers.groq import GroqProvider

    return GroqProvider(
        api_key=os.environ.get("GROQ_API_KEY"),
        base_url=os.environ.get("GROQ_BASE_URL") or None,
        timeout=settings.timeout,
    )


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

        return PlainRenderer(out, err, quiet=options.quiet)

    return make


class _Feed:
    """Passes events to the front end, holding them back until it has been built."""

    def __init__(self) -> None:
        self.renderer: Renderer | None = None
        self.backlog: list[Event] = []

    def handle(self, event: Event) -> None:
        if self.renderer is None:
            self.backlog.append(event)
        else:
            self.renderer.handle(event)

    def ready(self, built: asyncio.Future[Renderer]) -> None:
        if self.renderer is not None or built.cancelled() or built.exception() is not None:
            return
        self.renderer = built.result()
        for event in self.backlog:
            self.renderer.handle(event)
        self.backlog.clear()


async def drive(run: MoaRun, make_renderer: Callable[[], Renderer], provider: Provider) -> MoaResult:
    """Feed ``run``'s events to a front end built off the event loop, so requests leave first."""
    feed = _Feed()
    built = asyncio.ensure_future(asyncio.to_thread(make_renderer))
    built.add_done_callback(feed.ready)
    try:
        async for event in run:
            feed.handle(event)
    finally:
        try:
            await asyncio.shield(built)
            feed.ready(built)  # the callback may not have run yet if the run ended first
        finally:
            if feed.renderer is not None:
                feed.renderer.close(run.result)
            await provider.aclose()
    return run.result


def run_ask(options: AskOptions) -> int:
    """Run ``moa ask``; returns the exit code. Every failure is one line on stderr."""
    try:
        stdin = None if sys.stdin is None or sys.stdin.isatty() else sys.stdin.buffer
        question, warnings = read_question(options.question, stdin)
        settings = resolve_settings(options)
        request = build_request(settings, question)
        provider = make_provider(settings)
    except MoaError as exc:
        error(str(exc))
        return exc.exit_code
    for warning in warnings:
        sys.stderr.write(f"moa: warning: {warning}\n")
    run = MoaRun(request, provider)
    try:
        result = asyncio.run(drive(run, renderer_factory(options, request, run), provider))
    except KeyboardInterrupt:
        sys.stderr.write("moa: interrupted\n")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_OK
    if result.status != "complete":
        error(result.error or "the run did not complete")
        return EXIT_FAILED
    return EXIT_OK


def _silence_stdout() -> None:
    """After the reader of our pipe went away (``| head``), stop Python complaining at exit."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
