"""What ``ask`` and ``chat`` share: settings, the request, the provider, sessions, and driving a turn."""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import sys
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import replace
from functools import partial
from typing import TYPE_CHECKING, Any, TextIO, TypeVar

from moa_cli.cli.options import ModelFlags
from moa_cli.config import Config, Settings, load_config
from moa_cli.context import fit_history
from moa_cli.engine import MoaRun
from moa_cli.errors import MoaError, StoreError, UsageError
from moa_cli.events import Event, MoaResult
from moa_cli.keys import KeyStore
from moa_cli.paths import data_dir
from moa_cli.providers.router import ProviderRouter
from moa_cli.request import Message, MoaRequest
from moa_cli.ui.base import Renderer
from moa_cli.ui.sanitize import strip_controls

if TYPE_CHECKING:
    from moa_cli.store import SessionInfo, Store

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
    """Passes events to consumers that are built while the run goes on.

    Each consumer, once built, first gets every event it missed, then the rest as they come.
    """

    def __init__(self, builds: Sequence[asyncio.Future[Renderer]]) -> None:
        self.builds = builds
        self.ready: dict[int, Renderer] = {}
        self.missed: list[Event] = []
        for position, build in enumerate(builds):
            build.add_done_callback(partial(self.arrived, position))

    def handle(self, event: Event) -> None:
        for consumer in self.ready.values():
            consumer.handle(event)
        if len(self.ready) < len(self.builds):
            self.missed.append(event)

    def arrived(self, position: int, build: asyncio.Future[Renderer]) -> None:
        if position in self.ready or build.cancelled() or build.exception() is not None:
            return
        consumer = self.ready[position] = build.result()
        for event in self.missed:
            consumer.handle(event)
        if len(self.ready) == len(self.builds):
            self.missed.clear()

    def consumers(self) -> list[Renderer]:
        """Every consumer built, in the order given: the order they are closed in."""
        return [self.ready[position] for position in sorted(self.ready)]


async def drive(run: MoaRun, builders: Sequence[Callable[[], Renderer]]) -> MoaResult:
    """Feed ``run``'s events to the consumers ``builders`` make, each built in a worker thread.

    Building a front end imports Rich, and a recorder opens the database: done off the event
    loop, both overlap with the requests leaving instead of delaying them. Every consumer is
    closed however the run ends, in the order given (recorders first: storing beats drawing).
    """
    builds = [asyncio.ensure_future(asyncio.to_thread(build)) for build in builders]
    feed = _Feed(builds)
    try:
        async for event in run:
            feed.handle(event)
    finally:
        everything = asyncio.gather(*builds, return_exceptions=True)
        try:
            await asyncio.shield(everything)
        except asyncio.CancelledError:  # a second Ctrl-C: close what is built, then stop
            pass
        for position, build in enumerate(builds):
            if build.done():
                feed.arrived(position, build)  # its callback may not have run if the run ended first
        for consumer in feed.consumers():
            consumer.close(run.result)
    for build in builds:
        if build.done() and not build.cancelled() and (failure := build.exception()) is not None:
            raise failure  # a front end that could not be built: a bug, and not to be silent
    return run.result


def start_collecting() -> None:
    """Turn garbage collection back on, leaving out the objects made so far (modules, mostly):
    they live as long as the process, and a full collection over them costs milliseconds."""
    gc.freeze()
    gc.enable()


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
