"""What ``ask`` and ``chat`` share: settings, the request, the provider, sessions, and driving a turn."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from dataclasses import replace
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, TextIO, TypeVar

from moa_cli.cli.options import ModelFlags
from moa_cli.config import Config, Settings, load_config
from moa_cli.context import fit_history
from moa_cli.engine import MoaRun
from moa_cli.errors import MoaError, StoreError, UsageError
from moa_cli.events import Event, MoaResult
from moa_cli.providers.base import Provider
from moa_cli.request import Message, MoaRequest
from moa_cli.keys import KeyStore
from moa_cli.providers.router import ProviderRouter
from moa_cli.store import SessionInfo, Store, data_dir
from moa_cli.ui.base import Renderer
from moa_cli.ui.sanitize import strip_controls

T = TypeVar("T")
EXIT_OK, EXIT_FAILED = 0, 1
EXIT_FOR_SIGNAL = {signal.SIGINT: 130, signal.SIGTERM: 143}


class Interrupted(Exception):
    """The user stopped the run (Ctrl-C) or the process was told to stop (SIGTERM)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.exit_code = EXIT_FOR_SIGNAL.get(signal.Signals(signum), 130)


def error(message: object, stream: TextIO | None = None) -> None:
    """Print ``moa: error: message`` on one line of stderr."""
    stream = stream or sys.stderr
    stream.write(f"moa: error: {' '.join(strip_controls(str(message)).split())}\n")
    stream.flush()


def resolve_settings(flags: ModelFlags, config: Config | None = None) -> Settings:
    """Defaults < config file < preset < flags."""
    config = config or load_config()
    return config.resolve(
        flags.preset,
        references=flags.models,
        aggregator=flags.aggregator,
        layers=flags.layers,
        temperature=flags.temperature,
        max_tokens=flags.max_tokens,
        system=flags.system,
        ref_timeout=flags.ref_timeout,
        samples=flags.samples,
    )


def load_settings_or_exit() -> Settings:
    """The config file's settings, or one line on stderr and exit 2 (for commands outside a run)."""
    import typer

    try:
        return load_config().settings
    except MoaError as exc:
        error(exc)
        raise typer.Exit(exc.exit_code) from None


def build_request(settings: Settings, question: str, history: Sequence[Message] = ()) -> tuple[MoaRequest, int]:
    """The engine's request for ``question``, with as much history as fits; and the turns dropped."""
    request = MoaRequest(
        question=question,
        references=settings.references,
        aggregator=settings.aggregator,
        history=tuple(history),
        layers=settings.layers,
        system=settings.system,
        temperature=settings.temperature,
        max_tokens=settings.max_tokens,
        ref_timeout=settings.ref_timeout,
        straggler_factor=settings.straggler_factor,
        samples=settings.samples,
    )
    kept, dropped = fit_history(request, settings.context_window)
    return (replace(request, history=kept) if dropped else request), dropped


def key_store() -> KeyStore:
    """Where ``moa keys set`` keeps keys when there is no system keyring."""
    return KeyStore(data_dir() / "keys.json")


def make_provider(settings: Settings) -> ProviderRouter:
    """A router over every configured provider, checked now for the keys its models need."""
    router = ProviderRouter(settings.providers, key_store(), timeout=settings.timeout, env=os.environ)
    router.check(spec.model for spec in (*settings.references, settings.aggregator))
    return router


def pick_session(store: Store, *, continue_last: bool, name: str | None) -> SessionInfo | None:
    """The session named on the command line (created if new), the last one for ``-c``, else None."""
    if name:
        if found := store.find_session(name):
            return found
        try:
            return store.create_session(name)
        except StoreError:
            # Another moa may have created it since we looked: then it is ours too.
            if found := store.find_session(name):
                return found
            raise
    if continue_last:
        session = store.last_session()
        if session is None:
            raise UsageError("there is no session to continue yet; ask something first")
        return session
    return None


class _Feed:
    """Passes events to every consumer, holding them back from the front end until it is built."""

    def __init__(self, consumers: Sequence[Renderer]) -> None:
        self.consumers = list(consumers)
        self.renderer: Renderer | None = None
        self.backlog: list[Event] = []

    def handle(self, event: Event) -> None:
        for consumer in self.consumers:
            consumer.handle(event)
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


async def drive(run: MoaRun, make_renderer: Callable[[], Renderer], consumers: Sequence[Renderer] = ()) -> MoaResult:
    """Feed ``run``'s events to ``consumers`` and to a front end built off the event loop.

    Building the front end (importing Rich) happens in a worker thread while the requests leave.
    Every consumer is closed however the run ends, the recorders first: storing beats drawing.
    """
    feed = _Feed(consumers)
    built = asyncio.ensure_future(asyncio.to_thread(make_renderer))
    built.add_done_callback(feed.ready)
    try:
        async for event in run:
            feed.handle(event)
    finally:
        for consumer in consumers:
            consumer.close(run.result)
        await asyncio.shield(built)
        feed.ready(built)  # the callback may not have run yet if the run ended first
        if feed.renderer is not None:
            feed.renderer.close(run.result)
    return run.result


def run_cancellable(
    main: Coroutine[Any, Any, T], signals: Sequence[int] = (signal.SIGINT, signal.SIGTERM)
) -> T:
    """Run ``main`` on a new event loop; any of ``signals`` cancels it and raises :class:`Interrupted`."""
    with asyncio.Runner() as runner:
        loop = runner.get_loop()
        task = loop.create_task(main)
        received: list[int] = []

        def stop(signum: int) -> None:
            received.append(signum)
            task.cancel()

        for signum in signals:
            loop.add_signal_handler(signum, stop, signum)
        try:
            return loop.run_until_complete(task)
        except asyncio.CancelledError:
            raise Interrupted(received[0] if received else signal.SIGINT) from None
        finally:
            for signum in signals:
                loop.remove_signal_handler(signum)
